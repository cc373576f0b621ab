package jobs_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// slowErrorNaming delivers each submit to fal, which queues it, runs during
// while Easel still waits for the answer, then answers Easel with status
// and x-fal-request-id naming the queued request, as fal's ingress failing
// slowly after the queue accepted the request would. It sends the request
// id to named, what fal's records would show, and to during. Calls about a
// request (status, cancel) are fal's own answers.
type slowErrorNaming struct {
	status int
	during func(requestID string)
	named  chan<- string
}

func (s slowErrorNaming) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || strings.Contains(req.URL.Path, "/requests/") {
		return resp, err
	}
	defer resp.Body.Close()
	var answer struct {
		RequestID string `json:"request_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, err
	}
	s.named <- answer.RequestID
	s.during(answer.RequestID)
	return &http.Response{
		StatusCode: s.status,
		Status:     http.StatusText(s.status),
		Header:     http.Header{"Content-Type": {"application/json"}, "X-Fal-Request-Id": {answer.RequestID}},
		Body:       io.NopCloser(strings.NewReader(`{"detail": "upstream unavailable"}`)),
		Request:    req,
	}, nil
}

// A generation cancelled while its submit call is under way, the call
// answered with an error that names the request fal queued, records that
// request and has it cancelled at fal at once, as when fal's answer accepts
// it (TestCancelledDuringSubmitIsCancelledAtFal). Otherwise the request
// would run and bill, and, its webhook lost, nothing would name it: the
// generation would show 1 submission, none confirmed, and no request.
func TestCancelledDuringSubmitAnsweredWithNamedErrorIsCancelledAtFal(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusBadGateway} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{WebhookDropRate: 1, Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}})
			gen := b.enqueue(t, "tests")
			canceller := b.canceller(t)

			w, named := b.erroringSubmitWorker(status, func(string) {
				cancelled, err := canceller.Cancel(b.ctx, gen.ID)
				require.NoError(t, err)
				require.Equal(t, store.StatusCancelled, cancelled.Status)
			})
			require.NoError(t, b.submitWith(t, w, gen.ID), "nothing left to do")
			requestID := <-named

			got := b.generation(t, gen.ID)
			require.Equal(t, store.StatusCancelled, got.Status)
			require.NotNil(t, got.FalRequestID, "the request fal named is recorded")
			require.Equal(t, requestID, *got.FalRequestID)
			require.Equal(t, store.ErrorCodeCancelled, *got.ErrorCode, "the cancel's note is kept")
			require.Nil(t, got.SubmittedAt, "fal's acceptance was never recorded")
			submissions, confirmed := b.accounting(t, gen.ID)
			require.Equal(t, [2]int{1, 0}, [2]int{submissions, confirmed})

			statusURL, _, _ := b.fal.RequestURLs(got.EndpointID, requestID)
			atFal, err := b.fal.Status(b.ctx, statusURL)
			require.NoError(t, err)
			require.Equal(t, fal.StatusCompleted, atFal.Status)
			require.Equal(t, "client_cancelled", atFal.ErrorType, "the cancel reached fal")
			require.Equal(t, cancelRecord{GenerationID: gen.ID, Reason: store.FalCancelSuperseded, Answer: ptr(store.FalCancelRequested),
				Answered: true, Attempts: 1}, b.cancelRecord(t, requestID), "fal's answer is recorded")
			require.Equal(t, 1, b.sim.Sim.Stats().Submissions, "not submitted again")
		})
	}
}

// erroringSubmitWorker returns a submit worker whose calls to fal are
// answered with status naming the request fal queued, after during ran
// with that request's id (slowErrorNaming), and the channel that receives
// the id.
func (b *testBundle) erroringSubmitWorker(status int, during func(requestID string)) (*jobs.SubmitGenerationWorker, <-chan string) {
	named := make(chan string, 1)
	cfg := b.cfg
	cfg.Fal = fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key", HTTPClient: &http.Client{
		Transport: slowErrorNaming{status: status, named: named, during: during},
	}})
	return jobs.NewSubmitGenerationWorker(b.pool, cfg), named
}

// A generation that the very request fal's 5xx names finished during the
// call (its webhook came first, and was applied) needs nothing cancelled:
// the request is the generation's, its result kept, and fal is not asked
// to cancel it, nor is a cancel written down.
func TestCompletedDuringSubmitByNamedRequestIsNotCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1, Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}})
	gen := b.enqueue(t, "tests")
	w, named := b.erroringSubmitWorker(http.StatusServiceUnavailable, func(requestID string) {
		require.Equal(t, store.OutcomeApplied, b.deliverSigned(t, gen.ID, requestID, okWebhook(requestID)))
	})
	require.NoError(t, b.submitWith(t, w, gen.ID), "nothing left to do")
	requestID := <-named

	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Equal(t, requestID, *got.FalRequestID)
	var cancels int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM fal_request_cancels WHERE generation_id = $1`, gen.ID).Scan(&cancels))
	require.Zero(t, cancels, "no cancel written down")
	statusURL, _, _ := b.fal.RequestURLs(got.EndpointID, requestID)
	atFal, err := b.fal.Status(b.ctx, statusURL)
	require.NoError(t, err)
	require.Equal(t, fal.StatusInProgress, atFal.Status, "never cancelled at fal")
	require.Equal(t, 1, b.sim.Sim.Stats().Submissions, "not submitted again")
}

// A generation that another request finished during the call (an earlier
// submission's, whose answer was lost) has the request fal's 5xx named
// cancelled at fal, and kept in fal_request_cancels, superseded, with
// fal's answer: the generation records the other request, so that row is
// the only place the named one, which fal may bill, is found.
func TestCompletedDuringSubmitByAnotherRequestCancelsNamedRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1, Latency: falsim.Latency{Min: time.Hour, Max: time.Hour}})
	b.cfg.PollAfter = time.Nanosecond // the first submission's webhook is late: submit again
	gen := b.enqueue(t, "tests")

	ids := make(chan string, 1)
	lost := b.cfg
	lost.Fal = fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key",
		HTTPClient: &http.Client{Transport: lostAnswerNoting{ids}}})
	snoozed(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), gen.ID))
	first := receive(t, ids)

	w, named := b.erroringSubmitWorker(http.StatusServiceUnavailable, func(string) {
		require.Equal(t, store.OutcomeApplied, b.deliverSigned(t, gen.ID, first, okWebhook(first)))
	})
	require.NoError(t, b.submitWith(t, w, gen.ID), "nothing left to do")
	second := <-named

	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusCompleted, got.Status)
	require.Equal(t, first, *got.FalRequestID, "completed with the first submission's result")
	require.Equal(t, cancelRecord{GenerationID: gen.ID, Reason: store.FalCancelSuperseded, Answer: ptr(store.FalCancelRequested),
		Answered: true, Attempts: 1}, b.cancelRecord(t, second))
	require.Empty(t, b.pendingCancels(t, gen.ID))
	statusURL, _, _ := b.fal.RequestURLs(got.EndpointID, second)
	atFal, err := b.fal.Status(b.ctx, statusURL)
	require.NoError(t, err)
	require.Equal(t, [2]string{fal.StatusCompleted, "client_cancelled"}, [2]string{atFal.Status, atFal.ErrorType}, "the cancel reached fal")
	require.Equal(t, 2, b.sim.Sim.Stats().Submissions)
}
