package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

// answerAfterJobTimeout delivers each request, then holds fal's answer
// until the request's context ends, as a fal slower to answer a submit than
// the submit job's timeout does: fal accepted the request, Easel never
// learns it. The request ids fal gave go to ids.
type answerAfterJobTimeout struct{ ids chan<- string }

func (a answerAfterJobTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	// fal receives the request however little of the job's time is left:
	// only its answer is late.
	resp, err := http.DefaultTransport.RoundTrip(req.WithContext(context.WithoutCancel(req.Context())))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var answer struct {
		RequestID string `json:"request_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, err
	}
	a.ids <- answer.RequestID
	<-req.Context().Done()
	return nil, req.Context().Err()
}

// jobTimeout is the submit job's timeout in these tests: River ends each
// run's context after it, as it does after half of EASEL_RESCUE_AFTER.
const jobTimeout = time.Second

// slowAnswers returns a submit worker whose every submit is accepted by the
// simulator and answered after the job's timeout, the request ids going to
// the returned channel.
func (b *testBundle) slowAnswers(t *testing.T) (*jobs.SubmitGenerationWorker, <-chan string) {
	t.Helper()
	ids := make(chan string, 100)
	cfg := b.cfg
	cfg.RescueAfter = 2 * jobTimeout
	cfg.Fal = fal.NewClient(fal.ClientConfig{QueueURL: b.sim.QueueURL(), Key: "test-key",
		HTTPClient: &http.Client{Transport: answerAfterJobTimeout{ids}}})
	return jobs.NewSubmitGenerationWorker(b.pool, cfg), ids
}

// receive returns the next request id the simulator gave.
func receive(t *testing.T, ids <-chan string) string {
	t.Helper()
	select {
	case id := <-ids:
		return id
	case <-time.After(10 * time.Second):
		t.Fatal("no request reached the simulator")
		return ""
	}
}

// runTimed runs w once on id as River does, its context ending after
// jobTimeout.
func (b *testBundle) runTimed(t *testing.T, w *jobs.SubmitGenerationWorker, id uuid.UUID) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, jobTimeout)
	defer cancel()
	return w.Work(ctx, &river.Job[jobs.SubmitGenerationArgs]{
		JobRow: &rivertype.JobRow{ID: 1, Attempt: 1, MaxAttempts: 15},
		Args:   jobs.SubmitGenerationArgs{GenerationID: id},
	})
}

// unconfirmedMessage starts the note of a generation held back after
// jobs.MaxUnconfirmedSubmissions submissions whose answers never came.
const unconfirmedMessage = "fal may have accepted, and may bill, 3 submissions of this generation whose answers never reached Easel, and no webhook came: "

// fal's answer to every submit comes after the job's timeout and no webhook
// comes: the generation is submitted jobs.MaxUnconfirmedSubmissions times,
// never more however often its job runs, and waits, noted, until the
// reconciler times it out EASEL_TIMEOUT after its first submission, though
// its latest one is recent.
func TestUnansweredSubmissionsAreCapped(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{WebhookDropRate: 1})
	b.cfg.PollAfter = time.Nanosecond // no webhook to wait for: submit again at once
	b.cfg.Timeout = time.Hour
	gen := b.enqueue(t, "tests")
	w, _ := b.slowAnswers(t)

	for range 10 {
		require.Equal(t, b.cfg.PollAfter, snoozed(t, b.runTimed(t, w, gen.ID)))
	}

	stats := b.sim.Sim.Stats()
	require.Equal(t, jobs.MaxUnconfirmedSubmissions, stats.Submissions, "fal accepted each submission")
	require.Equal(t, jobs.MaxUnconfirmedSubmissions-1, stats.DuplicateSubmissions)
	submissions, confirmed := b.accounting(t, gen.ID)
	require.Equal(t, [2]int{jobs.MaxUnconfirmedSubmissions, 0}, [2]int{submissions, confirmed})
	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusQueued, got.Status)
	require.Equal(t, jobs.MaxUnconfirmedSubmissions, got.Attempts)
	require.Equal(t, store.ErrorCodeSubmitUnconfirmed, *got.ErrorCode)
	require.True(t, strings.HasPrefix(*got.ErrorMessage, unconfirmedMessage+"not submitting again (at most 3 are made); "+
		"waiting for a webhook until EASEL_TIMEOUT (1h0m0s) after the first submission, then the reconciler fails it with code timeout; "+
		"last submit error: no answer from fal within the submit job's timeout ("+jobTimeout.String()+", half of EASEL_RESCUE_AFTER): fal submit: Post "),
		*got.ErrorMessage)
	require.True(t, strings.HasSuffix(*got.ErrorMessage, ": context deadline exceeded"), *got.ErrorMessage)

	b.reconcile(t)
	require.Equal(t, store.StatusQueued, b.generation(t, gen.ID).Status, "EASEL_TIMEOUT has not passed since the first submission")

	// The latest submission is recent; the first is past EASEL_TIMEOUT.
	_, err := b.pool.Exec(b.ctx, `UPDATE generations SET first_submitting_at = now() - interval '2 hours' WHERE id = $1`, gen.ID)
	require.NoError(t, err)
	b.reconcile(t)
	got = b.generation(t, gen.ID)
	require.Equal(t, store.StatusFailed, got.Status)
	require.Equal(t, store.ErrorCodeTimeout, *got.ErrorCode)
	require.Contains(t, *got.ErrorMessage, "never learnt")
	require.Contains(t, *got.ErrorMessage, fmt.Sprintf("fal's answer to %d submission(s)", got.FalSubmissions))

	require.NoError(t, b.runTimed(t, w, gen.ID), "a finished generation's job ends")
	require.Equal(t, jobs.MaxUnconfirmedSubmissions, b.sim.Sim.Stats().Submissions)
}

// A generation held back still takes what fal sends about any of its
// submissions: a webhook's result finishes it, and a request a webhook
// reveals is adopted and polled. Neither costs another submission.
func TestHeldGenerationFinishesByWebhook(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// body is the webhook fal sends for one of the submissions.
		body func(requestID string) string

		wantOutcome store.WebhookOutcome
		// wantAdopted: the webhook carried no result; the next run of the
		// job adopts the request, and the reconciler completes it.
		wantAdopted bool
	}{
		{name: "a result: completed", body: okWebhook, wantOutcome: store.OutcomeApplied},
		{name: "no result (payload_error): adopted, then polled", body: deferredWebhook, wantOutcome: store.OutcomeDeferred, wantAdopted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{WebhookDropRate: 1})
			b.cfg.PollAfter = time.Nanosecond
			gen := b.enqueue(t, "tests")
			w, ids := b.slowAnswers(t)
			for range jobs.MaxUnconfirmedSubmissions + 1 {
				snoozed(t, b.runTimed(t, w, gen.ID))
			}
			require.Equal(t, store.ErrorCodeSubmitUnconfirmed, *b.generation(t, gen.ID).ErrorCode)
			receive(t, ids)
			second := receive(t, ids)

			require.Equal(t, tt.wantOutcome, b.deliverSigned(t, gen.ID, second, tt.body(second)))
			if tt.wantAdopted {
				require.NoError(t, b.submit(t, gen.ID), "adopted")
				got := b.generation(t, gen.ID)
				require.Equal(t, store.StatusSubmitted, got.Status)
				require.Nil(t, got.ErrorCode, "the note goes once a request is known")
				b.reconcile(t)
			}

			got := b.generation(t, gen.ID)
			require.Equal(t, store.StatusCompleted, got.Status)
			require.Equal(t, second, *got.FalRequestID)
			require.Nil(t, got.ErrorCode)
			require.Nil(t, got.ErrorMessage)
			require.Len(t, b.images(t, gen.ID), 2)
			require.NoError(t, b.submit(t, gen.ID), "nothing left to submit")
			submissions, confirmed := b.accounting(t, gen.ID)
			wantConfirmed := 0
			if tt.wantAdopted {
				wantConfirmed = 1
			}
			require.Equal(t, [2]int{jobs.MaxUnconfirmedSubmissions, wantConfirmed}, [2]int{submissions, confirmed})
			require.Equal(t, jobs.MaxUnconfirmedSubmissions, b.sim.Sim.Stats().Submissions)
		})
	}
}

// Whoever's run finds a generation held back, one whose submissions' answers
// never came (workers that died mid-call leave no error behind) or whose
// first submission is past EASEL_TIMEOUT, notes it and submits nothing;
// short of both, it submits again.
func TestResubmissionIsHeldBack(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// unconfirmed submissions were counted, the last one noted with
		// lastError when it is not empty.
		unconfirmed int
		lastError   string
		// firstAgo is how long ago the first submission started.
		firstAgo time.Duration
		// attempts, when set, is the attempts made.
		attempts int

		wantSubmitted bool
		wantMessage   string
	}{
		{
			name:        "3 unconfirmed, workers died mid-call",
			unconfirmed: 3,
			wantMessage: "fal may have accepted, and may bill, 3 submissions of this generation whose answers never reached Easel, and no webhook came: " +
				"not submitting again (at most 3 are made); waiting for a webhook until EASEL_TIMEOUT (1h0m0s) after the first submission, " +
				"then the reconciler fails it with code timeout",
		},
		{
			name:        "1 unconfirmed, past EASEL_TIMEOUT since the first",
			unconfirmed: 1,
			lastError:   "fal submit: unexpected EOF",
			firstAgo:    2 * time.Hour,
			wantMessage: "fal may have accepted, and may bill, 1 submission of this generation whose answers never reached Easel, and no webhook came: " +
				"not submitting again, EASEL_TIMEOUT (1h0m0s) having passed since the first submission; the reconciler fails it with code timeout; " +
				"last submit error: fal submit: unexpected EOF",
		},
		{
			name:        "1 unconfirmed, the last of 20 attempts",
			unconfirmed: 1,
			lastError:   "fal submit: unexpected EOF",
			attempts:    20,
			wantMessage: "fal may have accepted, and may bill, 1 submission of this generation whose answers never reached Easel, and no webhook came: " +
				"not submitting again (20 attempts made, the most there are); waiting for a webhook until EASEL_TIMEOUT (1h0m0s) after the first submission, " +
				"then the reconciler fails it with code timeout; last submit error: fal submit: unexpected EOF",
		},
		{
			name:          "2 unconfirmed, within EASEL_TIMEOUT: submitted a third time",
			unconfirmed:   2,
			lastError:     "fal submit: unexpected EOF",
			firstAgo:      50 * time.Minute,
			wantSubmitted: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, falsim.Config{WebhookDropRate: 1})
			b.cfg.PollAfter = time.Nanosecond
			b.cfg.Timeout = time.Hour
			gen := b.enqueue(t, "tests")
			for range tt.unconfirmed {
				_, err := store.MarkSubmitting(b.ctx, b.pool, gen.ID)
				require.NoError(t, err)
			}
			if tt.lastError != "" {
				require.NoError(t, store.RecordSubmitError(b.ctx, b.pool, gen.ID, "fal_unreachable", tt.lastError))
			}
			_, err := b.pool.Exec(b.ctx, `UPDATE generations SET first_submitting_at = now() - $2::interval,
				attempts = greatest(attempts, $3) WHERE id = $1`, gen.ID, tt.firstAgo, tt.attempts)
			require.NoError(t, err)

			err = b.submit(t, gen.ID)
			got := b.generation(t, gen.ID)
			submissions, _ := b.accounting(t, gen.ID)
			if tt.wantSubmitted {
				require.NoError(t, err)
				require.Equal(t, store.StatusSubmitted, got.Status)
				require.Equal(t, tt.unconfirmed+1, submissions)
				require.Equal(t, 1, b.sim.Sim.Stats().Submissions)
				return
			}
			require.Equal(t, b.cfg.PollAfter, snoozed(t, err))
			require.Equal(t, store.StatusQueued, got.Status)
			require.Equal(t, store.ErrorCodeSubmitUnconfirmed, *got.ErrorCode)
			require.Equal(t, tt.wantMessage, *got.ErrorMessage)
			require.Equal(t, tt.unconfirmed, submissions)
			require.Zero(t, b.sim.Sim.Stats().Submissions)

			// The next run leaves the note as it is.
			require.Equal(t, b.cfg.PollAfter, snoozed(t, b.submit(t, gen.ID)))
			require.Equal(t, tt.wantMessage, *b.generation(t, gen.ID).ErrorMessage)
			require.Zero(t, b.sim.Sim.Stats().Submissions)
		})
	}
}

// A submission fal may have accepted is never failed for being the last of
// the 20 attempts (after about an hour and a half of refusals, 429s or 5xx):
// it is held back as after 3 lost answers, so that fal's webhook for it,
// which bills, still finishes the generation with its result.
func TestLastAttemptFalMayHaveAcceptedIsHeld(t *testing.T) {
	t.Parallel()
	b := setup(t, falsim.Config{})
	b.cfg.Timeout = time.Hour
	gen := b.enqueue(t, "tests")
	// 19 attempts that fal refused, each uncounted.
	_, err := b.pool.Exec(b.ctx, `UPDATE generations SET attempts = 19 WHERE id = $1`, gen.ID)
	require.NoError(t, err)

	// fal runs the request at once; its webhook is held until the worker is done.
	b.holdWebhooks.Lock()
	lost := b.cfg
	lost.Fal = b.falLosingAnswers()
	workErr := b.submitWith(t, jobs.NewSubmitGenerationWorker(b.pool, lost), gen.ID)
	held, heldErr := store.GetGeneration(b.ctx, b.pool, gen.ID)
	nextErr := b.submit(t, gen.ID)
	b.holdWebhooks.Unlock() // before any assertion: a failed test must not keep the receiver waiting

	require.Equal(t, b.cfg.PollAfter, snoozed(t, workErr))
	require.NoError(t, heldErr)
	require.Equal(t, store.StatusQueued, held.Status)
	require.Equal(t, 20, held.Attempts)
	require.Equal(t, store.ErrorCodeSubmitUnconfirmed, valueOf(held.ErrorCode))
	require.Contains(t, valueOf(held.ErrorMessage), "not submitting again (20 attempts made, the most there are)")
	require.Equal(t, b.cfg.PollAfter, snoozed(t, nextErr), "the next run submits nothing either")
	require.Equal(t, 1, b.sim.Sim.Stats().Submissions, "fal accepted the submission")

	b.awaitDelivery(t)
	got := b.generation(t, gen.ID)
	require.Equal(t, store.StatusCompleted, got.Status,
		"the webhook of the last submission was not applied: %q (%q); outcomes %v",
		valueOf(got.ErrorCode), valueOf(got.ErrorMessage), b.outcomes(t, gen.ID))
	require.Equal(t, []store.WebhookOutcome{store.OutcomeApplied}, b.outcomes(t, gen.ID))
	require.Len(t, b.images(t, gen.ID), 2)
	require.Equal(t, 1, b.sim.Sim.Stats().Submissions)
}
