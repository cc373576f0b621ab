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

// A webhook that could not be applied (deferred) makes its generation due
// at once, however recently fal was asked about it: the next reconciler run
// fetches its result rather than EASEL_POLL_AFTER later.
func TestClaimPollsAtOnceAfterDeferredWebhook(t *testing.T) {
	t.Parallel()
	b := setup(t)

	g := b.submitted(t, time.Hour)
	claimed, err := store.ClaimPolls(b.ctx, b.pool, time.Minute, 10)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{g.ID}, ids(claimed))
	claimed, err = store.ClaimPolls(b.ctx, b.pool, time.Minute, 10)
	require.NoError(t, err)
	require.Empty(t, claimed, "just polled: not again within pollAfter")

	require.NoError(t, store.NoteWebhook(b.ctx, b.pool, g.ID, "req"))
	claimed, err = store.ClaimPolls(b.ctx, b.pool, time.Minute, 10)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{g.ID}, ids(claimed), "a webhook came since the last poll")

	claimed, err = store.ClaimPolls(b.ctx, b.pool, time.Minute, 10)
	require.NoError(t, err)
	require.Empty(t, claimed, "polled since that webhook: pollAfter again")
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

// EASEL_TIMEOUT counts from a generation's first submission: submitting it
// again does not put its timeout off. The order is unchanged: never asked
// about, the latest submission first.
func TestListTimedOutCountsFromFirstSubmission(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// resubmitted was first submitted firstAgo, then again latestAgo; with
	// firstAgo < 0 its first_submitting_at is null, as a binary older than
	// migration 000019 left it.
	resubmitted := func(firstAgo, latestAgo time.Duration) *store.Generation {
		t.Helper()
		g := b.insert(t, "")
		_, err := store.MarkSubmitting(b.ctx, b.pool, g.ID)
		require.NoError(t, err)
		_, err = store.MarkSubmitting(b.ctx, b.pool, g.ID)
		require.NoError(t, err)
		_, err = b.pool.Exec(b.ctx, `UPDATE generations SET
				first_submitting_at = CASE WHEN $2::interval < interval '0' THEN NULL ELSE now() - $2::interval END,
				submitting_at = now() - $3::interval
			WHERE id = $1`, g.ID, firstAgo, latestAgo)
		require.NoError(t, err)
		return g
	}
	firstLongAgo := resubmitted(2*time.Hour, time.Minute)
	older := resubmitted(40*time.Minute, 10*time.Minute)
	resubmitted(20*time.Minute, time.Minute) // within EASEL_TIMEOUT of its first
	unknownFirst := resubmitted(-1, time.Hour)
	resubmitted(-1, time.Minute)

	overdue, err := store.ListTimedOut(b.ctx, b.pool, 30*time.Minute, 10)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{unknownFirst.ID, older.ID, firstLongAgo.ID}, ids(overdue))
}

// A timed out generation the reconciler asked about and left unfinished
// goes behind the others, however old: a full batch of such generations
// cannot keep newer ones from timing out.
func TestListTimedOutPutsAskedBehind(t *testing.T) {
	t.Parallel()
	b := setup(t)

	stuck := b.submitted(t, 3*time.Hour)
	newer := b.submitted(t, time.Hour)

	overdue, err := store.ListTimedOut(b.ctx, b.pool, 30*time.Minute, 1)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{stuck.ID}, ids(overdue), "never asked: oldest submission first")

	require.NoError(t, store.RecordResultError(b.ctx, b.pool, stuck.ID, "result_unavailable", "fal result: HTTP 500"))
	overdue, err = store.ListTimedOut(b.ctx, b.pool, 30*time.Minute, 1)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{newer.ID}, ids(overdue), "the one just asked about waits its turn")

	overdue, err = store.ListTimedOut(b.ctx, b.pool, 30*time.Minute, 10)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{newer.ID, stuck.ID}, ids(overdue), "and is still listed")
}

func TestRecordResultError(t *testing.T) {
	t.Parallel()
	b := setup(t)

	g := b.submitted(t, time.Hour)
	require.NoError(t, store.RecordResultError(b.ctx, b.pool, g.ID, "result_unavailable", "fal result: HTTP 500"))
	got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusSubmitted, got.Status, "noted, not finished")
	require.Nil(t, got.FinishedAt)
	require.Equal(t, "result_unavailable", *got.ErrorCode)
	require.Equal(t, "fal result: HTTP 500", *got.ErrorMessage)
	claimed, err := store.ClaimPolls(b.ctx, b.pool, time.Minute, 10)
	require.NoError(t, err)
	require.Empty(t, claimed, "fal was just asked about it: not polled again within pollAfter")

	done := b.submitted(t, time.Hour)
	_, err = store.Fail(b.ctx, b.pool, done.ID, "timeout", "too late")
	require.NoError(t, err)
	require.NoError(t, store.RecordResultError(b.ctx, b.pool, done.ID, "result_unavailable", "fal result: HTTP 500"))
	got, err = store.GetGeneration(b.ctx, b.pool, done.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Equal(t, "timeout", *got.ErrorCode, "a finished generation is not noted")
	require.Equal(t, "too late", *got.ErrorMessage)
}

func TestFailSubmittedBefore(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name        string
		ago         time.Duration
		finished    bool
		wantChanged bool
	}{
		{name: "submitted before: failed", ago: 3 * time.Hour, wantChanged: true},
		{name: "submitted since: unchanged", ago: time.Hour},
		{name: "finished: unchanged", ago: 3 * time.Hour, finished: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.submitted(t, tt.ago)
			if tt.finished {
				require.True(t, b.complete(t, g.ID, store.Completion{FalRequestID: "req-" + g.ID.String()}))
			}

			changed, err := store.FailSubmittedBefore(b.ctx, b.pool, g.ID, 2*time.Hour, "result_unavailable", "gave up")
			require.NoError(t, err)
			require.Equal(t, tt.wantChanged, changed)
			got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
			require.NoError(t, err)
			switch {
			case tt.wantChanged:
				require.Equal(t, store.StatusFailed, got.Status)
				require.NotNil(t, got.FinishedAt)
				require.Equal(t, "result_unavailable", *got.ErrorCode)
				require.Equal(t, "gave up", *got.ErrorMessage)
			case tt.finished:
				require.Equal(t, store.StatusCompleted, got.Status)
				require.Nil(t, got.ErrorCode)
			default:
				require.Equal(t, store.StatusSubmitted, got.Status)
				require.Nil(t, got.ErrorCode)
			}
		})
	}
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
