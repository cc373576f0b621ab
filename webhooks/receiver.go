package webhooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/internal/logthrottle"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/metrics"
	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/store"
)

const (
	// MaxBodyBytes caps a webhook body. fal's image-prompt results are a few
	// KiB (image URLs, not image data); 1 MiB leaves room for error payloads.
	MaxBodyBytes = 1 << 20
	// rejectedBodyBytes is how much of a body that failed verification, or
	// names no generation, is kept: enough to debug, too little for forged
	// or replayed traffic to fill the disk.
	rejectedBodyBytes = 4 << 10
	// rejectionLogEvery is how often at most the deliveries rejected for
	// one reason are logged at WARN: anyone can post to the receiver's
	// URLs, and a line for each post would let them bury the log.
	rejectionLogEvery = time.Minute
)

// Verifier checks fal's webhook signature.
type Verifier interface {
	Verify(ctx context.Context, h http.Header, body []byte) error
}

// Receiver handles POST /webhooks/fal/{id}, under the prefix of the group
// Register mounts it on, if any.
type Receiver struct {
	pool     *pgxpool.Pool
	verifier Verifier
	metrics  *metrics.Metrics
	// publisher announces the generations r finishes (WithPublisher).
	publisher *notify.Publisher
	logger    *slog.Logger
	// rejections throttles the WARNs of rejected deliveries by reason
	// (see logRejected).
	rejections *logthrottle.Throttle
}

// NewReceiver returns a Receiver.
func NewReceiver(pool *pgxpool.Pool, verifier Verifier, logger *slog.Logger) *Receiver {
	return &Receiver{pool: pool, verifier: verifier, logger: logger,
		publisher:  notify.NewPublisher(pool, store.GenerationFinishedChannel, logger),
		rejections: newRejectionLog()}
}

// newRejectionLog returns the throttle of a Receiver's rejected deliveries'
// lines; opts are for tests' clocks. Its keys, the reasons, are few and
// never forgotten.
func newRejectionLog(opts ...logthrottle.Option) *logthrottle.Throttle {
	return logthrottle.New(rejectionLogEvery, 0, opts...)
}

// WithPublisher makes r announce the generations it finishes with p, the
// process's one, rather than with a publisher of its own. Call it before
// Register.
func (r *Receiver) WithPublisher(p *notify.Publisher) *Receiver {
	r.publisher = p
	return r
}

// WithMetrics makes r count webhook outcomes, those answered with an error
// included, the results it applies and the generations it finishes, whose
// time to complete it observes. Call it before Register.
func (r *Receiver) WithMetrics(m *metrics.Metrics) *Receiver {
	r.metrics = m
	return r
}

// Router is where Register mounts the receiver: an *echo.Echo, or an
// *echo.Group to serve fal's webhooks under a prefix.
type Router interface {
	POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
}

// Register mounts the receiver on e at /webhooks/fal/:id, the path fal is
// given after jobs.Config.PublicURL (EASEL_PUBLIC_URL) with each submit.
// Mounted on a group, under a prefix such as e.Group("/easel"), it serves
// <prefix>/webhooks/fal/:id, and PublicURL must then end with that prefix
// (https://shop.example.com/easel), or fal calls a path nothing serves.
//
// The group must not carry the service's own authentication: fal's
// deliveries hold no credential of the service, only fal's signature,
// which the receiver checks (see the package documentation).
func (r *Receiver) Register(e Router) {
	e.POST("/webhooks/fal/:id", r.handle)
}

type response struct {
	Outcome store.WebhookOutcome `json:"outcome"`
}

func (r *Receiver) handle(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return apierror.New(http.StatusNotFound, "not_found", "no generation "+c.Param("id"))
	}
	logger := r.logger.With("generation_id", id)

	// A declared length over the limit is refused before the body is read,
	// and so before net/http answers Expect: 100-continue.
	if c.Request().ContentLength > MaxBodyBytes {
		return r.tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return r.tooLarge()
		}
		return apierror.New(http.StatusBadRequest, "malformed", "read webhook body: "+err.Error())
	}

	// Until the signature verifies, the request id and the headers are
	// the sender's to choose: bounded, as they are logged and may be
	// stored.
	event := store.WebhookEvent{
		GenerationID:   &id,
		FalRequestID:   boundedHeader(c.Request().Header.Get("X-Fal-Webhook-Request-Id")),
		Headers:        keptHeaders(c.Request().Header),
		Body:           body,
		BodySize:       len(body),
		SignatureValid: true,
	}

	if err := r.verifier.Verify(ctx, c.Request().Header, body); errors.Is(err, fal.ErrNoKeys) {
		// Not the sender's fault: fal's keys could not be fetched. A 5xx
		// makes fal deliver again later.
		logger.Error("webhook not verified: no signing keys", "fal_request_id", event.FalRequestID, "error", err)
		r.metrics.WebhookReceived(metrics.WebhookKeysUnavailable)
		return apierror.New(http.StatusServiceUnavailable, "keys_unavailable", "webhook signing keys are unavailable; retry later")
	} else if err != nil {
		event.SignatureValid = false
		event.SignatureError = err.Error()
		event.Outcome = store.OutcomeBadSignature
		event.Body = event.Body[:min(len(event.Body), rejectedBodyBytes)]
		r.logRejected(logger, signatureRejection(err), "webhook rejected: bad signature", "fal_request_id", event.FalRequestID, "error", err)
		if err := r.storeRejected(ctx, event); err != nil {
			return r.notRecorded(logger, event, err)
		}
		// Counted once answered, as every delivery is: one answered 500
		// counts as not recorded.
		r.metrics.WebhookReceived(store.OutcomeBadSignature)
		return apierror.New(http.StatusUnauthorized, "bad_signature", "webhook signature did not verify")
	}

	payload, parseErr := fal.ParseWebhook(body)
	if parseErr == nil {
		event.FalRequestID = payload.RequestID
	}
	headerRequestID := c.Request().Header.Get("X-Fal-Webhook-Request-Id")
	signedRequestID := signedRequest(headerRequestID, payload, parseErr)

	write, finished, err := r.record(ctx, id, event, signedRequestID, payload, parseErr)
	outcome := write.Event.Outcome
	if errors.Is(err, store.ErrNotFound) {
		return r.unknownGeneration(c, logger, event)
	}
	if err != nil {
		return r.notRecorded(logger, event, err)
	}
	// Committed: outcome is what the delivery did to generation id, and
	// finished is non-nil exactly when it finished the generation.
	if finished != nil {
		r.publisher.Publish(id.String())
	}

	if outcome == store.OutcomeMismatchedRequest {
		// fal signs every account's webhooks alike, and a signature stays
		// valid for its timestamp's tolerance: anyone with a fal account
		// can replay one of theirs here.
		r.logRejected(logger, string(store.OutcomeMismatchedRequest), "signed webhook for a fal request that is not the generation's; nothing applied",
			"fal_request_id", event.FalRequestID, "signed_fal_request_id", headerRequestID)
	} else {
		logger.Info("webhook received", "fal_request_id", event.FalRequestID, "outcome", string(outcome))
	}
	if finished != nil && finished.SupersededRequestID != "" {
		// Another submission's request, still running at fal, would bill:
		// the reconciler cancels it at its next run.
		logger.Warn("the result of an earlier submission finished the generation; the request recorded since is queued to be cancelled at fal",
			"fal_request_id", event.FalRequestID, "superseded_fal_request_id", finished.SupersededRequestID)
	}
	if finished != nil && write.Finish != nil && write.Finish.Completion == nil {
		// Explained here as well as in the row, as the poll and cancel
		// paths do: fal's failures (content policy, unreadable image, ...)
		// at INFO, an output Easel could not read at ERROR, since fal
		// likely billed it and the next one will fail alike.
		jobs.LogResultFailure(logger, write.Finish.ErrorCode, write.Finish.ErrorMessage,
			"fal_request_id", event.FalRequestID)
	}
	r.metrics.WebhookReceived(outcome)
	if finished != nil && write.Finish != nil {
		r.metrics.ResultApplied(metrics.ResultFromWebhook)
		r.metrics.GenerationFinished(finishedAs(id, write.Finish, finished))
	}
	if outcome == store.OutcomeMalformed {
		return apierror.New(http.StatusBadRequest, "malformed", "webhook body is not a fal webhook: "+parseErr.Error())
	}
	return c.JSON(http.StatusOK, response{Outcome: outcome})
}

// signedRequest is the request a verified delivery's signature names: the
// body's request_id when the X-Fal-Webhook-Request-Id header, which the
// signature covers, is that id or the body's gateway_request_id, else the
// header as it is, which then matches no request the body reports on.
// fal's docs leave open which of the two ids the header carries, and they
// differ once fal retried the request internally (protocol §2): a result
// must not be refused over it. Either way the signature covers the body,
// and so the match of the two ids, as much as the header.
func signedRequest(header string, payload *fal.WebhookPayload, parseErr error) string {
	if parseErr == nil && payload.GatewayRequestID != "" && header == payload.GatewayRequestID {
		return payload.RequestID
	}
	return header
}

// record stores a signed delivery at generation id's URL and applies what
// it says, in one transaction of two round trips: begin and lock; write and
// commit. It returns what it wrote (the delivery's outcome is
// write.Event.Outcome) and, when it finished the generation, when that
// was. The error wraps store.ErrNotFound when the generation does not
// exist.
func (r *Receiver) record(ctx context.Context, id uuid.UUID, event store.WebhookEvent, signedRequestID string,
	payload *fal.WebhookPayload, parseErr error,
) (store.WebhookWrite, *store.Finished, error) {
	tx, target, err := store.LockWebhookTarget(ctx, r.pool, id, signedRequestID)
	if err != nil {
		return store.WebhookWrite{}, nil, err
	}
	defer tx.Close(ctx)

	var write store.WebhookWrite
	event.Outcome, write = decide(target, signedRequestID, payload, parseErr)
	write.Event = event
	finished, err := tx.Record(ctx, write)
	if err != nil {
		return store.WebhookWrite{}, nil, err
	}
	return write, finished, nil
}

// decide returns the outcome of a signed delivery at target's URL and what
// it writes. fal signs every account's webhooks with the same keys and the
// signature does not cover the URL, so a result is applied only for a
// request that may be the target's (store.WebhookTarget.RequestMatches),
// and only when the body reports on the request the signature names
// (signedRequest).
func decide(target *store.WebhookTarget, signedRequestID string, payload *fal.WebhookPayload, parseErr error) (store.WebhookOutcome, store.WebhookWrite) {
	switch {
	case parseErr != nil:
		// The body names no request to note.
		return store.OutcomeMalformed, store.WebhookWrite{Noted: true}
	case payload.RequestID != signedRequestID || !target.RequestMatches:
		// Not this generation's request: the generation learns nothing
		// from it.
		return store.OutcomeMismatchedRequest, store.WebhookWrite{}
	}
	outcome, finish := jobs.DecideResult(target.Status, target.ErrorCode, payload)
	return outcome, store.WebhookWrite{Noted: true, RequestID: payload.RequestID, Finish: finish}
}

// unknownGeneration keeps a signed delivery whose URL names no generation,
// its body cut as a rejected one's is, and answers 200: no retry can make
// the generation exist, so fal had better stop delivering it. For a
// generation that was deleted (its request, or the id its URL names, in
// deleted_fal_requests) the body is not kept: it would bring back the
// images' links, or the input fal echoed, that the deletion removed.
// event.GenerationID, the id the URL names, finds the deleted generation;
// the event is stored with none.
func (r *Receiver) unknownGeneration(c echo.Context, logger *slog.Logger, event store.WebhookEvent) error {
	event.Body = event.Body[:min(len(event.Body), rejectedBodyBytes)]
	_, outcome, err := store.InsertUnknownGenerationWebhookEvent(c.Request().Context(), r.pool, event)
	if err != nil {
		return r.notRecorded(logger, event, err)
	}
	if outcome == store.OutcomeDeletedGeneration {
		// Expected after a deletion: fal delivers what it ran.
		logger.Info("signed webhook for a deleted generation; kept without its body",
			"fal_request_id", event.FalRequestID, "outcome", string(outcome))
	} else {
		r.logRejected(logger, string(store.OutcomeUnknownGeneration), "signed webhook for unknown generation",
			"fal_request_id", event.FalRequestID)
	}
	r.metrics.WebhookReceived(outcome)
	return c.JSON(http.StatusOK, response{Outcome: outcome})
}

// logRejected logs a delivery rejected for reason, msg and args saying
// what it was, at WARN for the first of the reason and then at most once a
// rejectionLogEvery, with how many were rejected for it since the earliest
// not yet at WARN (rejected, since); the others go to DEBUG. Each is still
// counted in easel_webhooks_received_total, and kept in webhook_events as
// its outcome says.
func (r *Receiver) logRejected(logger *slog.Logger, reason, msg string, args ...any) {
	args = append(args, "reason", reason)
	n, since, ok := r.rejections.Allow(reason)
	if !ok {
		logger.Debug(msg, args...)
		return
	}
	logger.Warn(msg, append(args, "rejected", n, "since", since)...)
}

// signatureRejection is the check a signature failed, out of a few, each
// throttled apart: a flood of junk without headers or a fresh timestamp
// does not hold back the lines of deliveries no key verifies, such as fal's
// own after it rotated its keys.
func signatureRejection(err error) string {
	switch {
	case errors.Is(err, fal.ErrMissingHeader):
		return "missing_header"
	case errors.Is(err, fal.ErrStaleTimestamp):
		return "stale_timestamp"
	case errors.Is(err, fal.ErrMalformedSignature):
		return "malformed_signature"
	case errors.Is(err, fal.ErrBadSignature):
		return "no_key_verifies"
	default: // a Verifier of the embedding service's own
		return "other"
	}
}

// finishedAs is generation id as finish, written by a delivery, left it
// at the time finished says.
func finishedAs(id uuid.UUID, finish *store.Finish, finished *store.Finished) *store.Generation {
	g := &store.Generation{ID: id, Status: store.StatusCompleted, CreatedAt: finished.CreatedAt, RunAt: finished.RunAt, CompletedAt: finished.CompletedAt}
	if finish.Completion == nil {
		g.Status, g.ErrorCode = store.StatusFailed, &finish.ErrorCode
	}
	return g
}

// tooLarge answers a delivery whose body exceeds MaxBodyBytes.
func (r *Receiver) tooLarge() error {
	r.metrics.WebhookReceived(metrics.WebhookTooLarge)
	return apierror.New(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("webhook body exceeds %d bytes", MaxBodyBytes))
}

// notRecorded logs a delivery that could not be recorded, naming its
// generation and fal request as every line about them does, and answers a
// 500, so that fal delivers it again.
func (r *Receiver) notRecorded(logger *slog.Logger, event store.WebhookEvent, err error) error {
	logger.Error("webhook not recorded; fal will deliver it again", "fal_request_id", event.FalRequestID, "error", err)
	r.metrics.WebhookReceived(metrics.WebhookNotRecorded)
	return apierror.New(http.StatusInternalServerError, "internal", "internal error; see the server log")
}

// storeRejected keeps a failed delivery, but only for a generation that
// exists, so forged traffic at random ids writes nothing.
func (r *Receiver) storeRejected(ctx context.Context, event store.WebhookEvent) error {
	_, err := store.InsertWebhookEvent(ctx, r.pool, event)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
