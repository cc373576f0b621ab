package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/store"
)

// errorTypeClientCancelled is fal's error_type for a request its owner
// cancelled (HTTP 499 on its result).
const errorTypeClientCancelled = "client_cancelled"

// cancelledAtFalMessage is the error message of a generation that fal's
// result, rather than fal's answer to the cancel, showed to be cancelled.
const cancelledAtFalMessage = "cancelled at fal: fal's result says the request was cancelled by its owner (client_cancelled)"

// timedOutCancelledMessage is the error message of a timed out generation
// that fal's result, rather than fal's answer to the reconciler's cancel,
// showed to be cancelled: the reconciler's run ended between the two.
const timedOutCancelledMessage = "fal did not finish within EASEL_TIMEOUT of the submission; cancelled at fal " +
	"(fal's result says the request was cancelled by Easel: client_cancelled)"

// applyResultLocked records fal's final answer about gen's request, in
// the shape of fal's webhook body, as DecideResult decides, except that a
// result saying the request was cancelled by its owner cancels gen, where
// DecideResult defers it (see DecideResult), or fails it with
// store.ErrorCodeTimeout when the reconciler had sent that cancel because
// gen timed out (store.TimeoutCancelRequested); the reconciler and the
// cancel call put a polled result in that shape. gen must be locked by tx (see
// store.LockGeneration), and payload's request must be one that may be
// gen's: the reconciler and the cancel call ask fal about gen's own request.
//
// A result that finishes gen makes its request gen's; should gen record
// another one (it was recorded after gen was read), that one is queued to
// be cancelled at fal (store.TakeResultRequest). It returns the outcome,
// store.OutcomeApplied for a cancel.
func applyResultLocked(ctx context.Context, tx pgx.Tx, gen *store.Generation, payload *fal.WebhookPayload) (store.WebhookOutcome, error) {
	outcome, finish, cancelled := decideResult(gen.Status, gen.ErrorCode, payload)
	if outcome != store.OutcomeDeferred {
		// A webhook's body is kept in webhook_events; a polled result is
		// kept here, in the transaction that applies it, or a result Easel
		// could not read (invalid_output), or read only in part, would be
		// kept nowhere. A deferred one holds no output to keep.
		if err := store.InsertPolledResult(ctx, tx, gen.ID, payload.RequestID, string(payload.Status), payload.Payload, outcome); err != nil {
			return "", err
		}
	}
	// byCancel: the result is fal's record of Easel's own cancel
	// (client_cancelled), not of the request's run, so it leaves fal's
	// status as last seen before the cancel; any other result records it
	// COMPLETED.
	byCancel := cancelled
	if cancelled {
		timedOut, err := store.TimeoutCancelRequested(ctx, tx, gen.ID, payload.RequestID)
		if err != nil {
			return "", err
		}
		if timedOut {
			finish, cancelled = &store.Finish{ErrorCode: store.ErrorCodeTimeout, ErrorMessage: timedOutCancelledMessage}, false
		}
	}
	if finish == nil && !cancelled {
		return outcome, nil
	}
	if _, err := store.TakeResultRequest(ctx, tx, gen.ID, payload.RequestID); err != nil {
		return "", err
	}
	switch {
	case cancelled:
		if _, err := store.Cancel(ctx, tx, gen.ID, cancelledAtFalMessage); err != nil {
			return "", err
		}
	case finish.Completion != nil:
		if _, err := store.Complete(ctx, tx, gen.ID, *finish.Completion); err != nil {
			return "", err
		}
	case byCancel:
		if _, err := store.Fail(ctx, tx, gen.ID, finish.ErrorCode, finish.ErrorMessage); err != nil {
			return "", err
		}
	default:
		if _, err := store.FailWithResult(ctx, tx, gen.ID, finish.ErrorCode, finish.ErrorMessage); err != nil {
			return "", err
		}
	}
	return outcome, nil
}

// DecideResult decides what fal's final answer does to the generation
// whose request payload reports on, given the status (and error code) the
// generation has under its lock: every result, polled or delivered by
// webhook, is decided here. It returns the outcome, as stored in
// webhook_events.outcome, and for store.OutcomeApplied how the generation
// finishes, which the caller writes: the webhook receiver with the
// delivery (store.WebhookTx.Record), the reconciler and the Canceller in
// the transaction that locked the generation.
//
//   - store.OutcomeApplied: the generation completes or fails.
//   - store.OutcomeDeferred: fal could not serialise the output
//     (payload_error), or the request was cancelled by its owner
//     (client_cancelled); the reconciler fetches the result, at its next
//     run since the delivery was noted, and applies it.
//   - store.OutcomeDuplicate: the generation had already finished with a
//     result of fal's: completed, or failed by fal's error; nothing changes.
//   - store.OutcomeLate: the generation had finished without any result of
//     fal's (cancelled, timed out, failed because its result could not be
//     fetched, or failed by a submit error or any other of Easel's) before
//     the result came; it stays so, because a terminal state never changes.
//
// Only Easel's key can cancel Easel's requests, so a client_cancelled
// result for an unfinished generation is a cancel of Easel's own whose
// answer was lost (fal too slow, a connection broken, the run that sent it
// ended): the generation must end cancelled, or failed with
// store.ErrorCodeTimeout when the reconciler sent the cancel because it
// timed out, not failed by fal's error. A store.Finish cannot cancel, and the
// timeout's cancel is recorded apart from the generation, so DecideResult
// defers it, and the reconciler, or the Canceller, settles it once it has
// the generation locked.
func DecideResult(status store.Status, errorCode *string, payload *fal.WebhookPayload) (store.WebhookOutcome, *store.Finish) {
	outcome, finish, cancelled := decideResult(status, errorCode, payload)
	if cancelled {
		return store.OutcomeDeferred, nil
	}
	return outcome, finish
}

// decideResult is DecideResult, reporting a result that cancels the
// generation with cancelled rather than deferring it.
func decideResult(status store.Status, errorCode *string, payload *fal.WebhookPayload) (outcome store.WebhookOutcome, finish *store.Finish, cancelled bool) {
	switch {
	case status.Terminal():
		return finishedOutcomeOf(status, errorCode), nil, false
	case payload.Status == fal.WebhookStatusError:
		code, message := payload.ErrorDetail()
		if code == errorTypeClientCancelled {
			return store.OutcomeApplied, nil, true
		}
		return store.OutcomeApplied, &store.Finish{ErrorCode: cmp.Or(code, store.ErrorCodeFalError), ErrorMessage: message}, false
	case payload.PayloadError != "" || isNull(payload.Payload):
		return store.OutcomeDeferred, nil, false
	}

	completion, err := completionFrom(payload)
	if err != nil {
		return store.OutcomeApplied, &store.Finish{ErrorCode: store.ErrorCodeInvalidOutput, ErrorMessage: err.Error()}, false
	}
	return store.OutcomeApplied, &store.Finish{Completion: &completion}, false
}

// LogResultFailure logs a generation that a result of fal's failed, code
// and message being its error_code and error_message. fal's own failures
// (a content policy, an input image it could not load) are explained at
// INFO, as the row explains them. A result fal completed but Easel could
// not read (store.ErrorCodeInvalidOutput) is Easel's failure, not fal's:
// fal likely billed it, and the next result will fail alike until Easel or
// fal changes, so it is logged at ERROR, saying where fal's output is kept.
// logger should carry the generation's id; args are added to the line.
func LogResultFailure(logger *slog.Logger, code, message string, args ...any) {
	args = append(args, "error_code", code, "error_message", message)
	if code == store.ErrorCodeInvalidOutput {
		logger.Error("fal completed the request, and likely billed it, but Easel could not read its output: "+
			"generation failed; fal's output is kept in webhook_events (webhook) or polled_results (poll)", args...)
		return
	}
	logger.Info("generation failed at fal", args...)
}

// finishedOutcome names a result that arrives for a finished generation: a
// repeat of the result it finished with, or a late one, for a generation
// that ended without one.
func finishedOutcome(gen *store.Generation) store.WebhookOutcome {
	return finishedOutcomeOf(gen.Status, gen.ErrorCode)
}

// withoutResultCodes are the error codes that end a generation without
// any result of fal's (store.ErrorCodeInfo.WithoutResult). Every other
// failure was written by decideResult from a result: fal's error type,
// store.ErrorCodeFalError or store.ErrorCodeInvalidOutput. fal's error
// types are free-form, so it is Easel's own codes that are looked up.
var withoutResultCodes = func() map[string]bool {
	codes := map[string]bool{}
	for _, c := range store.ErrorCodes() {
		if c.WithoutResult {
			codes[c.Code] = true
		}
	}
	return codes
}()

// finishedOutcomeOf is the outcome of a result for a generation finished
// in status with errorCode: late when no result of fal's finished it
// (cancelled, or failed by Easel), else a duplicate.
func finishedOutcomeOf(status store.Status, errorCode *string) store.WebhookOutcome {
	if status == store.StatusCancelled ||
		(status == store.StatusFailed && (errorCode == nil || withoutResultCodes[*errorCode])) {
		return store.OutcomeLate
	}
	return store.OutcomeDuplicate
}

// completionFrom turns fal's output into the rows Easel stores. Its error
// is fal.DecodeOutput's, which says what it decoded ("decode fal output:
// ..."): it becomes the generation's error_message as it is.
func completionFrom(payload *fal.WebhookPayload) (store.Completion, error) {
	out, err := fal.DecodeOutput(payload.Payload)
	if err != nil {
		return store.Completion{}, err
	}
	c := store.Completion{FalRequestID: payload.RequestID, Images: make([]store.Image, len(out.Images))}
	for i, im := range out.Images {
		c.Images[i] = store.Image{
			Position: i, URL: im.URL, ContentType: im.ContentType, FileName: im.FileName,
			FileSize: im.FileSize, Width: im.Width, Height: im.Height,
			// Unknown stays unknown: a flag fal did not send, or sent
			// out of line with the images, is no "not NSFW".
			NSFW: out.NSFW(i),
		}
	}
	if len(out.Timings) > 0 {
		if c.Timings, err = json.Marshal(out.Timings); err != nil {
			return store.Completion{}, fmt.Errorf("encode timings: %w", err)
		}
		if inference, ok := out.Timings["inference"]; ok {
			c.InferenceSeconds = &inference
		}
	}
	return c, nil
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

// errNotFinished is returned by fetchResult while fal is still working on a
// request.
var errNotFinished = errors.New("fal has not finished the request")

// fetchError is fetchResult's error from fal's client.
type fetchError struct {
	// finished is true when fal's status said COMPLETED, so that it is the
	// result itself that could not be fetched.
	finished bool
	err      error
}

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

// fetchResult asks fal for the outcome of gen's request and puts it in the
// shape of a webhook body for applyResult. It returns errNotFinished while
// the request is queued or running, and fal's errors as a *fetchError.
func fetchResult(ctx context.Context, client Fal, gen *store.Generation) (*fal.WebhookPayload, error) {
	if gen.FalRequestID == nil {
		return nil, fmt.Errorf("fetch result of generation %s: no fal request recorded", gen.ID)
	}
	statusURL, responseURL, _ := client.RequestURLs(gen.EndpointID, *gen.FalRequestID)
	status, err := storedOrBuilt(deref(gen.FalStatusURL), statusURL, func(target string) (*fal.Status, error) {
		return client.Status(ctx, target)
	})
	if err != nil {
		return nil, fmt.Errorf("fetch result of generation %s: %w", gen.ID, &fetchError{err: err})
	}
	if status.Status != fal.StatusCompleted {
		return nil, errNotFinished
	}

	payload := &fal.WebhookPayload{RequestID: *gen.FalRequestID, Status: fal.WebhookStatusOK}
	if status.ErrorType == errorTypeClientCancelled {
		// The status says it all: a cancelled request has no output, and
		// what fal serves as its result is undocumented, so it is not
		// asked for, nor can its being unavailable hold the generation.
		body, err := json.Marshal(map[string]string{"detail": status.Error, "error_type": status.ErrorType})
		if err != nil {
			return nil, fmt.Errorf("fetch result of generation %s: %w", gen.ID, err)
		}
		payload.Status, payload.Payload, payload.Error = fal.WebhookStatusError, body, status.Error
		return payload, nil
	}
	output, err := storedOrBuilt(deref(gen.FalResponseURL), responseURL, func(target string) (json.RawMessage, error) {
		return client.Result(ctx, target)
	})
	var (
		apiErr  *fal.APIError
		invalid *fal.InvalidOutputError
	)
	switch {
	case err == nil:
		payload.Payload = output
	case errors.As(err, &invalid):
		// fal served the result, and likely billed it, but not as JSON:
		// asking again would get the same bytes until the result is
		// called unavailable, the body lost. Applied, it fails gen
		// invalid_output (DecodeOutput cannot read it) and the body is
		// kept in polled_results.
		payload.Payload = invalid.Body
	case errors.As(err, &apiErr) && transientStatus[apiErr.StatusCode]:
		// fal, or a proxy before it, could not answer just then: that is
		// no verdict on the request, even one whose status says it
		// failed, and asking again later may get the result.
		return nil, fmt.Errorf("fetch result of generation %s: %w", gen.ID, &fetchError{finished: true, err: err})
	case status.Error != "" && errors.As(err, &apiErr):
		// A failed request answers its result with the error it failed
		// with: what the webhook's payload carries on ERROR.
		payload.Status = fal.WebhookStatusError
		payload.Payload = apiErr.Body
		payload.Error = status.Error
	default:
		return nil, fmt.Errorf("fetch result of generation %s: %w", gen.ID, &fetchError{finished: true, err: err})
	}
	return payload, nil
}

// transientStatus are the HTTP statuses of an answer that says the server,
// fal or a proxy before it, could not answer then, not what became of the
// request: a timeout, rate limiting, or a server error or outage.
var transientStatus = map[int]bool{
	http.StatusRequestTimeout:      true,
	http.StatusTooManyRequests:     true,
	http.StatusInternalServerError: true,
	http.StatusBadGateway:          true,
	http.StatusServiceUnavailable:  true,
	http.StatusGatewayTimeout:      true,
}

// cancelRequest cancels request requestID of endpointID at fal through
// cancelURL, the cancel URL fal returned for it, if any, or, should the
// client refuse that one (see storedOrBuilt), through the one built from
// the two ids.
func cancelRequest(ctx context.Context, client Fal, cancelURL, endpointID, requestID string) (fal.CancelOutcome, error) {
	_, _, built := client.RequestURLs(endpointID, requestID)
	return storedOrBuilt(cancelURL, built, func(target string) (fal.CancelOutcome, error) {
		return client.Cancel(ctx, target)
	})
}

// storedOrBuilt calls call with stored, a URL of fal's that a row keeps, or
// with built, the one fal.Client.RequestURLs builds from the row's own
// endpoint and request ids, when the row keeps none or the client refuses
// stored (fal.ErrInvalidRequest: a URL it cannot parse, or one off the
// queue host whose path it will not rebuild a request from). A refusal is
// no answer about the request: taken as one, a cancel would never be sent
// again, or a paid result never fetched, and the request, left running,
// bills. The row's ids name the request for sure.
func storedOrBuilt[T any](stored, built string, call func(target string) (T, error)) (T, error) {
	if stored == "" || stored == built {
		return call(built)
	}
	v, err := call(stored)
	if errors.Is(err, fal.ErrInvalidRequest) {
		return call(built)
	}
	return v, err
}

// afterAlreadyCompleted is the cause to note of fetchResult's err for a
// request whose cancel fal answered ALREADY_COMPLETED: fal's own failure,
// or, when its status still does not say COMPLETED, that contradiction.
func afterAlreadyCompleted(err error) error {
	var fetchErr *fetchError
	switch {
	case errors.As(err, &fetchErr):
		return fetchErr.err
	case errors.Is(err, errNotFinished):
		return errors.New("fal answered the cancel that the request had completed, but its status does not say COMPLETED")
	}
	return err
}
