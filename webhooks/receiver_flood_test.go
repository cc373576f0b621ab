package webhooks_test

import (
	"bytes"
	"crypto/ed25519"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/store"
)

// outcomeCounts counts outcomes by outcome.
func outcomeCounts(outcomes []store.WebhookOutcome) map[store.WebhookOutcome]int {
	counts := map[store.WebhookOutcome]int{}
	for _, o := range outcomes {
		counts[o]++
	}
	return counts
}

// Forged deliveries and replays of a genuine one cannot grow webhook_events
// without bound: each generation keeps at most store.MaxWebhookEvents of
// each, the one that applied the result aside, and the generation is
// unchanged.
func TestWebhookFloodIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)
	path := "/webhooks/fal/" + gen.ID.String()

	require.Equal(t, delivery{status: 200, outcome: "applied"}, b.deliver(t, path, []byte(okBody), b.signed(okBody)))

	_, forger, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	for range store.MaxWebhookEvents + 8 {
		forged := fal.SignWebhook(forger, "req-1", "user-1", time.Now(), []byte(okBody))
		require.Equal(t, 401, b.deliver(t, path, []byte(okBody), forged).status)
		require.Equal(t, delivery{status: 200, outcome: "duplicate"}, b.deliver(t, path, []byte(okBody), b.signed(okBody)), "a replay")
	}

	got, images, outcomes := b.generation(t, gen)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Len(t, images, 2)
	require.Equal(t, store.OutcomeApplied, outcomes[0])
	require.Equal(t, map[store.WebhookOutcome]int{
		store.OutcomeApplied:      1,
		store.OutcomeDuplicate:    store.MaxWebhookEvents - 1, // with the applied one, the signed events' cap
		store.OutcomeBadSignature: store.MaxWebhookEvents,
	}, outcomeCounts(outcomes))
}

// Deliveries that fail verification, which anyone can post to a
// generation's URL, cannot crowd fal's own out of webhook_events: after
// more of them than the cap, both of fal's deliveries of a request are
// still stored, whatever they did, so that a request fal ran, and billed,
// for the generation stays on record.
func TestUnsignedFloodLeavesSignedDeliveriesStored(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// victim returns the generation whose URL is flooded.
		victim      func(t *testing.T, b *testBundle) *store.Generation
		wantOutcome store.WebhookOutcome
	}{
		{
			name: "the result of another billed request, once the generation completed",
			victim: func(t *testing.T, b *testBundle) *store.Generation {
				// req-1's answer was lost; the generation was submitted again
				// as req-B, whose result completed it.
				gen := b.enqueue(t)
				require.NoError(t, store.RecordSubmitError(b.ctx, b.pool, gen.ID, "fal_unreachable", "unexpected EOF"))
				_, err := store.MarkSubmitting(b.ctx, b.pool, gen.ID)
				require.NoError(t, err)
				b.recordSubmitted(t, gen, "req-B")
				body := okBodyFor("req-B")
				signed := fal.SignWebhook(b.key, "req-B", "user-1", time.Now(), []byte(body))
				require.Equal(t, delivery{status: 200, outcome: store.OutcomeApplied}, b.deliver(t, "/webhooks/fal/"+gen.ID.String(), []byte(body), signed))
				return gen
			},
			wantOutcome: store.OutcomeDuplicate,
		},
		{
			name: "a result for a cancelled generation",
			victim: func(t *testing.T, b *testBundle) *store.Generation {
				gen := b.enqueue(t)
				cancelled, err := store.Cancel(b.ctx, b.pool, gen.ID, "cancelled by caller")
				require.NoError(t, err)
				require.True(t, cancelled)
				return gen
			},
			wantOutcome: store.OutcomeLate,
		},
		{
			name:        "another account's request",
			victim:      func(t *testing.T, b *testBundle) *store.Generation { return b.enqueueUnsubmitted(t) },
			wantOutcome: store.OutcomeMismatchedRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			gen := tt.victim(t, b)
			path := "/webhooks/fal/" + gen.ID.String()
			_, _, before := b.generation(t, gen) // the delivery that completed it, if any

			_, forger, err := ed25519.GenerateKey(nil)
			require.NoError(t, err)
			for range store.MaxWebhookEvents + 8 {
				forged := fal.SignWebhook(forger, "req-1", "user-1", time.Now(), []byte(okBody))
				require.Equal(t, http.StatusUnauthorized, b.deliver(t, path, []byte(okBody), forged).status)
			}
			for range 2 {
				require.Equal(t, delivery{status: 200, outcome: tt.wantOutcome}, b.deliver(t, path, []byte(okBody), b.signed(okBody)))
			}

			_, _, outcomes := b.generation(t, gen)
			want := outcomeCounts(before)
			want[store.OutcomeBadSignature] += store.MaxWebhookEvents
			want[tt.wantOutcome] += 2
			require.Equal(t, want, outcomeCounts(outcomes))
		})
	}
}

// Forged deliveries arriving together respect the cap too. A transaction
// holding the generation's row, as a signed delivery being recorded does
// (store.LockWebhookTarget), lines them up, as many as the receiver's pool
// runs at once: none may have counted the events before it lets them go.
func TestConcurrentForgedWebhooksRespectTheCap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gen := b.enqueue(t)
	path := "/webhooks/fal/" + gen.ID.String()

	_, forger, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	forged := func() http.Header {
		return fal.SignWebhook(forger, "req-1", "user-1", time.Now(), []byte(okBody))
	}
	for range store.MaxWebhookEvents - 1 {
		require.Equal(t, http.StatusUnauthorized, b.deliver(t, path, []byte(okBody), forged()).status)
	}

	// The lock holder and the observer have connections of their own: the
	// receiver's pool must have every connection free for the deliveries.
	connect := func() *pgx.Conn {
		conn, err := pgx.Connect(b.ctx, b.pool.Config().ConnString())
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close(b.ctx) })
		return conn
	}
	holder, observer := connect(), connect()
	tx, err := holder.Begin(b.ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(b.ctx) }()
	_, err = tx.Exec(b.ctx, `SELECT FROM generations WHERE id = $1 FOR UPDATE`, gen.ID)
	require.NoError(t, err)

	together := int(b.pool.Config().MaxConns)
	var wg sync.WaitGroup
	statuses := make([]int, together)
	for i := range together {
		wg.Go(func() { statuses[i] = postStatus(b, path, forged()) })
	}
	require.Eventually(t, func() bool {
		var waiting int
		err := observer.QueryRow(b.ctx, `
			SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		return err == nil && waiting == together
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, tx.Rollback(b.ctx))
	wg.Wait()
	for _, s := range statuses {
		require.Equal(t, http.StatusUnauthorized, s)
	}

	var events int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM webhook_events WHERE generation_id = $1`, gen.ID).Scan(&events))
	require.Equal(t, store.MaxWebhookEvents, events)
}

// postStatus posts okBody with header and returns the status, or 0 when no
// answer came: it runs off the test's goroutine, where require cannot.
func postStatus(b *testBundle, path string, header http.Header) int {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, b.server.URL+path, bytes.NewReader([]byte(okBody)))
	if err != nil {
		return 0
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	return resp.StatusCode
}
