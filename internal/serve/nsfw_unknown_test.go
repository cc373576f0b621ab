package serve_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
)

// When fal's output flags no image readably (has_nsfw_concepts missing,
// null, short or not booleans: the simulator draws a shape per request),
// the generations still complete with their images, whose NSFW flags are
// unknown: NULL in Postgres and null in the API, never clean, and so are
// the generations' has_nsfw and nsfw_image_count; has_nsfw=false does not
// list them.
func TestGenerationNSFWUnknown(t *testing.T) {
	t.Parallel()
	b := setupWithSimulator(t, &falsim.Config{Seed: 3, NSFWUnknownRate: 1})

	const n = 4 // seed 3 draws each of the four shapes in its first four requests
	ids := make([]string, n)
	shapes := map[string]bool{} // of has_nsfw_concepts in the webhooks Easel received
	for i := range ids {
		ids[i] = b.enqueue(t, exampleInput).ID
	}
	for _, id := range ids {
		g := b.awaitTerminal(t, id)
		require.Equal(t, "completed", g.Status)
		require.Len(t, g.Images, 2)

		var hasNSFWNull, nsfwCountNull bool
		var imageCount int
		require.NoError(t, b.pool.QueryRow(b.ctx,
			`SELECT has_nsfw IS NULL, nsfw_image_count IS NULL, image_count FROM generations WHERE id = $1`, id).
			Scan(&hasNSFWNull, &nsfwCountNull, &imageCount))
		require.True(t, hasNSFWNull, "has_nsfw of %s", id)
		require.True(t, nsfwCountNull, "nsfw_image_count of %s", id)
		require.Equal(t, 2, imageCount)
		var images, unknown int
		require.NoError(t, b.pool.QueryRow(b.ctx,
			`SELECT count(*), count(*) FILTER (WHERE nsfw IS NULL) FROM generation_images WHERE generation_id = $1`, id).
			Scan(&images, &unknown))
		require.Equal(t, 2, images)
		require.Equal(t, images, unknown, "every image's flag of %s is unknown", id)

		status, body := b.do(t, http.MethodGet, "/v1/generations/"+id, nil, nil)
		require.Equal(t, http.StatusOK, status, string(body))
		var resource struct {
			HasNSFW json.RawMessage `json:"has_nsfw"`
			Images  []struct {
				NSFW json.RawMessage `json:"nsfw"`
			} `json:"images"`
		}
		require.NoError(t, json.Unmarshal(body, &resource))
		require.Equal(t, "null", string(resource.HasNSFW), string(body))
		require.Len(t, resource.Images, 2)
		for _, im := range resource.Images {
			require.Equal(t, "null", string(im.NSFW), string(body))
		}

		for _, e := range b.events(t, id) {
			var delivered struct {
				Payload map[string]json.RawMessage `json:"payload"`
			}
			require.NoError(t, json.Unmarshal(e.body, &delivered))
			shapes[nsfwConceptsShape(t, delivered.Payload)] = true
		}
	}
	require.Len(t, shapes, 4, "every shape was drilled: %v", shapes)

	for _, query := range []string{"has_nsfw=false", "has_nsfw=true"} {
		status, body := b.do(t, http.MethodGet, "/v1/generations?"+query, nil, nil)
		require.Equal(t, http.StatusOK, status, string(body))
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(body, &page))
		require.Empty(t, page.Data, "%s lists no generation whose flags are unknown", query)
	}
}

// nsfwConceptsShape describes how payload, a model output, gives
// has_nsfw_concepts: missing, null, or its length and the type of its
// first entry.
func nsfwConceptsShape(t *testing.T, payload map[string]json.RawMessage) string {
	t.Helper()
	raw, ok := payload["has_nsfw_concepts"]
	switch {
	case !ok:
		return "missing"
	case string(raw) == "null":
		return "null"
	}
	var entries []any
	require.NoError(t, json.Unmarshal(raw, &entries), string(raw))
	if len(entries) == 0 {
		return "empty"
	}
	return fmt.Sprintf("%d entries of %T", len(entries), entries[0])
}
