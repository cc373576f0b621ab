package store_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// A generation's JSON columns read back as Postgres's jsonb text, byte for
// byte, and a NULL one as nil, never as the JSON literal null.
func TestGenerationJSONColumns(t *testing.T) {
	t.Parallel()
	b := setup(t)

	inserted, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID: uuid.Must(uuid.NewV7()), Client: "tests", EndpointID: "fal-ai/fooocus/image-prompt",
		Input:    json.RawMessage(`{"prompt":"a cat",  "loras":[{"scale":1.50}]}`),
		Metadata: json.RawMessage(`{"order": 1042, "b": null}`),
		Priority: 2,
	})
	require.NoError(t, err)
	got, err := store.GetGeneration(b.ctx, b.pool, inserted.ID)
	require.NoError(t, err)
	for _, g := range []*store.Generation{inserted, got} {
		require.Equal(t, `{"loras": [{"scale": 1.50}], "prompt": "a cat"}`, string(g.Input))
		require.Equal(t, `{"b": null, "order": 1042}`, string(g.Metadata))
		require.Nil(t, g.Timings, "timings is NULL until the generation finishes")
	}

	_, err = store.MarkSubmitting(b.ctx, b.pool, got.ID)
	require.NoError(t, err)
	require.True(t, b.complete(t, got.ID, store.Completion{FalRequestID: "req-1", Timings: json.RawMessage(`{"inference":3.5}`)}))
	got, err = store.GetGeneration(b.ctx, b.pool, got.ID)
	require.NoError(t, err)
	require.Equal(t, `{"inference": 3.5}`, string(got.Timings))
}
