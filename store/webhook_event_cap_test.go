package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// otherPool is a second pool on b's database, so that a transaction holding
// a lock, and the test watching who waits on it, leave every connection of
// b.pool free for the inserts under test.
func (b *testBundle) otherPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.NewWithConfig(b.ctx, b.pool.Config())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// awaitLockWaiters waits until n backends of b's database wait on a lock.
func (b *testBundle) awaitLockWaiters(t *testing.T, observer *pgxpool.Pool, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		var waiting int
		err := observer.QueryRow(b.ctx, `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		return err == nil && waiting == n
	}, 10*time.Second, 10*time.Millisecond)
}

// insertTogether runs insert once on each connection of b.pool at once,
// after hold has started holding what lines them up, and returns their
// errors once release has let them all go.
func (b *testBundle) insertTogether(t *testing.T, observer *pgxpool.Pool, insert func() error, release func()) []error {
	t.Helper()
	together := int(b.pool.Config().MaxConns)
	errs := make([]error, together)
	var wg sync.WaitGroup
	for i := range together {
		wg.Go(func() { errs[i] = insert() })
	}
	b.awaitLockWaiters(t, observer, together)
	release()
	wg.Wait()
	return errs
}

// At most store.MaxWebhookEvents deliveries that failed verification are
// kept per generation however many arrive together. Here they line up
// behind a signed delivery being recorded, which holds the generation's row
// (LockWebhookTarget): none of those waiting may count before it has
// committed, and it does not take their last place, nor they its.
func TestWebhookEventCapHoldsForDeliveriesArrivingTogether(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")
	forged := store.WebhookEvent{GenerationID: &g.ID, FalRequestID: "req-1", Body: []byte("forged"), BodySize: 6, Outcome: store.OutcomeBadSignature}
	for range store.MaxWebhookEvents - 1 {
		id, err := store.InsertWebhookEvent(b.ctx, b.pool, forged)
		require.NoError(t, err)
		require.Positive(t, id)
	}

	other := b.otherPool(t)
	tx, _, err := store.LockWebhookTarget(b.ctx, other, g.ID, "req-1")
	require.NoError(t, err)
	defer tx.Close(b.ctx)

	errs := b.insertTogether(t, other, func() error {
		_, err := store.InsertWebhookEvent(b.ctx, b.pool, forged)
		return err
	}, func() {
		duplicate := store.WebhookWrite{Event: store.WebhookEvent{FalRequestID: "req-1", Body: []byte("{}"), BodySize: 2, SignatureValid: true, Outcome: store.OutcomeDuplicate}}
		_, err := tx.Record(b.ctx, duplicate)
		require.NoError(t, err)
	})
	for _, err := range errs {
		require.NoError(t, err)
	}

	require.Equal(t, map[store.WebhookOutcome]int{store.OutcomeBadSignature: store.MaxWebhookEvents, store.OutcomeDuplicate: 1}, b.storedOutcomes(t, g.ID))
}

// storedOutcomes counts generation id's stored webhook events by outcome.
func (b *testBundle) storedOutcomes(t *testing.T, id uuid.UUID) map[store.WebhookOutcome]int {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `SELECT outcome, count(*) FROM webhook_events WHERE generation_id = $1 GROUP BY outcome`, id)
	require.NoError(t, err)
	counts := map[store.WebhookOutcome]int{}
	var (
		outcome store.WebhookOutcome
		n       int
	)
	_, err = pgx.ForEachRow(rows, []any{&outcome, &n}, func() error {
		counts[outcome] = n
		return nil
	})
	require.NoError(t, err)
	return counts
}

// recordSigned stores a signed delivery of fal request requestID at
// generation id as the receiver does, with outcome and without applying
// anything, and reports whether it was stored.
func (b *testBundle) recordSigned(t *testing.T, id uuid.UUID, requestID string, outcome store.WebhookOutcome) bool {
	t.Helper()
	tx, _, err := store.LockWebhookTarget(b.ctx, b.pool, id, requestID)
	require.NoError(t, err)
	defer tx.Close(b.ctx)
	_, before := b.webhookCounts(t, id)
	_, err = tx.Record(b.ctx, store.WebhookWrite{Event: store.WebhookEvent{
		FalRequestID: requestID, Body: []byte("{}"), BodySize: 2, SignatureValid: true, Outcome: outcome,
	}})
	require.NoError(t, err)
	_, after := b.webhookCounts(t, id)
	return after == before+1
}

// Deliveries that fail verification, which anyone can post to a
// generation's URL, are capped apart from signed ones: however many were
// posted, fal's own deliveries (the evidence of what fal ran, and billed,
// for the generation) are still stored, whatever their outcome.
func TestUnsignedWebhookEventsLeaveRoomForSignedOnes(t *testing.T) {
	t.Parallel()
	for _, outcome := range []store.WebhookOutcome{store.OutcomeDuplicate, store.OutcomeLate, store.OutcomeDeferred, store.OutcomeMismatchedRequest, store.OutcomeMalformed} {
		t.Run(string(outcome), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.insert(t, "")
			forged := store.WebhookEvent{GenerationID: &g.ID, FalRequestID: "req-billed", Body: []byte("forged"), BodySize: 6, Outcome: store.OutcomeBadSignature}
			for range store.MaxWebhookEvents + 8 {
				_, err := store.InsertWebhookEvent(b.ctx, b.pool, forged)
				require.NoError(t, err)
			}

			// An unsigned delivery naming the request does not make it
			// known: both of fal's deliveries of it are stored.
			require.True(t, b.recordSigned(t, g.ID, "req-billed", outcome))
			require.True(t, b.recordSigned(t, g.ID, "req-billed", outcome))
			require.Equal(t, map[store.WebhookOutcome]int{store.OutcomeBadSignature: store.MaxWebhookEvents, outcome: 2}, b.storedOutcomes(t, g.ID))
		})
	}
}

// Signed redeliveries of one request stop at store.MaxWebhookEvents signed
// events; past that, a delivery of a request new to the generation is
// still stored, up to 2*store.MaxWebhookEvents signed events, and the one
// that applies a result always is: store.MaxWebhookEventsPerGeneration
// events in all, however many arrive.
func TestSignedWebhookEventsAreBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")
	forged := store.WebhookEvent{GenerationID: &g.ID, Body: []byte("forged"), BodySize: 6, Outcome: store.OutcomeBadSignature}
	for range store.MaxWebhookEvents + 8 {
		_, err := store.InsertWebhookEvent(b.ctx, b.pool, forged)
		require.NoError(t, err)
	}

	for range store.MaxWebhookEvents + 8 {
		b.recordSigned(t, g.ID, "req-1", store.OutcomeDeferred)
	}
	require.Equal(t, store.MaxWebhookEvents, b.storedOutcomes(t, g.ID)[store.OutcomeDeferred], "redeliveries stop at the cap")

	require.True(t, b.recordSigned(t, g.ID, "req-2", store.OutcomeDeferred), "a request new to the generation")
	require.False(t, b.recordSigned(t, g.ID, "req-2", store.OutcomeDeferred), "known now")
	require.False(t, b.recordSigned(t, g.ID, "req-1", store.OutcomeDeferred))
	for i := range store.MaxWebhookEvents - 1 {
		require.True(t, b.recordSigned(t, g.ID, fmt.Sprintf("req-new-%d", i), store.OutcomeMismatchedRequest))
	}
	require.False(t, b.recordSigned(t, g.ID, "req-one-too-many", store.OutcomeMismatchedRequest), "2*MaxWebhookEvents signed events")

	tx, _, err := store.LockWebhookTarget(b.ctx, b.pool, g.ID, "req-1")
	require.NoError(t, err)
	defer tx.Close(b.ctx)
	finished, err := tx.Record(b.ctx, completionWrite("req-1"))
	require.NoError(t, err)
	require.NotNil(t, finished, "applied")
	require.False(t, b.recordSigned(t, g.ID, "req-1", store.OutcomeDuplicate))
	_, err = store.InsertWebhookEvent(b.ctx, b.pool, forged)
	require.NoError(t, err)

	_, events := b.webhookCounts(t, g.ID)
	require.Equal(t, store.MaxWebhookEventsPerGeneration, events)
	require.Equal(t, map[store.WebhookOutcome]int{
		store.OutcomeBadSignature:      store.MaxWebhookEvents,
		store.OutcomeDeferred:          store.MaxWebhookEvents + 1,
		store.OutcomeMismatchedRequest: store.MaxWebhookEvents - 1,
		store.OutcomeApplied:           1,
	}, b.storedOutcomes(t, g.ID))
}

// Signed deliveries of one fal request at made-up generation ids (replays)
// keep at most store.MaxWebhookEvents events however many arrive together.
// They line up behind the advisory lock that serialises them.
func TestUnknownGenerationWebhookEventCapHoldsForDeliveriesArrivingTogether(t *testing.T) {
	t.Parallel()
	b := setup(t)
	replay := store.WebhookEvent{FalRequestID: "req-1", Body: []byte("{}"), BodySize: 2, SignatureValid: true}
	for range store.MaxWebhookEvents - 1 {
		id, _, err := store.InsertUnknownGenerationWebhookEvent(b.ctx, b.pool, replay)
		require.NoError(t, err)
		require.Positive(t, id)
	}

	other := b.otherPool(t)
	holder, err := other.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = holder.Rollback(b.ctx) }()
	_, err = holder.Exec(b.ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, store.UnknownWebhookLockClass, replay.FalRequestID)
	require.NoError(t, err)

	errs := b.insertTogether(t, other, func() error {
		_, _, err := store.InsertUnknownGenerationWebhookEvent(b.ctx, b.pool, replay)
		return err
	}, func() { require.NoError(t, holder.Rollback(b.ctx)) })
	for _, err := range errs {
		require.NoError(t, err)
	}

	var events int
	require.NoError(t, b.pool.QueryRow(b.ctx, `
		SELECT count(*) FROM webhook_events WHERE generation_id IS NULL AND fal_request_id = $1`, replay.FalRequestID).Scan(&events))
	require.Equal(t, store.MaxWebhookEvents, events)
}

// A generation at the cap stores no more forged deliveries, and they take
// no lock to find that out: a flood of them never waits for, nor holds up,
// a delivery being recorded. An applied event is stored all the same.
func TestWebhookEventAtTheCapTakesNoLock(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")
	forged := store.WebhookEvent{GenerationID: &g.ID, Body: []byte("forged"), BodySize: 6, Outcome: store.OutcomeBadSignature}
	for range store.MaxWebhookEvents {
		_, err := store.InsertWebhookEvent(b.ctx, b.pool, forged)
		require.NoError(t, err)
	}

	other := b.otherPool(t)
	tx, _, err := store.LockWebhookTarget(b.ctx, other, g.ID, "req-1")
	require.NoError(t, err)
	defer tx.Close(b.ctx)

	// Only a guard against the test hanging: the insert does not wait.
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	id, err := store.InsertWebhookEvent(ctx, b.pool, forged)
	require.NoError(t, err)
	require.Zero(t, id, "not stored: the generation is at the cap")
	tx.Close(b.ctx)

	applied := store.WebhookEvent{GenerationID: &g.ID, FalRequestID: "req-1", Body: []byte("{}"), BodySize: 2, SignatureValid: true, Outcome: store.OutcomeApplied}
	id, err = store.InsertWebhookEvent(b.ctx, b.pool, applied)
	require.NoError(t, err)
	require.Positive(t, id, "the event that applied a result is always kept")
	_, events := b.webhookCounts(t, g.ID)
	require.Equal(t, store.MaxWebhookEvents+1, events)
}

// An event for a generation that does not exist, for none, or that the
// database refuses, is not stored, and the error says which.
func TestInsertWebhookEventErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")
	unknown := uuid.New()

	_, err := store.InsertWebhookEvent(b.ctx, b.pool, store.WebhookEvent{GenerationID: &unknown, Body: []byte("x"), BodySize: 1, Outcome: store.OutcomeBadSignature})
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorContains(t, err, unknown.String())

	// No generation at all is a caller's mistake, not one not found.
	_, err = store.InsertWebhookEvent(b.ctx, b.pool, store.WebhookEvent{Body: []byte("x"), BodySize: 1, Outcome: store.OutcomeBadSignature})
	require.ErrorContains(t, err, "GenerationID is nil")
	require.NotErrorIs(t, err, store.ErrNotFound)

	// jsonb cannot hold NUL.
	_, err = store.InsertWebhookEvent(b.ctx, b.pool, store.WebhookEvent{
		GenerationID: &g.ID, Headers: map[string]string{"X-Broken": "a\x00b"}, Body: []byte("x"), BodySize: 1, Outcome: store.OutcomeBadSignature,
	})
	require.ErrorContains(t, err, "insert webhook event")
	require.NotErrorIs(t, err, store.ErrNotFound)
	_, _, err = store.InsertUnknownGenerationWebhookEvent(b.ctx, b.pool, store.WebhookEvent{
		FalRequestID: "req-1", Headers: map[string]string{"X-Broken": "a\x00b"}, Body: []byte("x"), BodySize: 1,
	})
	require.ErrorContains(t, err, "insert webhook event for an unknown generation")

	_, events := b.webhookCounts(t, g.ID)
	require.Zero(t, events)
	var unknownEvents int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM webhook_events WHERE generation_id IS NULL`).Scan(&unknownEvents))
	require.Zero(t, unknownEvents)

	// The failed batches left no lock or transaction behind.
	id, err := store.InsertWebhookEvent(b.ctx, b.pool, store.WebhookEvent{GenerationID: &g.ID, Body: []byte("x"), BodySize: 1, Outcome: store.OutcomeBadSignature})
	require.NoError(t, err)
	require.Positive(t, id)
}
