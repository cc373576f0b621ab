package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzCreateGeneration drives POST /v1/generations, from the raw request to
// the database, with arbitrary bodies, content types and idempotency keys.
// Whatever arrives, the answer is one of the documented statuses with a body
// that matches openapi.yaml: never a 500, never a panic.
func FuzzCreateGeneration(f *testing.F) {
	for _, seed := range []struct{ contentType, key, body string }{
		{"application/json", "", falExampleInput},
		{"application/json; charset=utf-8", "k1", withImagePrompt(`"priority":1,"metadata":{"a":[1,{"b":null}]},"run_at":"2030-01-02T15:04:05Z","callback_url":"https://example.com/cb"`)},
		{"application/json", "k1", withImagePrompt(`"priority":2`)},
		{"application/json", "", withImagePrompt(`"seed":17454220438242315174,"styles":[],"loras":[],"image_prompt_2":{"image_url":"data:image/png;base64,iVBORw0KGgo="}`)},
		{"application/json", "", `{"num_images":9,"image_prompt_1":{"image_url":"x","weight":3},"priority":7,"metadata":[],"colour":"red","prompt":"a","prompt":"b"}`},
		{"application/json", "", `{"prompt":"a"`},
		{"application/json", "", `{"run_at":"2030-13-45T99:99:99Z","callback_url":"http://","priority":1e400}`},
		{"application/json", "k2", withImagePrompt(`"metadata":{"a":{"b":"\ud800","c":"\u0000"},"a":[1e400,0e-99999,1.50e1,9007199254740993]}`)},
		{"application/json", "k2", withImagePrompt(`"prompt":"a\ud800b","metadata":{"é":"\u00e9\ud83d\ude00",  "n" : -0.0e-3}`)},
		{"application/json", "", `[]`},
		{"application/json", "", ``},
		{"text/plain", "", falExampleInput},
		{"", "", ""},
	} {
		f.Add(seed.contentType, seed.key, []byte(seed.body))
	}
	b := setup(f)

	f.Fuzz(func(t *testing.T, contentType, idempotencyKey string, body []byte) {
		header := http.Header{"Content-Type": {contentType}}
		if idempotencyKey != "" {
			header.Set("Idempotency-Key", idempotencyKey)
		}
		resp := b.serve(http.MethodPost, "/v1/generations", header, body)
		require.Contains(t, []int{http.StatusAccepted, http.StatusOK, http.StatusBadRequest, http.StatusConflict,
			http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity}, resp.status, string(resp.body))
		b.checkResponse(t, b.validationInput(t, http.MethodPost, "/v1/generations", header, body), resp)

		if resp.status >= 400 {
			e := resp.errorBody(t)
			require.NotEmpty(t, e.Code)
			require.NotEmpty(t, e.Message)
			if resp.status == http.StatusUnprocessableEntity {
				require.NotEmpty(t, e.Details)
			}
			return
		}
		var g generation
		require.NoError(t, json.Unmarshal(resp.body, &g))
		require.Equal(t, "queued", g.Status)
	})
}
