package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/resource"
	"github.com/easelhq/easel/store"
)

// cancelBundle serves /v1 with a Canceller against a simulated fal.
type cancelBundle struct {
	*testBundle
	sim         *falsim.Server
	fal         *fal.Client
	riverClient *river.Client[pgx.Tx]
	handler     *api.Handler
	logger      *slog.Logger
	// logs holds what the handler and its Canceller log.
	logs *logtest.Buffer
}

func setupCancel(t *testing.T, simCfg falsim.Config, withCanceller bool) *cancelBundle {
	t.Helper()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	sim, err := falsim.Start(ctx, "127.0.0.1:0", simCfg)
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	falClient := fal.NewClient(fal.ClientConfig{QueueURL: sim.QueueURL(), Key: "test-key"})

	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	handler := api.NewHandler(pool, logger)
	// Nothing is submitted here, so the webhook URL is never handed to fal.
	riverClient, err := jobs.NewRiverClient(pool, jobs.Config{Fal: falClient, PublicURL: "http://easel.example", Logger: logger})
	require.NoError(t, err)
	if withCanceller {
		handler.WithCanceller(jobs.NewCanceller(pool, riverClient, falClient, logger))
	}
	e := echo.New()
	e.HTTPErrorHandler = apierror.Handler(logger)
	e.GET("/openapi.yaml", api.ServeOpenAPI)
	handler.Register(e.Group("/v1"))
	b := &cancelBundle{
		testBundle: &testBundle{ctx: ctx, pool: pool, echo: e}, sim: sim, fal: falClient, riverClient: riverClient,
		handler: handler, logger: logger, logs: logs,
	}
	b.loadOpenAPI(t)
	return b
}

// queued enqueues a generation.
func (b *cancelBundle) queued(t *testing.T) *store.Generation {
	t.Helper()
	var gen *store.Generation
	require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		enqueued, err := jobs.Enqueue(b.ctx, tx, "tests", falExampleInput, nil)
		if err == nil {
			gen = enqueued.Generation
		}
		return err
	}))
	return gen
}

// submitted enqueues a generation and submits it to the simulator, as the
// worker does, without its webhook URL: no webhook ever comes.
func (b *cancelBundle) submitted(t *testing.T) *store.Generation {
	t.Helper()
	gen := b.queued(t)
	_, err := store.MarkSubmitting(b.ctx, b.pool, gen.ID)
	require.NoError(t, err)
	resp, err := b.fal.Submit(b.ctx, fal.SubmitRequest{EndpointID: gen.EndpointID, Input: gen.Input})
	require.NoError(t, err)
	gen, err = store.RecordSubmitted(b.ctx, b.pool, gen.ID, store.Submission{
		RequestID: resp.RequestID, StatusURL: resp.StatusURL, ResponseURL: resp.ResponseURL, CancelURL: resp.CancelURL,
	})
	require.NoError(t, err)
	return gen
}

// cancel asks to cancel generation id; the answer is checked against
// openapi.yaml.
func (b *cancelBundle) cancel(t *testing.T, id string) (int, []byte) {
	t.Helper()
	resp := b.do(t, http.MethodPost, "/v1/generations/"+id+"/cancel", nil, nil)
	return resp.status, resp.body
}

func TestCancelEndpoint(t *testing.T) {
	t.Parallel()

	running := falsim.Config{Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}}
	tests := []struct {
		name          string
		sim           falsim.Config
		noCanceller   bool
		canceller     func(b *cancelBundle) api.Canceller // replaces the jobs.Canceller
		generation    func(t *testing.T, b *cancelBundle) string
		wantStatus    int
		wantCode      string // error code, for errors
		wantMessage   string // part of the error message
		wantGenStatus store.Status
		wantWarning   string // logged at WARN with the generation's id
	}{
		{
			name:       "queued",
			generation: func(t *testing.T, b *cancelBundle) string { return b.queued(t).ID.String() },
			wantStatus: http.StatusOK, wantGenStatus: store.StatusCancelled,
		},
		{
			name:       "submitted and running at fal",
			sim:        running,
			generation: func(t *testing.T, b *cancelBundle) string { return b.submitted(t).ID.String() },
			wantStatus: http.StatusOK, wantGenStatus: store.StatusCancelled,
		},
		{
			name: "submitted but already completed at fal",
			generation: func(t *testing.T, b *cancelBundle) string {
				gen := b.submitted(t)
				require.Eventually(t, func() bool { return b.sim.Sim.Stats().Completed == 1 }, 10*time.Second, 5*time.Millisecond)
				return gen.ID.String()
			},
			wantStatus: http.StatusConflict, wantCode: "already_finished", wantGenStatus: store.StatusCompleted,
			wantMessage: "is completed and can no longer be cancelled",
		},
		{
			name: "completed at fal, result not fetched yet",
			sim:  running,
			// As jobs.Canceller answers when fal's result cannot be fetched
			// after fal refused the cancel as ALREADY_COMPLETED.
			canceller:  func(b *cancelBundle) api.Canceller { return finishedAtFal{b.pool} },
			generation: func(t *testing.T, b *cancelBundle) string { return b.submitted(t).ID.String() },
			wantStatus: http.StatusConflict, wantCode: "already_finished", wantGenStatus: store.StatusSubmitted,
			wantMessage: "fal had already completed generation",
		},
		{
			name: "finished",
			generation: func(t *testing.T, b *cancelBundle) string {
				gen := b.queued(t)
				_, err := store.Fail(b.ctx, b.pool, gen.ID, "fal_rejected", "no")
				require.NoError(t, err)
				return gen.ID.String()
			},
			wantStatus: http.StatusConflict, wantCode: "already_finished", wantGenStatus: store.StatusFailed,
		},
		{
			name: "fal unreachable",
			sim:  running,
			generation: func(t *testing.T, b *cancelBundle) string {
				gen := b.submitted(t)
				b.sim.Close()
				return gen.ID.String()
			},
			wantStatus: http.StatusBadGateway, wantCode: "fal_unavailable", wantGenStatus: store.StatusSubmitted,
			wantMessage: "fal could not be asked to cancel the request; nothing changed, try again",
			wantWarning: "connection refused",
		},
		{
			name: "fal's answer lost",
			sim:  running,
			// The cancel reaches fal, which cancels the request, but its
			// answer is lost, as when fal is too slow to answer in time.
			canceller: func(b *cancelBundle) api.Canceller {
				lost := fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key", HTTPClient: &http.Client{Transport: lostAnswer{}}})
				return jobs.NewCanceller(b.pool, b.riverClient, lost, b.logger)
			},
			generation: func(t *testing.T, b *cancelBundle) string { return b.submitted(t).ID.String() },
			wantStatus: http.StatusBadGateway, wantCode: "fal_unavailable", wantGenStatus: store.StatusSubmitted,
			wantMessage: "fal did not confirm the cancel, but it may have reached fal: if fal cancelled the request, generation ",
			wantWarning: "unexpected EOF",
		},
		{
			name: "database error",
			// Not fal's: a 500, never fal_unavailable.
			canceller:  func(*cancelBundle) api.Canceller { return failingCanceller{errors.New("deadlock detected")} },
			generation: func(t *testing.T, b *cancelBundle) string { return b.queued(t).ID.String() },
			wantStatus: http.StatusInternalServerError, wantCode: "internal", wantGenStatus: store.StatusQueued,
		},
		{
			name:       "unknown",
			generation: func(*testing.T, *cancelBundle) string { return "01000000-0000-7000-8000-000000000000" },
			wantStatus: http.StatusNotFound, wantCode: "not_found",
		},
		{
			name:       "not an id",
			generation: func(*testing.T, *cancelBundle) string { return "nope" },
			wantStatus: http.StatusNotFound, wantCode: "not_found",
		},
		{
			name:        "process without a canceller",
			noCanceller: true,
			generation:  func(t *testing.T, b *cancelBundle) string { return b.queued(t).ID.String() },
			wantStatus:  http.StatusServiceUnavailable, wantCode: "cancel_unavailable", wantGenStatus: store.StatusQueued,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupCancel(t, tt.sim, !tt.noCanceller)
			if tt.canceller != nil {
				b.handler.WithCanceller(tt.canceller(b))
			}
			id := tt.generation(t, b)

			status, body := b.cancel(t, id)
			require.Equal(t, tt.wantStatus, status, string(body))
			var resp struct {
				resource.Generation
				Error *struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal(body, &resp))
			if tt.wantCode != "" {
				require.Equal(t, tt.wantCode, resp.Error.Code)
				require.Contains(t, resp.Error.Message, tt.wantMessage)
			} else {
				require.Equal(t, tt.wantGenStatus, resp.Status)
			}
			if tt.wantGenStatus != "" {
				var stored store.Status
				require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT status FROM generations WHERE id = $1`, id).Scan(&stored))
				require.Equal(t, tt.wantGenStatus, stored)
			}
			if tt.wantWarning != "" {
				// fal failing is expected, not Easel's error.
				logs := b.logs.String()
				require.NotContains(t, logs, "level=ERROR")
				require.Regexp(t, `level=WARN msg="cancel generation: [^"]*" generation_id=`+id+` error=".*`+regexp.QuoteMeta(tt.wantWarning), logs)
			}
		})
	}
}

// finishedAtFal answers as jobs.Canceller does when fal had completed the
// request but its result could not be fetched yet: the generation as
// stored, still submitted, and jobs.ErrFinished.
type finishedAtFal struct{ pool *pgxpool.Pool }

func (f finishedAtFal) Cancel(ctx context.Context, id uuid.UUID) (*store.Generation, error) {
	gen, err := store.GetGeneration(ctx, f.pool, id)
	if err != nil {
		return nil, err
	}
	return gen, fmt.Errorf("cancel generation %s: %w", id, jobs.ErrFinished)
}

// failingCanceller fails every cancel with err.
type failingCanceller struct{ err error }

func (f failingCanceller) Cancel(context.Context, uuid.UUID) (*store.Generation, error) {
	return nil, f.err
}

// lostAnswer is a transport that delivers each request and then loses the
// answer, as when a connection breaks after fal received a cancel.
type lostAnswer struct{}

func (lostAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close()
	return nil, fmt.Errorf("read response: %w", io.ErrUnexpectedEOF)
}
