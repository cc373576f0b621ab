package webhooks_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/faltest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
	"github.com/easelhq/easel/webhooks"
)

// A service serving fal's webhooks under a prefix of its own, with the
// prefix in PublicURL, receives the simulator's signed delivery and
// completes the generation.
func TestReceiverOnGroupUnderPrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	logger := slog.New(slog.DiscardHandler)
	// No retries: a delivery to a path nothing serves fails once and for
	// all, rather than after fal's retry schedule.
	sim, err := falsim.Start(ctx, "127.0.0.1:0", falsim.Config{WebhookRetries: -1})
	require.NoError(t, err)
	t.Cleanup(sim.Close)

	e := echo.New()
	e.HTTPErrorHandler = api.ErrorHandler(logger)
	verifier := fal.NewVerifier(fal.VerifierConfig{Keys: faltest.StaticKeys{sim.Sim.PublicKey()}})
	webhooks.NewReceiver(pool, verifier, logger).Register(e.Group("/easel"))
	server := httptest.NewServer(e)
	t.Cleanup(server.Close)

	enqueued, err := jobs.EnqueuePool(ctx, pool, "shop", `{"image_prompt_1": {"image_url": "https://example.com/a.png"}}`, nil)
	require.NoError(t, err)
	id := enqueued.Generation.ID
	worker := jobs.NewSubmitGenerationWorker(pool, jobs.Config{
		Fal:       fal.NewClient(fal.ClientConfig{QueueURL: sim.QueueURL(), Key: "test-key"}),
		PublicURL: server.URL + "/easel",
		PollAfter: time.Hour,
		Timeout:   24 * time.Hour,
		Logger:    logger,
	})
	require.NoError(t, worker.Work(ctx, &river.Job[jobs.SubmitGenerationArgs]{
		JobRow: &rivertype.JobRow{ID: 1, Attempt: 1, MaxAttempts: 15},
		Args:   jobs.SubmitGenerationArgs{GenerationID: id},
	}))

	require.Eventually(t, func() bool {
		stats := sim.Sim.Stats()
		return stats.WebhooksAcked+stats.WebhooksFailed > 0
	}, 10*time.Second, 5*time.Millisecond)
	stats := sim.Sim.Stats()
	require.Equal(t, 1, stats.WebhooksAcked, "fal's delivery to %s answered 2xx", server.URL+"/easel/webhooks/fal/"+id.String())
	require.Zero(t, stats.WebhooksFailed)

	gen, err := store.GetGeneration(ctx, pool, id)
	require.NoError(t, err)
	require.Equal(t, store.StatusCompleted, gen.Status)
	rows, err := pool.Query(ctx, `SELECT outcome FROM webhook_events WHERE generation_id = $1 AND signature_valid`, id)
	require.NoError(t, err)
	outcomes, err := pgx.CollectRows(rows, pgx.RowTo[store.WebhookOutcome])
	require.NoError(t, err)
	require.Equal(t, []store.WebhookOutcome{store.OutcomeApplied}, outcomes)

	// Nothing is served at the root: fal must be given the prefix.
	resp, err := server.Client().Post(server.URL+"/webhooks/fal/"+id.String(), echo.MIMEApplicationJSON, strings.NewReader(`{}`))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
