package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
)

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	b, err := setupWith(t, setupOpts{})
	require.NoError(t, err)
	billing, _, err := api.CreateKey(b.ctx, b.pool, "billing")
	require.NoError(t, err)
	shipping, _, err := api.CreateKey(b.ctx, b.pool, "shipping")
	require.NoError(t, err)

	body := withImagePrompt(`"prompt":"a red bicycle","metadata":{"order":1}`)
	as := func(key string) http.Header {
		return jsonHeader(echo.HeaderAuthorization, bearer(key), "Idempotency-Key", "order-1")
	}

	first := b.enqueue(t, as(billing), body, http.StatusAccepted)

	// A retry answers 200 with the same generation and enqueues nothing.
	replay := b.enqueue(t, as(billing), body, http.StatusOK)
	require.Equal(t, first.ID, replay.ID)
	// So does the same request spelled differently: a default made
	// explicit, fields reordered.
	respelled := `{"metadata":{"order":1},"priority":2,"image_prompt_1":{"image_url":"` + pikachuURL + `","type":"ImagePrompt"},"prompt":"a red bicycle"}`
	require.Equal(t, first.ID, b.enqueue(t, as(billing), respelled, http.StatusOK).ID)
	generations, jobs := b.counts(t)
	require.Equal(t, 1, generations)
	require.Equal(t, 1, jobs)

	// The same key with a different request is a conflict.
	for _, different := range []string{
		withImagePrompt(`"prompt":"a blue bicycle","metadata":{"order":1}`),
		withImagePrompt(`"prompt":"a red bicycle","metadata":{"order":2}`),
		withImagePrompt(`"prompt":"a red bicycle","metadata":{"order":1},"priority":1`),
	} {
		resp := b.do(t, http.MethodPost, "/v1/generations", as(billing), []byte(different))
		require.Equal(t, http.StatusConflict, resp.status, string(resp.body))
		require.Equal(t, "idempotency_conflict", resp.errorBody(t).Code)
	}

	// Keys are scoped per client.
	other := b.enqueue(t, as(shipping), body, http.StatusAccepted)
	require.NotEqual(t, first.ID, other.ID)
	require.Equal(t, "shipping", other.Client)

	// Without a key, the same request is a new generation each time.
	require.NotEqual(t, first.ID, b.enqueue(t, jsonHeader(echo.HeaderAuthorization, bearer(billing)), body, http.StatusAccepted).ID)

	generations, jobs = b.counts(t)
	require.Equal(t, 3, generations)
	require.Equal(t, 3, jobs)
}

// TestIdempotencyKeyConcurrent sends the same request with the same key from
// many goroutines at once: exactly one generation and one job result.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t)

	const n = 10
	header := jsonHeader("Idempotency-Key", "burst")
	responses := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			responses[i] = b.serve(http.MethodPost, "/v1/generations", header, []byte(falExampleInput))
		})
	}
	close(start)
	wg.Wait()

	statuses := map[int]int{}
	ids := map[string]bool{}
	for _, resp := range responses {
		b.checkOpenAPI(t, http.MethodPost, "/v1/generations", header, []byte(falExampleInput), resp)
		statuses[resp.status]++
		var g generation
		require.NoError(t, json.Unmarshal(resp.body, &g), string(resp.body))
		ids[g.ID] = true
	}
	require.Equal(t, map[int]int{http.StatusAccepted: 1, http.StatusOK: n - 1}, statuses)
	require.Len(t, ids, 1)
	generations, jobs := b.counts(t)
	require.Equal(t, 1, generations)
	require.Equal(t, 1, jobs)
}

// TestIdempotencyKeyMetadata: a retry replays when its metadata is stored
// as the first request's, whatever its key order, whitespace or escapes,
// and is a conflict when it would be stored differently, down to the last
// digit of a number no float64 holds.
func TestIdempotencyKeyMetadata(t *testing.T) {
	t.Parallel()
	b := setup(t)

	tests := []struct {
		name          string
		first, second string // the metadata field's value
		wantStatus    int    // of the second request
	}{
		{name: "integers beyond float64 precision", first: `{"order_id":9007199254740993}`, second: `{"order_id":9007199254740992}`, wantStatus: http.StatusConflict},
		{name: "trailing zero", first: `{"amount":1.0}`, second: `{"amount":1}`, wantStatus: http.StatusConflict},
		{name: "long decimals", first: `{"x":0.10000000000000000001}`, second: `{"x":0.1}`, wantStatus: http.StatusConflict},
		{name: "same digits", first: `{"order_id":9007199254740993}`, second: `{"order_id":9007199254740993}`, wantStatus: http.StatusOK},
		{name: "exponent spelled out", first: `{"x":1.5E2}`, second: `{"x":150}`, wantStatus: http.StatusOK},
		{name: "key order, whitespace and escapes", first: `{"a":"\u00e9","b":[1, 2]}`, second: "{\"b\" :[1,2],\n \"a\":\"é\"}", wantStatus: http.StatusOK},
		{name: "null and absent", first: `null`, wantStatus: http.StatusOK},
	}
	t.Cleanup(func() {
		// After the subtests: one generation each.
		generations, _ := b.counts(t)
		require.Equal(t, len(tests), generations)
	})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			header := jsonHeader("Idempotency-Key", fmt.Sprintf("metadata-%d", i))
			body := func(metadata string) string {
				if metadata == "" {
					return withImagePrompt("")
				}
				return withImagePrompt(`"metadata":` + metadata)
			}
			first := b.enqueue(t, header, body(tt.first), http.StatusAccepted)
			resp := b.do(t, http.MethodPost, "/v1/generations", header, []byte(body(tt.second)))
			require.Equal(t, tt.wantStatus, resp.status, string(resp.body))
			if tt.wantStatus == http.StatusOK {
				var g generation
				require.NoError(t, json.Unmarshal(resp.body, &g))
				require.Equal(t, first.ID, g.ID)
			} else {
				require.Equal(t, "idempotency_conflict", resp.errorBody(t).Code)
			}
		})
	}
}
