package jobs_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// byLevel counts entries by their level.
func byLevel(entries []map[string]any) map[string]int {
	levels := map[string]int{}
	for _, entry := range entries {
		levels[entry["level"].(string)]++
	}
	return levels
}

// When fal's webhooks never arrive (a wrong EASEL_PUBLIC_URL), or arrive
// only after the poll, the reconciler's line for a result it applied is a
// WARN saying what to check for either, once for all the generations of a
// run and not again within the minute; each generation still has its
// line. A result a webhook announced without its payload is no sign of
// that: no WARN.
func TestReconcilerWarnsOfResultsNoWebhookDelivered(t *testing.T) {
	t.Parallel()
	const appliedMsg = "reconciler applied fal's result"

	for _, tt := range []struct {
		name string
		sim  falsim.Config
		// webhook says whether a webhook reaches Easel for each generation.
		webhook  bool
		wantWarn int
	}{
		{name: "webhooks never arrive", sim: falsim.Config{WebhookDropRate: 1}, wantWarn: 1},
		{name: "webhooks without payload", sim: falsim.Config{PayloadErrorRate: 1}, webhook: true, wantWarn: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.sim)
			logs := &logtest.Buffer{}
			b.cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			// submitBatch submits n generations and waits until fal has
			// finished them, and delivered what webhooks it does.
			submitted := 0
			submitBatch := func(n int) {
				for range n {
					gen := b.enqueue(t, "tests")
					require.NoError(t, b.submit(t, gen.ID))
					if tt.webhook {
						b.awaitDelivery(t)
					}
				}
				submitted += n
				b.awaitCompletedAtFal(t, submitted)
			}
			b.cfg.PollAfter = time.Nanosecond
			// One worker, as a process has: the warning is once a minute per
			// process.
			w := jobs.NewReconcileWorker(b.pool, b.cfg)
			run := func() {
				require.NoError(t, w.Work(b.ctx, &river.Job[jobs.ReconcileArgs]{JobRow: &rivertype.JobRow{ID: 2}}))
			}

			submitBatch(3)
			run()
			var completed int
			require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM generations WHERE status = $1`, store.StatusCompleted).Scan(&completed))
			require.Equal(t, 3, completed)

			applied := logs.Lines(t, appliedMsg)
			require.Len(t, applied, 3, "a line for each generation")
			require.Equal(t, tt.wantWarn, byLevel(applied)["WARN"])
			for _, entry := range applied {
				require.Equal(t, tt.webhook, entry["webhook_received"], entry)
				if entry["level"] != "WARN" {
					require.NotContains(t, entry, "warning")
					continue
				}
				require.Equal(t, b.cfg.PublicURL+"/webhooks/fal/{id}", entry["webhook_url"])
				require.EqualValues(t, 1, entry["results_without_webhook"], "the first since the process started")
				warning := entry["warning"].(string)
				// Late webhooks, not only lost ones, and how to tell them apart.
				for _, want := range []string{"EASEL_PUBLIC_URL", b.cfg.PublicURL + "/webhooks/fal/{id}", "405", "FAL_JWKS_URL", "EASEL_POLL_AFTER",
					"late", `easel_webhooks_received_total{outcome="duplicate"}`, `easel_results_applied_total{source="reconciler"}`} {
					require.Contains(t, warning, want)
				}
			}

			// More within the minute: a line each, no WARN.
			submitBatch(2)
			run()
			applied = logs.Lines(t, appliedMsg)
			require.Len(t, applied, 5)
			require.Equal(t, tt.wantWarn, byLevel(applied)["WARN"], "no second WARN within the minute")
		})
	}
}
