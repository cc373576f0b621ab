package jobs_test

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// Operations of fal's queue API that stallingTransport tells apart.
const (
	opStatus = "status"
	opResult = "result"
	opCancel = "cancel"
)

// stallingTransport holds calls to the simulator before they reach it: a
// call for which hold returns a channel waits until that channel is closed
// (and then goes on to the simulator) or its context ends.
type stallingTransport struct {
	hold func(requestID, op string) <-chan struct{}
	// arrived receives the request id of each call held, as it is.
	arrived chan string

	mu                  sync.Mutex
	waiting, mostAtOnce int
}

func (s *stallingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	requestID, op := falCall(req)
	if wait := s.hold(requestID, op); wait != nil {
		s.mu.Lock()
		s.waiting++
		s.mostAtOnce = max(s.mostAtOnce, s.waiting)
		s.mu.Unlock()
		s.arrived <- requestID
		select {
		case <-wait:
		case <-req.Context().Done():
		}
		s.mu.Lock()
		s.waiting--
		s.mu.Unlock()
		if err := req.Context().Err(); err != nil {
			return nil, err
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// atOnce returns the most calls held at the same time.
func (s *stallingTransport) atOnce() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mostAtOnce
}

// falCall names the request a call to the simulator's queue API is about,
// and the operation.
func falCall(req *http.Request) (requestID, op string) {
	segments := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	i := slices.Index(segments, "requests")
	if i < 0 || i+1 >= len(segments) {
		return "", ""
	}
	switch strings.Join(segments[i+2:], "/") {
	case "status":
		op = opStatus
	case "cancel":
		op = opCancel
	default:
		op = opResult
	}
	return segments[i+1], op
}

// stallFal makes the workers built from b.cfg call the simulator through a
// stallingTransport with hold; b's own client is left as it was.
func (b *testBundle) stallFal(hold func(requestID, op string) <-chan struct{}) *stallingTransport {
	st := &stallingTransport{hold: hold, arrived: make(chan string, 1000)}
	b.cfg.Fal = fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key", HTTPClient: &http.Client{Transport: st}})
	return st
}

// awaitHeld waits until st has held n calls, and returns their request ids.
func awaitHeld(t *testing.T, st *stallingTransport, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for len(ids) < n {
		select {
		case id := <-st.arrived:
			ids = append(ids, id)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d calls to fal held, want %d", len(ids), n)
		}
	}
	return ids
}

// reconcileAsync starts one run of the reconciler and returns where its
// result will be sent.
func (b *testBundle) reconcileAsync() <-chan error {
	w := jobs.NewReconcileWorker(b.pool, b.cfg)
	done := make(chan error, 1)
	go func() {
		done <- w.Work(b.ctx, &river.Job[jobs.ReconcileArgs]{JobRow: &rivertype.JobRow{ID: 2}})
	}()
	return done
}

// awaitRun waits for the run started by reconcileAsync to return.
func awaitRun(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the reconciler run did not return")
		return nil
	}
}

// reconcilePhase is one step of the reconciler, with how to get
// generations due for it and what it makes of them when fal answers.
type reconcilePhase struct {
	name string
	sim  falsim.Config
	// op is the call to fal that settles a generation in the step: the
	// poll's status, or the timeout's cancel (after a status call of its
	// own, which tests do not hold).
	op string
	// prepare makes b's submitted generations, gens, due for the step,
	// and b.cfg what the step needs. The step takes them in no order a
	// test can count on: ClaimPolls's claim returns rows as it updated
	// them.
	prepare    func(t *testing.T, b *testBundle, gens []*store.Generation)
	wantStatus store.Status
}

// reconcilePhases are the steps of the reconciler that call fal: polls,
// and timeouts.
var reconcilePhases = []reconcilePhase{
	{
		name: "polls",
		sim:  falsim.Config{WebhookDropRate: 1},
		op:   opStatus,
		prepare: func(t *testing.T, b *testBundle, gens []*store.Generation) {
			b.awaitCompletedAtFal(t, len(gens))
			b.cfg.PollAfter = time.Minute
			for _, gen := range gens {
				b.submittedAgo(t, gen.ID, time.Hour)
			}
		},
		wantStatus: store.StatusCompleted,
	},
	{
		name: "timeouts",
		sim:  falsim.Config{Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}},
		op:   opCancel,
		prepare: func(t *testing.T, b *testBundle, gens []*store.Generation) {
			b.cfg.Timeout = 30 * time.Minute
			for _, gen := range gens {
				b.submittedAgo(t, gen.ID, time.Hour)
			}
		},
		wantStatus: store.StatusFailed,
	},
}

// byRequestID indexes gens by their fal request id.
func byRequestID(gens []*store.Generation) map[string]*store.Generation {
	m := make(map[string]*store.Generation, len(gens))
	for _, gen := range gens {
		m[*gen.FalRequestID] = gen
	}
	return m
}

// submittedGenerations submits n generations to the simulator.
func (b *testBundle) submittedGenerations(t *testing.T, n int) []*store.Generation {
	t.Helper()
	gens := make([]*store.Generation, n)
	for i := range gens {
		gen := b.enqueue(t, "tests")
		require.NoError(t, b.submit(t, gen.ID))
		gens[i] = b.generation(t, gen.ID)
		require.Equal(t, store.StatusSubmitted, gens[i].Status)
	}
	return gens
}

// While fal does not answer the call about the first generation the
// reconciler asks about, it handles the rest of the batch, more than its
// concurrency, in the same run; answered at last, the first is handled
// too.
func TestReconcilerHandlesOthersWhileOneCallHangs(t *testing.T) {
	t.Parallel()
	for _, phase := range reconcilePhases {
		t.Run(phase.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, phase.sim)
			// A call timeout of 10s, the most: the held call must outlast
			// the others.
			b.cfg.RescueAfter = time.Hour
			gens := b.submittedGenerations(t, jobs.ReconcileConcurrency+2)
			phase.prepare(t, b, gens)
			var (
				holdOnce sync.Once
				release  = make(chan struct{})
			)
			st := b.stallFal(func(_, op string) <-chan struct{} {
				var held <-chan struct{}
				if op == phase.op {
					holdOnce.Do(func() { held = release })
				}
				return held
			})

			done := b.reconcileAsync()
			first := byRequestID(gens)[awaitHeld(t, st, 1)[0]]
			require.Eventually(t, func() bool {
				for _, gen := range gens {
					if gen != first && b.generation(t, gen.ID).Status != phase.wantStatus {
						return false
					}
				}
				return true
			}, 5*time.Second, 10*time.Millisecond, "the others are handled while the first call hangs")
			require.Equal(t, store.StatusSubmitted, b.generation(t, first.ID).Status)
			require.Empty(t, done, "the run waits for the held call")

			close(release)
			require.NoError(t, awaitRun(t, done))
			require.Equal(t, phase.wantStatus, b.generation(t, first.ID).Status)
		})
	}
}

// No more than ReconcileConcurrency calls to fal are in flight at once.
func TestReconcilerBoundsCallsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, reconcilePhases[0].sim)
	gens := b.submittedGenerations(t, jobs.ReconcileConcurrency+2)
	reconcilePhases[0].prepare(t, b, gens)
	release := make(chan struct{})
	st := b.stallFal(func(_, op string) <-chan struct{} {
		if op == opStatus {
			return release
		}
		return nil
	})

	done := b.reconcileAsync()
	awaitHeld(t, st, jobs.ReconcileConcurrency)
	require.Empty(t, done)
	close(release)
	require.NoError(t, awaitRun(t, done))
	require.Equal(t, jobs.ReconcileConcurrency, st.atOnce())
	for _, gen := range gens {
		require.Equal(t, store.StatusCompleted, b.generation(t, gen.ID).Status)
	}
}

// A call fal never answers gives up after the reconciler's call timeout (a
// quarter of the job's, which is half of EASEL_RESCUE_AFTER): the
// generation it was about is left for the next run, the failure logged
// and, where the reconciler notes one, noted; the other generation is
// handled as usual.
func TestReconcilerCallTimeoutFailsOnlyItsGeneration(t *testing.T) {
	t.Parallel()
	const noAnswer = "no answer from fal within 625ms: "
	polls, timeouts := reconcilePhases[0], reconcilePhases[1]

	for _, tt := range []struct {
		name  string
		phase reconcilePhase
		op    string
		// wantLog is the message of the warning about the hung generation.
		wantLog string
		// check checks the hung generation after the run.
		check func(t *testing.T, got *store.Generation)
		// wantNext is its status after a run where fal answers.
		wantNext store.Status
	}{
		{
			name: "status", phase: polls, op: opStatus,
			wantLog: "reconciler could not fetch a result from fal; will retry",
			check: func(t *testing.T, got *store.Generation) {
				require.Equal(t, store.StatusSubmitted, got.Status)
				require.Nil(t, got.ErrorCode, "nothing to note: fal did not say it finished")
			},
			wantNext: store.StatusCompleted,
		},
		{
			name: "result", phase: polls, op: opResult,
			wantLog: "fal reported the request finished but its result could not be fetched; will retry",
			check: func(t *testing.T, got *store.Generation) {
				require.Equal(t, store.StatusSubmitted, got.Status)
				require.Equal(t, store.ErrorCodeResultUnavailable, *got.ErrorCode)
				require.Contains(t, *got.ErrorMessage, noAnswer+"fal result: ")
			},
			wantNext: store.StatusCompleted,
		},
		{
			name: "cancel", phase: timeouts, op: opCancel,
			wantLog: "could not cancel a timed out request at fal",
			check: func(t *testing.T, got *store.Generation) {
				require.Equal(t, store.StatusFailed, got.Status)
				require.Equal(t, store.ErrorCodeTimeout, *got.ErrorCode)
				require.Contains(t, *got.ErrorMessage, "; cancelling it at fal failed: "+noAnswer+"fal cancel: ")
			},
			wantNext: store.StatusFailed,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.phase.sim)
			logs := &logtest.Buffer{}
			b.cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			// A job timeout of 2.5s, a call timeout of 625ms.
			b.cfg.RescueAfter = 5 * time.Second
			gens := b.submittedGenerations(t, 2)
			tt.phase.prepare(t, b, gens)
			hung, other := gens[0], gens[1]
			never := make(chan struct{})
			st := b.stallFal(func(requestID, op string) <-chan struct{} {
				if requestID == *hung.FalRequestID && op == tt.op {
					return never
				}
				return nil
			})

			b.reconcile(t)
			require.Equal(t, []string{*hung.FalRequestID}, awaitHeld(t, st, 1))
			tt.check(t, b.generation(t, hung.ID))
			require.Equal(t, tt.phase.wantStatus, b.generation(t, other.ID).Status)
			if tt.phase.wantStatus == store.StatusFailed {
				require.Equal(t, "fal did not finish within EASEL_TIMEOUT (30m0s) of the submission; cancelled at fal",
					*b.generation(t, other.ID).ErrorMessage)
			}

			var logged bool
			for _, entry := range logs.Lines(t, tt.wantLog) {
				require.Equal(t, hung.ID.String(), entry["generation_id"], "only the hung generation failed")
				require.Contains(t, entry["error"], noAnswer)
				logged = true
			}
			require.True(t, logged, logs.String())

			// fal answers again: the next run settles what it can.
			b.cfg.Fal = b.fal
			b.cfg.PollAfter = time.Nanosecond
			b.reconcile(t)
			require.Equal(t, tt.wantNext, b.generation(t, hung.ID).Status)
		})
	}
}

// A database error in one generation's handling fails the run: the calls
// in flight for the others are cancelled, and those not started yet are
// left untouched; those claimed for a poll are due again at once rather
// than after EASEL_POLL_AFTER.
func TestReconcilerDatabaseErrorStopsTheStep(t *testing.T) {
	t.Parallel()
	for _, phase := range reconcilePhases {
		t.Run(phase.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, phase.sim)
			// 1 refused, ReconcileConcurrency-1 in flight, 3 not started.
			gens := b.submittedGenerations(t, jobs.ReconcileConcurrency+3)
			phase.prepare(t, b, gens)
			_, err := b.pool.Exec(b.ctx, `
				CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
				CREATE TRIGGER refuse BEFORE UPDATE ON generations FOR EACH ROW
					WHEN (NEW.finished_at IS NOT NULL) EXECUTE FUNCTION refuse()`)
			require.NoError(t, err)
			// Every first call waits: one is let through once all slots
			// are taken, the others until their context ends.
			gates := make(map[string]chan struct{}, len(gens))
			for _, gen := range gens {
				gates[*gen.FalRequestID] = make(chan struct{})
			}
			st := b.stallFal(func(requestID, op string) <-chan struct{} {
				if op == phase.op {
					return gates[requestID]
				}
				return nil
			})

			done := b.reconcileAsync()
			held := awaitHeld(t, st, jobs.ReconcileConcurrency)
			refused := held[0]
			close(gates[refused])
			require.ErrorContains(t, awaitRun(t, done), "disk full")

			for _, gen := range gens {
				require.Equal(t, store.StatusSubmitted, b.generation(t, gen.ID).Status, "nothing recorded")
			}
			var notStarted []uuid.UUID
			for _, gen := range gens {
				if !slices.Contains(held, *gen.FalRequestID) {
					notStarted = append(notStarted, gen.ID)
				}
			}
			require.Len(t, notStarted, 3)
			if phase.op == opCancel {
				for _, gen := range gens {
					if *gen.FalRequestID != refused {
						require.Equal(t, fal.StatusInProgress, b.falStatus(t, gen).Status, "no other cancel reached fal")
					}
				}
				return
			}
			due, err := store.ClaimPolls(b.ctx, b.pool, b.cfg.PollAfter, jobs.ReconcileBatch)
			require.NoError(t, err)
			var dueIDs []uuid.UUID
			for _, gen := range due {
				dueIDs = append(dueIDs, gen.ID)
			}
			require.ElementsMatch(t, notStarted, dueIDs, "unclaimed: only those never asked about")
		})
	}
}
