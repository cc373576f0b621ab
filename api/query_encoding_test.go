package api_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/store"
)

// TestQueryNotURLEncoded: a query string url.ParseQuery refuses is a 422 on
// every endpoint, naming the parameter where it can. Read as net/url's
// Values, such a pair was dropped: a list filtered by it listed every
// client's generations, a wait did not wait. Nothing is changed.
func TestQueryNotURLEncoded(t *testing.T) {
	t.Parallel()
	b := setupCancel(t, falsim.Config{}, true)
	gen := b.queued(t)
	id := gen.ID.String()

	tests := []struct {
		name         string
		method, path string
		body         string
		wantFields   []string
		wantInMsg    string // of the last detail
	}{
		{name: "list client", method: http.MethodGet, path: "/v1/generations?client=nobody%zz",
			wantFields: []string{"client"}, wantInMsg: `invalid URL escape "%zz" in this parameter's value`},
		{name: "list semicolon", method: http.MethodGet, path: "/v1/generations?status=queued;status=failed",
			wantFields: []string{"status"}, wantInMsg: "';' does not separate parameters"},
		{name: "list limit", method: http.MethodGet, path: "/v1/generations?limit=%zz",
			wantFields: []string{"limit"}, wantInMsg: "not valid URL encoding"},
		{name: "list name not encoded", method: http.MethodGet, path: "/v1/generations?status=queued&a%zz=1",
			wantFields: []string{"query"}, wantInMsg: `in the parameter name "a%zz"`},
		{name: "list every bad pair", method: http.MethodGet, path: "/v1/generations?client=%&status=failed&=%zz&since=%z",
			wantFields: []string{"client", "query", "since"}, wantInMsg: `invalid URL escape "%z"`},
		{name: "wait", method: http.MethodGet, path: "/v1/generations/" + id + "?wait=30s%zz",
			wantFields: []string{"wait"}, wantInMsg: "not valid URL encoding"},
		{name: "get unknown generation", method: http.MethodGet, path: "/v1/generations/" + uuid.NewString() + "?wait=1s;",
			wantFields: []string{"wait"}, wantInMsg: "';' does not separate parameters"},
		{name: "cancel", method: http.MethodPost, path: "/v1/generations/" + id + "/cancel?force=%zz",
			wantFields: []string{"force"}, wantInMsg: "not valid URL encoding"},
		{name: "create", method: http.MethodPost, path: "/v1/generations?dry_run=%zz", body: falExampleInput,
			wantFields: []string{"dry_run"}, wantInMsg: "not valid URL encoding"},
		{name: "create with an invalid body", method: http.MethodPost, path: "/v1/generations?%zz", body: `{"prompt":1}`,
			wantFields: []string{"prompt", "image_prompt_1", "query"}, wantInMsg: "not valid URL encoding"},
	}
	// The group returns once its parallel subtests have, so that what
	// follows checks what they left.
	t.Run("refused", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				var body []byte
				if tt.body != "" {
					body = []byte(tt.body)
				}
				resp := b.do(t, tt.method, tt.path, jsonHeader(), body)
				require.Equal(t, tt.wantFields, invalidFields(t, resp), string(resp.body))
				details := resp.errorBody(t).Details
				require.Contains(t, details[len(details)-1].Message, tt.wantInMsg)
			})
		}
	})

	got, err := store.GetGeneration(b.ctx, b.pool, gen.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusQueued, got.Status, "a refused cancel cancelled")
	generations, jobs := b.counts(t)
	require.Equal(t, 1, generations, "a refused enqueue stored a generation")
	require.Equal(t, 1, jobs)

	// The same filters, encoded, still list: what is refused is the encoding.
	resp := b.do(t, http.MethodGet, "/v1/generations?client=nobody%25zz&status=queued,failed", nil, nil)
	require.Equal(t, http.StatusOK, resp.status, string(resp.body))
	require.JSONEq(t, `{"data":[],"next_cursor":null}`, string(resp.body))
}
