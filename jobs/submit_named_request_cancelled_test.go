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
// id to named: what fal's records would show. Calls about a request
// (status, cancel) are fal's own answers.
type slowErrorNaming struct {
	status int
	during func()
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
	s.during()
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

			named := make(chan string, 1)
			during := b.cfg
			during.Fal = fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key", HTTPClient: &http.Client{
				Transport: slowErrorNaming{status: status, named: named, during: func() {
					cancelled, err := canceller.Cancel(b.ctx, gen.ID)
					require.NoError(t, err)
					require.Equal(t, store.StatusCancelled, cancelled.Status)
				}},
			}})
			require.NoError(t, b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, during), gen.ID), "nothing left to do")
			requestID := <-named

			got := b.generation(t, gen.ID)
			require.Equal(t, store.StatusCancelled, got.Status)
			require.NotNil(t, got.FalRequestID, "the request fal named is recorded")
			require.Equal(t, requestID, *got.FalRequestID)
			require.Equal(t, "cancelled", *got.ErrorCode, "the cancel's note is kept")
			require.Nil(t, got.SubmittedAt, "fal's acceptance was never recorded")
			submissions, confirmed := b.accounting(t, gen.ID)
			require.Equal(t, [2]int{1, 0}, [2]int{submissions, confirmed})

			statusURL, _, _ := b.fal.RequestURLs(got.EndpointID, requestID)
			atFal, err := b.fal.Status(b.ctx, statusURL)
			require.NoError(t, err)
			require.Equal(t, fal.StatusCompleted, atFal.Status)
			require.Equal(t, "client_cancelled", atFal.ErrorType, "the cancel reached fal")
			require.Equal(t, 1, b.sim.Sim.Stats().Submissions, "not submitted again")
		})
	}
}
