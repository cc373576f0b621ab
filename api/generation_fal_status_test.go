package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// GET /v1/generations/{id} shows what fal last said about the request when
// Easel asked, as openapi.yaml documents it: null until then, then fal's
// status, the position with IN_QUEUE, and when it was recorded; the list
// shows the same.
func TestGetGenerationShowsFalStatus(t *testing.T) {
	t.Parallel()

	type falStatus struct {
		Status      string     `json:"status"`
		FalStatus   *string    `json:"fal_status"`
		Position    *int       `json:"fal_queue_position"`
		FalStatusAt *time.Time `json:"fal_status_at"`
	}
	position := 3
	for _, tt := range []struct {
		name         string
		status       string // "" records none
		position     *int
		wantPosition *int
	}{
		{name: "not asked yet"},
		{name: "queued at fal", status: "IN_QUEUE", position: &position, wantPosition: &position},
		{name: "running at fal", status: "IN_PROGRESS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.enqueue(t, jsonHeader(), falExampleInput, http.StatusAccepted)
			id := uuid.MustParse(g.ID)
			_, err := store.MarkSubmitting(b.ctx, b.pool, id)
			require.NoError(t, err)
			_, err = store.RecordSubmitted(b.ctx, b.pool, id, store.Submission{RequestID: "req-1"})
			require.NoError(t, err)
			if tt.status != "" {
				written, err := store.RecordFalStatus(b.ctx, b.pool, id, "req-1", tt.status, tt.position)
				require.NoError(t, err)
				require.True(t, written)
			}

			resp := b.do(t, http.MethodGet, "/v1/generations/"+g.ID, nil, nil)
			require.Equal(t, http.StatusOK, resp.status, string(resp.body))
			var got falStatus
			require.NoError(t, json.Unmarshal(resp.body, &got))
			var fields map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(resp.body, &fields))
			for _, name := range []string{"fal_status", "fal_queue_position", "fal_status_at"} {
				require.Contains(t, fields, name, "always present, null when unknown")
			}
			require.Equal(t, "submitted", got.Status)
			require.Equal(t, tt.wantPosition, got.Position)
			if tt.status == "" {
				require.Nil(t, got.FalStatus)
				require.Nil(t, got.FalStatusAt)
			} else {
				require.Equal(t, tt.status, *got.FalStatus)
				require.NotNil(t, got.FalStatusAt)
				require.WithinDuration(t, time.Now(), *got.FalStatusAt, time.Minute)
			}

			list := b.do(t, http.MethodGet, "/v1/generations", nil, nil)
			require.Equal(t, http.StatusOK, list.status, string(list.body))
			var page struct {
				Data []falStatus `json:"data"`
			}
			require.NoError(t, json.Unmarshal(list.body, &page))
			require.Len(t, page.Data, 1)
			require.Equal(t, got.FalStatus, page.Data[0].FalStatus)
			require.Equal(t, got.Position, page.Data[0].Position)
		})
	}
}
