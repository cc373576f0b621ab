package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// An image whose NSFW flag fal did not send is "nsfw": null, never false,
// and so is the generation's has_nsfw while no image is flagged: the
// answer, checked against openapi.yaml, says unknown rather than clean.
func TestUnknownNSFWIsNull(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	unknown := b.seed(t, "alpha", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), store.StatusQueued, false)
	require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		_, err := store.Complete(b.ctx, tx, unknown, store.Completion{Images: []store.Image{
			{Position: 0, URL: "https://x/0.png"},
			{Position: 1, URL: "https://x/1.png", NSFW: new(false)},
		}})
		return err
	}))

	resp := b.get(t, b.ctx, "/v1/generations/"+unknown.String())
	require.Equal(t, http.StatusOK, resp.status)
	var g struct {
		HasNSFW json.RawMessage `json:"has_nsfw"`
		Images  []struct {
			NSFW json.RawMessage `json:"nsfw"`
		} `json:"images"`
	}
	require.NoError(t, json.Unmarshal(resp.body, &g))
	require.JSONEq(t, `null`, string(g.HasNSFW))
	require.Len(t, g.Images, 2)
	require.JSONEq(t, `null`, string(g.Images[0].NSFW))
	require.JSONEq(t, `false`, string(g.Images[1].NSFW))

	for _, query := range []string{"has_nsfw=true", "has_nsfw=false"} {
		require.Empty(t, b.list(t, query).Data, "%s: an unknown has_nsfw matches neither", query)
	}
}
