package falsim_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
)

// With NSFWUnknownRate, has_nsfw_concepts comes in each of the shapes
// from which Easel's decoder reads no image's flag, drawn per submission
// under the seed, in the result and the webhook alike; the images are
// still there, blanked as their flags would have said.
func TestNSFWUnknownRate(t *testing.T) {
	t.Parallel()
	const input = `{"image_prompt_1": {}, "num_images": 2, "aspect_ratio": "64x64"}`
	const submissions = 16

	for _, tt := range []struct {
		name       string
		rate       float64
		wantShapes []string // every shape seen, sorted
		wantKnown  bool     // Easel reads every image's flag
	}{
		{name: "off", rate: 0, wantShapes: []string{"booleans"}, wantKnown: true},
		{name: "always", rate: 1, wantShapes: []string{"null", "omitted", "short", "strings"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// run submits one request after another to a fresh simulator
			// and returns the shape of each one's flags.
			run := func() []string {
				b := setup(t, falsim.Config{Seed: 5, NSFWRate: 1, NSFWUnknownRate: tt.rate}, setupOpts{})
				var shapes []string
				for range submissions {
					sr := b.submitWithWebhook(t, input)
					b.awaitCompleted(t, sr.StatusURL)
					resp, result := b.do(t, http.MethodGet, sr.ResponseURL, "")
					require.Equal(t, http.StatusOK, resp.StatusCode, string(result))
					shape := nsfwFlagsShape(t, result, 2)

					d := b.nextDelivery(t)
					require.Equal(t, sr.RequestID, d.header.Get("X-Fal-Webhook-Request-Id"))
					payload := decodeWebhook(t, d).Payload
					require.Equal(t, shape, nsfwFlagsShape(t, payload, 2), "the webhook carries the result's flags")

					for _, raw := range [][]byte{result, payload} {
						out, err := fal.DecodeOutput(raw)
						require.NoError(t, err, "the output is still recorded")
						require.Len(t, out.Images, 2)
						for i := range out.Images {
							if tt.wantKnown {
								require.NotNil(t, out.NSFW(i), "image %d", i)
								require.True(t, *out.NSFW(i), "image %d", i)
							} else {
								require.Nil(t, out.NSFW(i), "image %d of flags %s", i, shape)
							}
						}
					}
					out, err := fal.DecodeOutput(result)
					require.NoError(t, err)
					resp, body := doRequest(t, http.MethodGet, out.Images[0].URL, "", "")
					require.Equal(t, http.StatusOK, resp.StatusCode)
					_, _, black := decodeImage(t, "jpeg", body)
					require.True(t, black, "blanked by the safety checker, flag or none")
					shapes = append(shapes, shape)
				}
				return shapes
			}

			shapes := run()
			seen := slices.Compact(slices.Sorted(slices.Values(shapes)))
			require.Equal(t, tt.wantShapes, seen, "seed 5 draws every shape")
			require.Equal(t, shapes, run(), "the same seed draws the same shapes")
		})
	}
}

// nsfwFlagsShape names how output, a model output with images images,
// gives has_nsfw_concepts: "booleans", one per image, or the shape that
// hides them ("omitted", "null", "short", "strings").
func nsfwFlagsShape(t *testing.T, output []byte, images int) string {
	t.Helper()
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(output, &fields), string(output))
	raw, ok := fields["has_nsfw_concepts"]
	switch {
	case !ok:
		return "omitted"
	case string(raw) == "null":
		return "null"
	}
	var entries []any
	require.NoError(t, json.Unmarshal(raw, &entries), string(raw))
	kinds := map[string]bool{}
	for _, e := range entries {
		switch v := e.(type) {
		case bool:
			kinds["bool"] = true
		case string:
			require.Contains(t, []string{"true", "false"}, v)
			kinds["string"] = true
		default:
			require.Failf(t, "unexpected has_nsfw_concepts entry", "%s", raw)
		}
	}
	switch {
	case len(entries) == images-1 && !kinds["string"]:
		return "short"
	case len(entries) == images && kinds["bool"] && !kinds["string"]:
		return "booleans"
	case len(entries) == images && kinds["string"] && !kinds["bool"]:
		return "strings"
	}
	require.Failf(t, "unexpected has_nsfw_concepts", "%s for %d images", raw, images)
	return ""
}
