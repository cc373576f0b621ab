package jobs_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/faltest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
	"github.com/easelhq/easel/webhooks"
)

// testInput asks for two images.
const testInput = `{"num_images": 2, "image_prompt_1": {"image_url": "https://example.com/a.png"}}`

// testBundle is one Easel against a simulated fal: a database, the
// simulator, the webhook receiver it calls back, and the jobs' config.
type testBundle struct {
	ctx  context.Context
	url  string
	pool *pgxpool.Pool
	sim  *falsim.Server
	fal  *fal.Client
	cfg  jobs.Config

	// delivered receives a value for every webhook the receiver answered.
	delivered chan struct{}
	// holdWebhooks makes the receiver wait while a test holds it.
	holdWebhooks *sync.Mutex
	// key signs webhooks as fal does, for the requests of any account: the
	// receiver trusts it as it trusts the simulator's.
	key ed25519.PrivateKey
}

// setup starts the simulator with simCfg and a receiver for its webhooks.
// cfg.Fal is the simulator's client; set cfg fields after setup to change
// what the workers are built with.
func setup(t *testing.T, simCfg falsim.Config) *testBundle {
	t.Helper()
	ctx := context.Background()
	url := dbtest.URL(t)
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	sim, err := falsim.Start(ctx, "127.0.0.1:0", simCfg)
	require.NoError(t, err)
	t.Cleanup(sim.Close)

	pub, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)

	logger := slog.New(slog.DiscardHandler)
	b := &testBundle{ctx: ctx, url: url, pool: pool, sim: sim, delivered: make(chan struct{}, 1000), holdWebhooks: new(sync.Mutex), key: key}
	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(logger)
	webhooks.NewReceiver(pool, fal.NewVerifier(fal.VerifierConfig{Keys: faltest.StaticKeys{sim.Sim.PublicKey(), pub}}), logger).Register(e)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.holdWebhooks.Lock()
		b.holdWebhooks.Unlock() // only waits while a test holds webhooks back
		e.ServeHTTP(w, r)
		b.delivered <- struct{}{}
	}))
	t.Cleanup(receiver.Close)

	b.fal = fal.NewClient(fal.ClientConfig{QueueURL: sim.QueueURL(), Key: "test-key"})
	b.cfg = jobs.Config{
		Fal:       b.fal,
		PublicURL: receiver.URL,
		PollAfter: time.Hour,
		Timeout:   24 * time.Hour,
		Logger:    logger,
	}
	return b
}

// enqueue creates a queued generation with its submit job, which no River
// client works unless a test starts one.
func (b *testBundle) enqueue(t *testing.T, client string) *store.Generation {
	t.Helper()
	var gen *store.Generation
	require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		enqueued, err := jobs.Enqueue(b.ctx, tx, client, testInput, nil)
		if err == nil {
			gen = enqueued.Generation
		}
		return err
	}))
	return gen
}

// submit runs the submit worker once on gen, as River would.
func (b *testBundle) submit(t *testing.T, id uuid.UUID) error {
	t.Helper()
	return b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, b.cfg), id)
}

func (b *testBundle) submitWith(t *testing.T, w *jobs.SubmitGenerationWorker, id uuid.UUID) error {
	t.Helper()
	return w.Work(b.ctx, &river.Job[jobs.SubmitGenerationArgs]{
		JobRow: &rivertype.JobRow{ID: 1, Attempt: 1, MaxAttempts: 15},
		Args:   jobs.SubmitGenerationArgs{GenerationID: id},
	})
}

// reconcile runs the reconciler once.
func (b *testBundle) reconcile(t *testing.T) {
	t.Helper()
	require.NoError(t, jobs.NewReconcileWorker(b.pool, b.cfg).Work(b.ctx, &river.Job[jobs.ReconcileArgs]{JobRow: &rivertype.JobRow{ID: 2}}))
}

func (b *testBundle) generation(t *testing.T, id uuid.UUID) *store.Generation {
	t.Helper()
	gen, err := store.GetGeneration(b.ctx, b.pool, id)
	require.NoError(t, err)
	return gen
}

// accounting returns a generation's fal_submissions and
// fal_submissions_confirmed.
func (b *testBundle) accounting(t *testing.T, id uuid.UUID) (submissions, confirmed int) {
	t.Helper()
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT fal_submissions, fal_submissions_confirmed FROM generations WHERE id = $1`, id).
		Scan(&submissions, &confirmed))
	return submissions, confirmed
}

func (b *testBundle) images(t *testing.T, id uuid.UUID) []store.Image {
	t.Helper()
	images, err := store.ListImages(b.ctx, b.pool, id)
	require.NoError(t, err)
	return images
}

func (b *testBundle) outcomes(t *testing.T, id uuid.UUID) []store.WebhookOutcome {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `SELECT outcome FROM webhook_events WHERE generation_id = $1 ORDER BY id`, id)
	require.NoError(t, err)
	outcomes, err := pgx.CollectRows(rows, pgx.RowTo[store.WebhookOutcome])
	require.NoError(t, err)
	return outcomes
}

// awaitDelivery waits for the receiver to answer the next webhook.
func (b *testBundle) awaitDelivery(t *testing.T) {
	t.Helper()
	select {
	case <-b.delivered:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook delivered")
	}
}

// awaitCompletedAtFal waits until the simulator has completed n requests.
func (b *testBundle) awaitCompletedAtFal(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return b.sim.Sim.Stats().Completed >= n }, 10*time.Second, 5*time.Millisecond)
}

// falStatus asks the simulator about gen's request.
func (b *testBundle) falStatus(t *testing.T, gen *store.Generation) *fal.Status {
	t.Helper()
	status, err := b.fal.Status(b.ctx, *gen.FalStatusURL)
	require.NoError(t, err)
	return status
}

// closedURL is the base URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	return url
}

// lostAnswer is a transport that delivers each request and then loses the
// answer, as when a connection breaks after fal accepted a submit.
type lostAnswer struct{}

func (lostAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close()
	return nil, fmt.Errorf("read response: %w", io.ErrUnexpectedEOF)
}

// falLosingAnswers is a client of the simulator whose submits reach it but
// whose answers are lost.
func (b *testBundle) falLosingAnswers() *fal.Client {
	return fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key", HTTPClient: &http.Client{Transport: lostAnswer{}}})
}

// snoozed returns the duration of a river.JobSnooze error.
func snoozed(t *testing.T, err error) time.Duration {
	t.Helper()
	var snooze *river.JobSnoozeError
	require.ErrorAs(t, err, &snooze)
	return snooze.Duration
}

// canceller returns a Canceller with a River client that is never started.
func (b *testBundle) canceller(t *testing.T) *jobs.Canceller {
	t.Helper()
	riverClient, err := jobs.NewRiverClient(b.pool, b.cfg)
	require.NoError(t, err)
	return jobs.NewCanceller(b.pool, riverClient, b.cfg.Fal, b.cfg.Logger)
}
