package store_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/store"
)

type testBundle struct {
	ctx  context.Context
	pool *pgxpool.Pool
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return &testBundle{ctx: context.Background(), pool: dbtest.Pool(t)}
}

func (b *testBundle) insert(t *testing.T, key string) *store.Generation {
	t.Helper()
	g, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID:             uuid.Must(uuid.NewV7()),
		Client:         "tests",
		EndpointID:     "fal-ai/fooocus/image-prompt",
		Input:          json.RawMessage(`{"prompt":"a cat"}`),
		Priority:       2,
		IdempotencyKey: key,
		Seed:           "17454220438242315174",
	})
	require.NoError(t, err)
	return g
}

func (b *testBundle) complete(t *testing.T, id uuid.UUID, c store.Completion) bool {
	t.Helper()
	var changed bool
	require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		var err error
		changed, err = store.Complete(b.ctx, tx, id, c)
		return err
	}))
	return changed
}

func TestInsertGeneration(t *testing.T) {
	t.Parallel()
	b := setup(t)

	g := b.insert(t, "")
	require.Equal(t, store.StatusQueued, g.Status)
	require.JSONEq(t, `{}`, string(g.Metadata))
	require.Equal(t, "17454220438242315174", *g.Seed, "20-digit seeds survive")
	require.Nil(t, g.FinishedAt)

	got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.Equal(t, g.ID, got.ID)

	_, err = store.GetGeneration(b.ctx, b.pool, uuid.New())
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestInsertGenerationIdempotencyKeyTaken(t *testing.T) {
	t.Parallel()
	b := setup(t)

	first := b.insert(t, "key-1")
	_, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID: uuid.New(), Client: "tests", EndpointID: "x", Input: json.RawMessage(`{}`), Priority: 2, IdempotencyKey: "key-1",
	})
	require.ErrorIs(t, err, store.ErrIdempotencyKeyTaken)

	got, err := store.GetGenerationByIdempotencyKey(b.ctx, b.pool, "tests", "key-1")
	require.NoError(t, err)
	require.Equal(t, first.ID, got.ID)

	// Keys are scoped per client.
	_, err = store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID: uuid.New(), Client: "other", EndpointID: "x", Input: json.RawMessage(`{}`), Priority: 2, IdempotencyKey: "key-1",
	})
	require.NoError(t, err)
}

func TestSubmitThenComplete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")

	marked, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.Equal(t, 1, marked.Attempts)
	require.NotNil(t, marked.SubmittingAt)

	g, err = store.RecordSubmitted(b.ctx, b.pool, g.ID, store.Submission{RequestID: "req-1", StatusURL: "s", ResponseURL: "r", CancelURL: "c"})
	require.NoError(t, err)
	require.Equal(t, store.StatusSubmitted, g.Status)
	require.Equal(t, "req-1", *g.FalRequestID)
	require.Equal(t, 1, g.FalSubmissions)

	_, err = store.MarkSubmitting(b.ctx, b.pool, g.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "a submitted generation is never submitted again")

	inference := 3.5
	require.True(t, b.complete(t, g.ID, store.Completion{
		FalRequestID:     "req-1",
		InferenceSeconds: &inference,
		Timings:          json.RawMessage(`{"inference":3.5}`),
		Images: []store.Image{
			{Position: 0, URL: "https://x/0.png", ContentType: "image/png", FileName: "0.png", FileSize: 10, Width: 8, Height: 16},
			{Position: 1, URL: "https://x/1.png", NSFW: ptr(true)},
		},
	}))
	g, err = store.GetGeneration(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCompleted, g.Status)
	require.True(t, *g.HasNSFW)
	require.Equal(t, 2, *g.ImageCount)
	require.InDelta(t, 3.5, *g.InferenceSeconds, 0)
	require.NotNil(t, g.CompletedAt)
	require.NotNil(t, g.FinishedAt)

	images, err := store.ListImages(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.Equal(t, []store.Image{
		{Position: 0, URL: "https://x/0.png", ContentType: "image/png", FileName: "0.png", FileSize: 10, Width: 8, Height: 16},
		{Position: 1, URL: "https://x/1.png", NSFW: ptr(true)},
	}, images)
}

func TestTerminalStateNeverChanges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")

	changed, err := store.Fail(b.ctx, b.pool, g.ID, "fal_rejected", "no")
	require.NoError(t, err)
	require.True(t, changed)

	require.False(t, b.complete(t, g.ID, store.Completion{Images: []store.Image{{URL: "u"}}}))
	changed, err = store.Cancel(b.ctx, b.pool, g.ID, "too late")
	require.NoError(t, err)
	require.False(t, changed)

	got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Equal(t, "fal_rejected", *got.ErrorCode)
	images, err := store.ListImages(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.Empty(t, images)
}

// A webhook can finish a generation before the submit call that caused it
// has recorded fal's answer; recording it afterwards must not undo that.
func TestRecordSubmittedAfterEarlyWebhook(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")

	_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.True(t, b.complete(t, g.ID, store.Completion{FalRequestID: "req-1", Images: []store.Image{{URL: "u"}}}))
	_, err = store.RecordSubmitted(b.ctx, b.pool, g.ID, store.Submission{RequestID: "req-1"})
	require.NoError(t, err)

	got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Nil(t, got.SubmittedAt, "not stamped after the finish (TestRecordSubmittedAfterFinishLeavesSubmittedAt)")
	require.Equal(t, 1, got.FalSubmissions)
	require.Equal(t, 1, got.FalSubmissionsConfirmed)
	require.Equal(t, "req-1", *got.FalRequestID)
}

func TestInsertWebhookEvent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")

	id, err := store.InsertWebhookEvent(b.ctx, b.pool, store.WebhookEvent{
		GenerationID: &g.ID, FalRequestID: "req-1", Headers: map[string]string{"X-Fal-Webhook-Request-Id": "req-1"},
		Body: []byte(`{"a": 1}`), BodySize: 8, SignatureValid: true, Outcome: store.OutcomeApplied,
	})
	require.NoError(t, err)
	require.Positive(t, id)

	unknown := uuid.New()
	_, err = store.InsertWebhookEvent(b.ctx, b.pool, store.WebhookEvent{
		GenerationID: &unknown, Body: []byte("x"), BodySize: 1, Outcome: store.OutcomeBadSignature,
	})
	require.ErrorIs(t, err, store.ErrNotFound, "events are only kept for existing generations")
}
