package store_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// submitted returns a submitted generation whose submission started ago.
func (b *testBundle) submitted(t *testing.T, ago time.Duration) *store.Generation {
	t.Helper()
	g := b.insert(t, "")
	_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	_, err = store.RecordSubmitted(b.ctx, b.pool, g.ID, store.Submission{RequestID: "req-" + g.ID.String()})
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `UPDATE generations SET submitting_at = now() - $2::interval, submitted_at = now() - $2::interval WHERE id = $1`, g.ID, ago)
	require.NoError(t, err)
	return g
}

func ids(gens []*store.Generation) []uuid.UUID {
	out := make([]uuid.UUID, len(gens))
	for i, g := range gens {
		out[i] = g.ID
	}
	return out
}

func TestClaimPolls(t *testing.T) {
	t.Parallel()
	b := setup(t)

	overdue := b.submitted(t, time.Hour)
	b.submitted(t, 0) // fresh: not yet
	deferred := b.submitted(t, 0)
	require.NoError(t, store.NoteWebhook(b.ctx, b.pool, deferred.ID, "req"))
	done := b.submitted(t, time.Hour)
	_, err := store.Fail(b.ctx, b.pool, done.ID, "x", "y")
	require.NoError(t, err)

	claimed, err := store.ClaimPolls(b.ctx, b.pool, time.Minute, 10)
	require.NoError(t, err)
	require.ElementsMatch(t, []uuid.UUID{overdue.ID, deferred.ID}, ids(claimed),
		"overdue ones, and at once those whose webhook carried no result")

	claimed, err = store.ClaimPolls(b.ctx, b.pool, time.Minute, 10)
	require.NoError(t, err)
	require.Empty(t, claimed, "polled ones wait pollAfter for the next poll")

	claimed, err = store.ClaimPolls(b.ctx, b.pool, 0, 1)
	require.NoError(t, err)
	require.Len(t, claimed, 1, "batches are bounded")
}

func TestListTimedOut(t *testing.T) {
	t.Parallel()
	b := setup(t)

	old := b.submitted(t, time.Hour)
	b.submitted(t, 0)
	orphan := b.insert(t, "")
	_, err := store.MarkSubmitting(b.ctx, b.pool, orphan.ID)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `UPDATE generations SET submitting_at = now() - interval '2 hours' WHERE id = $1`, orphan.ID)
	require.NoError(t, err)
	b.insert(t, "") // queued, never submitted

	overdue, err := store.ListTimedOut(b.ctx, b.pool, 30*time.Minute, 10)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{orphan.ID, old.ID}, ids(overdue), "oldest submission first")
}

func TestWebhookEventsAreCapped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")

	event := store.WebhookEvent{GenerationID: &g.ID, Body: []byte("forged"), BodySize: 6, Outcome: store.OutcomeBadSignature}
	for range store.MaxWebhookEvents {
		id, err := store.InsertWebhookEvent(b.ctx, b.pool, event)
		require.NoError(t, err)
		require.Positive(t, id)
	}
	id, err := store.InsertWebhookEvent(b.ctx, b.pool, event)
	require.NoError(t, err)
	require.Zero(t, id, "not stored beyond the cap")

	applied := store.WebhookEvent{GenerationID: &g.ID, Body: []byte("{}"), BodySize: 2, SignatureValid: true, Outcome: store.OutcomeApplied}
	id, err = store.InsertWebhookEvent(b.ctx, b.pool, applied)
	require.NoError(t, err)
	require.Positive(t, id, "the event that applied a result is always kept")

	var stored int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM webhook_events WHERE generation_id = $1`, g.ID).Scan(&stored))
	require.Equal(t, store.MaxWebhookEvents+1, stored)
}
