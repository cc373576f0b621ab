package jobs_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/store"
)

// A generation waiting in fal's queue says so from its submission: fal's
// answer to the submit, IN_QUEUE with the requests ahead of it, is
// recorded with the answer, not only once the reconciler asks
// EASEL_POLL_AFTER later.
func TestSubmissionRecordsFalQueuePosition(t *testing.T) {
	t.Parallel()
	b := setup(t, busyFal)
	var answers []*fal.QueueResponse
	b.cfg.Fal = falHook{Fal: b.fal, after: func(resp *fal.QueueResponse) { answers = append(answers, resp) }}

	gens := b.submittedGenerations(t, 3)
	require.Len(t, answers, len(gens))
	require.NotNil(t, answers[2].QueuePosition)
	require.Positive(t, *answers[2].QueuePosition, "one request runs, one waits ahead of the third")
	for i, gen := range gens {
		require.Equal(t, answers[i].RequestID, *gen.FalRequestID)
		b.requireFalStatus(t, gen, wantFalStatus{status: fal.StatusInQueue, position: answers[i].QueuePosition})
	}
}

// A generation that fal's result finishes, delivered by webhook or
// fetched by the reconciler, completed or failed by fal, records fal's
// status COMPLETED, with no queue position: not the IN_QUEUE of its
// submission, or whatever a poll saw last.
func TestResultRecordsFalStatusCompleted(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name       string
		sim        falsim.Config
		byWebhook  bool
		wantStatus store.Status
	}{
		{name: "completed by webhook", sim: falsim.Config{}, byWebhook: true, wantStatus: store.StatusCompleted},
		{name: "failed by fal, by webhook", sim: falsim.Config{FailRate: 1}, byWebhook: true, wantStatus: store.StatusFailed},
		{name: "completed by polling", sim: falsim.Config{WebhookDropRate: 1}, wantStatus: store.StatusCompleted},
		{name: "failed by fal, by polling", sim: falsim.Config{WebhookDropRate: 1, FailRate: 1}, wantStatus: store.StatusFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.sim)
			// The webhook waits until the submission is recorded, so that
			// the result replaces the submission's IN_QUEUE.
			// Released on failure too, or the receiver's shutdown would wait
			// for the held delivery for ever.
			b.holdWebhooks.Lock()
			release := sync.OnceFunc(b.holdWebhooks.Unlock)
			t.Cleanup(release)
			gen := b.enqueue(t, "tests")
			require.NoError(t, b.submit(t, gen.ID))
			submitted := b.requireFalStatus(t, gen, wantFalStatus{status: fal.StatusInQueue, position: position(0)})
			release()

			if tt.byWebhook {
				b.awaitDelivery(t)
			} else {
				b.awaitCompletedAtFal(t, 1)
				b.cfg.PollAfter = time.Nanosecond
				b.reconcile(t)
			}
			got := b.requireFalStatus(t, gen, wantFalStatus{status: fal.StatusCompleted})
			require.Equal(t, tt.wantStatus, got.Status)
			require.Equal(t, tt.byWebhook, got.LastWebhookAt != nil)
			require.False(t, got.FalStatusAt.Before(*submitted.FalStatusAt))
			require.False(t, got.FalStatusAt.After(*got.FinishedAt), "stamped by the statement that finished it")
		})
	}
}

// Before a timed out or cancelled generation's request is cancelled at
// fal, fal is asked for its status, which the generation keeps: what fal
// was doing with it just before, IN_PROGRESS (running, and billed) or
// IN_QUEUE with its position, not the stale status of its submission.
func TestCancelRecordsFalStatusBeforeTheCancel(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		// queued picks a request still waiting at fal rather than the one
		// fal runs.
		queued bool
		// end ends gen, as the reconciler's timeout or the API's cancel
		// does, and returns the status it should have.
		end        func(t *testing.T, b *testBundle, gen *store.Generation) store.Status
		wantStatus string
	}{
		{name: "timeout of a running request", end: timeOutNow, wantStatus: fal.StatusInProgress},
		{name: "timeout of a queued request", queued: true, end: timeOutNow, wantStatus: fal.StatusInQueue},
		{name: "cancel of a running request", end: cancelNow, wantStatus: fal.StatusInProgress},
		{name: "cancel of a queued request", queued: true, end: cancelNow, wantStatus: fal.StatusInQueue},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, busyFal)
			gens := b.submittedGenerations(t, 3)
			gen := gens[0]
			if tt.queued {
				// The first ends at fal: the second runs, and the third
				// moves up from where its submission left it.
				_, err := b.fal.Cancel(b.ctx, *gens[0].FalCancelURL)
				require.NoError(t, err)
				gen = gens[2]
			}
			atFal := b.falStatus(t, gen)
			require.Equal(t, tt.wantStatus, atFal.Status)
			submitted := b.generation(t, gen.ID)
			require.NotEqual(t, [2]any{atFal.Status, atFal.QueuePosition}, [2]any{*submitted.FalStatus, submitted.FalQueuePosition},
				"the submission's status is stale")

			wantEnded := tt.end(t, b, gen)
			got := b.requireFalStatus(t, gen, wantFalStatus{status: atFal.Status, position: atFal.QueuePosition})
			require.Equal(t, wantEnded, got.Status)
			require.True(t, got.FalStatusAt.After(*submitted.FalStatusAt))
			requireCancelledAtFal(t, b, gen)
		})
	}
}

// timeOutNow makes gen overdue and runs the reconciler, which times it out.
func timeOutNow(t *testing.T, b *testBundle, gen *store.Generation) store.Status {
	t.Helper()
	b.cfg.Timeout = 30 * time.Minute
	b.submittedAgo(t, gen.ID, time.Hour)
	b.reconcile(t)
	got := b.generation(t, gen.ID)
	require.Equal(t, store.ErrorCodeTimeout, *got.ErrorCode)
	require.Contains(t, *got.ErrorMessage, "; cancelled at fal")
	return store.StatusFailed
}

// cancelNow cancels gen as the API does.
func cancelNow(t *testing.T, b *testBundle, gen *store.Generation) store.Status {
	t.Helper()
	got, err := b.canceller(t).Cancel(b.ctx, gen.ID)
	require.NoError(t, err)
	require.Equal(t, "cancelled at fal", *got.ErrorMessage)
	return store.StatusCancelled
}

// requireCancelledAtFal requires fal to hold gen's request as cancelled by
// its owner.
func requireCancelledAtFal(t *testing.T, b *testBundle, gen *store.Generation) {
	t.Helper()
	status := b.falStatus(t, gen)
	require.Equal(t, [2]string{fal.StatusCompleted, "client_cancelled"}, [2]string{status.Status, status.ErrorType})
}

// statusFails is a transport to the simulator on which fal answers every
// status call 500, as in an outage of fal's status route; the other calls,
// the cancel among them, reach the simulator. It stands in front of the
// simulator rather than pointing the row at a URL that fails, because the
// client would refuse such a URL and fall back to the one built from the
// request's ids, which works.
type statusFails struct{}

func (statusFails) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, op := falCall(req); op == opStatus {
		return &http.Response{
			StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error",
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:  http.Header{"Content-Type": {"application/json"}},
			Body:    io.NopCloser(strings.NewReader(`{"detail": "Internal Server Error"}`)),
			Request: req,
		}, nil
	}
	return http.DefaultTransport.RoundTrip(req)
}

// When fal cannot say the request's status, the timeout or cancel still
// cancels it at fal: the failure is logged at WARN, naming the generation
// and the request, and the generation keeps the status it had.
func TestCancelWhenFalStatusFails(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		end  func(t *testing.T, b *testBundle, gen *store.Generation) store.Status
	}{
		{name: "timeout", end: timeOutNow},
		{name: "cancel", end: cancelNow},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, running)
			logs := &logtest.Buffer{}
			b.cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			gen := b.submittedGenerations(t, 1)[0]
			b.cfg.Fal = fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key", HTTPClient: &http.Client{Transport: statusFails{}}})

			wantEnded := tt.end(t, b, gen)
			got := b.requireFalStatus(t, gen, wantFalStatus{status: *gen.FalStatus, position: gen.FalQueuePosition})
			require.Equal(t, wantEnded, got.Status)
			require.True(t, got.FalStatusAt.Equal(*gen.FalStatusAt), "nothing new recorded")
			requireCancelledAtFal(t, b, gen)

			lines := logs.Lines(t, "could not ask fal for the request's status before cancelling it; cancelling it anyway, its status left unrecorded")
			require.Len(t, lines, 1, logs.String())
			require.Equal(t, "WARN", lines[0]["level"])
			require.Equal(t, gen.ID.String(), lines[0]["generation_id"])
			require.Equal(t, *gen.FalRequestID, lines[0]["fal_request_id"])
			require.Contains(t, lines[0]["error"], "HTTP 500")
		})
	}
}
