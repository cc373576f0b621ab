package resource_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/resource"
	"github.com/easelhq/easel/store"
)

// The detail is the resource with result_source beside its fields: null
// when no result of fal's finished the generation, never left out.
func TestGenerationDetail(t *testing.T) {
	t.Parallel()
	finished := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	g := &store.Generation{ID: uuid.New(), Status: store.StatusCompleted, Input: json.RawMessage(`{}`),
		Metadata: json.RawMessage(`{}`), FinishedAt: &finished}
	for _, tt := range []struct {
		origin *store.ResultOrigin
		want   any
	}{
		{nil, nil},
		{&store.ResultOrigin{Source: store.ResultSourcePoll, At: finished}, "poll"},
		{&store.ResultOrigin{Source: store.ResultSourceWebhook, At: finished}, "webhook"},
	} {
		body, err := json.Marshal(resource.NewGenerationDetail(g, nil, tt.origin))
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, json.Unmarshal(body, &got))
		require.Contains(t, got, "result_source")
		require.Equal(t, tt.want, got["result_source"])
		require.Equal(t, g.ID.String(), got["id"], "the resource's own fields are all there")
		require.Equal(t, "completed", got["status"])
		require.Contains(t, got, "fal_status")
	}
}
