package jobs_test

import (
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/callbacks"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/metricstest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/store"
)

// A delivery whose River job will never run again (discarded after a
// process died at its last attempt, cancelled or deleted in River UI) is
// abandoned by the dispatcher, saying why, rather than left pending for
// good; one whose job may still run, or that has ended, is left alone.
func TestCallbackDispatcherAbandonsOrphans(t *testing.T) {
	t.Parallel()
	b := setupCallbacks(t, true)
	client, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{})
	require.NoError(t, err)
	logs := &logtest.Buffer{}
	m := metrics.New(b.pool, metrics.Config{})
	dispatcher := jobs.NewCallbackDispatcher(b.pool, client, slog.New(slog.NewJSONHandler(logs, nil))).WithMetrics(m)

	cases := []string{"discarded", "cancelled", "deleted", "completed", "available", "retryable", "running", "delivered, then discarded"}
	deliveries := map[string]*store.CallbackDelivery{}
	for _, name := range cases {
		deliveries[name] = b.delivery(t, b.finished(t, b.receiver.URL).ID)
	}
	n, err := dispatcher.Dispatch(b.ctx)
	require.NoError(t, err)
	require.Equal(t, len(cases), n)
	owed := b.delivery(t, b.finished(t, b.receiver.URL).ID) // no job yet: the dispatcher's to insert

	jobOf := func(name string) int64 {
		return *b.delivery(t, deliveries[name].GenerationID).JobID
	}
	setState := func(name, state string, finalized bool) {
		_, err := b.pool.Exec(b.ctx, `UPDATE river_job SET state = $2, finalized_at = CASE WHEN $3 THEN now() END, attempt = max_attempts WHERE id = $1`,
			jobOf(name), state, finalized)
		require.NoError(t, err)
	}
	// Its process died during the last attempt; River's rescuer discarded it.
	started, err := store.StartCallbackAttempt(b.ctx, b.pool, deliveries["discarded"].ID, jobOf("discarded"))
	require.NoError(t, err)
	require.True(t, started)
	setState("discarded", "discarded", true)
	_, err = client.JobCancel(b.ctx, jobOf("cancelled"))
	require.NoError(t, err)
	_, err = client.JobDelete(b.ctx, jobOf("deleted"))
	require.NoError(t, err)
	setState("completed", "completed", true)
	setState("retryable", "retryable", false)
	setState("running", "running", false)
	require.NoError(t, store.FinishCallbackAttempt(b.ctx, b.pool, deliveries["delivered, then discarded"].ID, store.CallbackAttempt{Status: 200, Delivered: true}))
	setState("delivered, then discarded", "discarded", true)

	n, err = dispatcher.AbandonOrphans(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 4, n)

	for name, wantState := range map[string]string{"discarded": "discarded", "cancelled": "cancelled", "deleted": "deleted", "completed": "completed"} {
		d := b.delivery(t, deliveries[name].GenerationID)
		require.NotNil(t, d.AbandonedAt, name)
		require.Nil(t, d.DeliveredAt, name)
		require.Contains(t, *d.LastError, "was "+wantState+" before the callback was delivered", name)
	}
	// The last attempt's own error is kept after the reason.
	require.Contains(t, *b.delivery(t, deliveries["discarded"].GenerationID).LastError, "; last attempt: no outcome recorded")
	require.Equal(t, 1, b.delivery(t, deliveries["discarded"].GenerationID).Attempts)
	for _, name := range []string{"available", "retryable", "running"} {
		d := b.delivery(t, deliveries[name].GenerationID)
		require.Nil(t, d.AbandonedAt, name)
		require.Nil(t, d.LastError, name)
	}
	require.NotNil(t, b.delivery(t, deliveries["delivered, then discarded"].GenerationID).DeliveredAt)
	require.Nil(t, b.delivery(t, deliveries["delivered, then discarded"].GenerationID).AbandonedAt)
	require.Nil(t, b.delivery(t, owed.GenerationID).AbandonedAt)

	lines := logs.Lines(t, "callback abandoned: its River job will never run again, and it was not delivered")
	require.Len(t, lines, 4)
	logged := map[uuid.UUID]string{}
	for _, l := range lines {
		logged[uuid.MustParse(l["callback_delivery_id"].(string))] = l["job_state"].(string)
		require.NotEmpty(t, l["generation_id"])
		require.NotEmpty(t, l["job_id"])
	}
	require.Equal(t, map[uuid.UUID]string{deliveries["discarded"].ID: "discarded", deliveries["cancelled"].ID: "cancelled",
		deliveries["deleted"].ID: "deleted", deliveries["completed"].ID: "completed"}, logged)
	require.Equal(t, 4.0, metricstest.Scrape(t, m.Handler())[`easel_callbacks_total{outcome="exhausted"}`])

	n, err = dispatcher.AbandonOrphans(b.ctx)
	require.NoError(t, err)
	require.Zero(t, n, "each is abandoned once")
}

// A delivery asked for again in SQL, as docs/CALLBACKS.md says, gets a new job and
// is attempted again; its old job, gone or finished, is no longer its.
func TestCallbackAskedForAgain(t *testing.T) {
	t.Parallel()
	b := setupCallbacks(t, true)
	client, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{})
	require.NoError(t, err)
	dispatcher := jobs.NewCallbackDispatcher(b.pool, client, b.cfg.Logger)
	gen := b.finished(t, b.receiver.URL)
	_, err = dispatcher.Dispatch(b.ctx)
	require.NoError(t, err)
	d := b.delivery(t, gen.ID)
	firstJob := *d.JobID

	b.status.Store(410)
	require.Error(t, b.work(t, d, 1))
	<-b.requests
	require.NotNil(t, b.delivery(t, gen.ID).AbandonedAt)

	// docs/CALLBACKS.md's SQL, for a callback abandoned or delivered.
	tag, err := b.pool.Exec(b.ctx, `
		UPDATE callback_deliveries SET job_id = NULL, abandoned_at = NULL, delivered_at = NULL
		WHERE generation_id = $1 AND (abandoned_at IS NOT NULL OR delivered_at IS NOT NULL)`, gen.ID)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	n, err := dispatcher.Dispatch(b.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	d = b.delivery(t, gen.ID)
	require.NotEqual(t, firstJob, *d.JobID)
	n, err = dispatcher.AbandonOrphans(b.ctx)
	require.NoError(t, err)
	require.Zero(t, n, "its new job may run")

	b.status.Store(200)
	require.NoError(t, b.work(t, d, 1))
	got := <-b.requests
	require.Equal(t, d.ID.String(), got.header.Get("webhook-id"), "the same webhook-id: a receiver that had it dedupes")
	require.Equal(t, "2", got.header.Get(callbacks.HeaderAttempt), "Easel-Attempt counts on, as attempts does, under a new job")
	d = b.delivery(t, gen.ID)
	require.NotNil(t, d.DeliveredAt)
	require.Equal(t, 2, d.Attempts)
}
