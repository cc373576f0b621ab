package webhooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/metrics"
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
)

// Verifier checks fal's webhook signature.
type Verifier interface {
	Verify(ctx context.Context, h http.Header, body []byte) error
}

// Receiver handles POST /webhooks/fal/{id}.
type Receiver struct {
	pool     *pgxpool.Pool
	verifier Verifier
	metrics  *metrics.Metrics
	logger   *slog.Logger
}

// NewReceiver returns a Receiver.
func NewReceiver(pool *pgxpool.Pool, verifier Verifier, logger *slog.Logger) *Receiver {
	return &Receiver{pool: pool, verifier: verifier, logger: logger}
}

// WithMetrics makes r count webhook outcomes and observe the time to
// complete of the generations it completes. Call it before Register.
func (r *Receiver) WithMetrics(m *metrics.Metrics) *Receiver {
	r.metrics = m
	return r
}

// Register mounts the receiver on e.
func (r *Receiver) Register(e *echo.Echo) {
	e.POST("/webhooks/fal/:id", r.handle)
}

type response struct {
	Outcome string `json:"outcome"`
}

func (r *Receiver) handle(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return apierror.New(http.StatusNotFound, "not_found", "no generation "+c.Param("id"))
	}
	logger := r.logger.With("generation_id", id)

	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return apierror.New(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("webhook body exceeds %d bytes", MaxBodyBytes))
		}
		return apierror.New(http.StatusBadRequest, "malformed", "read webhook body: "+err.Error())
	}

	event := store.WebhookEvent{
		GenerationID:   &id,
		FalRequestID:   c.Request().Header.Get("X-Fal-Webhook-Request-Id"),
		Headers:        keptHeaders(c.Request().Header),
		Body:           body,
		BodySize:       len(body),
		SignatureValid: true,
	}

	if err := r.verifier.Verify(ctx, c.Request().Header, body); errors.Is(err, fal.ErrNoKeys) {
		// Not the sender's fault: fal's keys could not be fetched. A 5xx
		// makes fal deliver again later.
		logger.Error("webhook not verified: no signing keys", "fal_request_id", event.FalRequestID, "error", err)
		return apierror.New(http.StatusServiceUnavailable, "keys_unavailable", "webhook signing keys are unavailable; retry later")
	} else if err != nil {
		event.SignatureValid = false
		event.SignatureError = err.Error()
		event.Outcome = store.OutcomeBadSignature
		event.Body = event.Body[:min(len(event.Body), rejectedBodyBytes)]
		logger.Warn("webhook rejected: bad signature", "fal_request_id", event.FalRequestID, "error", err)
		r.metrics.WebhookReceived(store.OutcomeBadSignature)
		if err := r.storeRejected(ctx, event); err != nil {
			return r.notRecorded(logger, event, err)
		}
		return apierror.New(http.StatusUnauthorized, "bad_signature", "webhook signature did not verify")
	}

	payload, parseErr := fal.ParseWebhook(body)
	if parseErr == nil {
		event.FalRequestID = payload.RequestID
	}
	signedRequestID := c.Request().Header.Get("X-Fal-Webhook-Request-Id")

	var outcome string
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		gen, err := store.LockGeneration(ctx, tx, id)
		if err != nil {
			return err
		}
		if outcome, err = apply(ctx, tx, gen, signedRequestID, payload, parseErr); err != nil {
			return err
		}
		event.Outcome = outcome
		if _, err := store.InsertWebhookEvent(ctx, tx, event); err != nil {
			return err
		}
		switch outcome {
		case store.OutcomeMismatchedRequest:
			// Not this generation's request: the generation learns
			// nothing from it.
			return nil
		case store.OutcomeMalformed:
			return store.NoteWebhook(ctx, tx, id, "")
		}
		return store.NoteWebhook(ctx, tx, id, payload.RequestID)
	})
	if errors.Is(err, store.ErrNotFound) {
		return r.unknownGeneration(c, logger, event)
	}
	if err != nil {
		return r.notRecorded(logger, event, err)
	}

	if outcome == store.OutcomeMismatchedRequest {
		logger.Warn("signed webhook for a fal request that is not the generation's; nothing applied",
			"fal_request_id", event.FalRequestID, "signed_fal_request_id", signedRequestID)
	} else {
		logger.Info("webhook received", "fal_request_id", event.FalRequestID, "outcome", outcome)
	}
	r.metrics.WebhookReceived(outcome)
	if outcome == store.OutcomeApplied && r.metrics != nil {
		if gen, err := store.GetGeneration(ctx, r.pool, id); err == nil {
			r.metrics.GenerationCompleted(gen)
		}
	}
	if outcome == store.OutcomeMalformed {
		return apierror.New(http.StatusBadRequest, "malformed", "webhook body is not a fal webhook: "+parseErr.Error())
	}
	return c.JSON(http.StatusOK, response{Outcome: outcome})
}

// apply records what a signed delivery says about gen, locked by tx, and
// returns its outcome. fal signs every account's webhooks with the same keys
// and the signature does not cover the URL, so a result is applied only for
// a request that may be gen's (store.MatchWebhookRequest), and only when the
// body reports on the request the signature names.
func apply(ctx context.Context, tx pgx.Tx, gen *store.Generation, signedRequestID string, payload *fal.WebhookPayload, parseErr error) (string, error) {
	if parseErr != nil {
		return store.OutcomeMalformed, nil
	}
	if payload.RequestID != signedRequestID {
		return store.OutcomeMismatchedRequest, nil
	}
	match, err := store.MatchWebhookRequest(ctx, tx, gen.ID, payload.RequestID)
	if err != nil {
		return "", err
	}
	if !match {
		return store.OutcomeMismatchedRequest, nil
	}
	return jobs.ApplyResult(ctx, tx, gen, payload)
}

// unknownGeneration keeps a signed delivery whose URL names no generation,
// its body cut as a rejected one's is, and answers 200: no retry can make
// the generation exist, so fal had better stop delivering it.
func (r *Receiver) unknownGeneration(c echo.Context, logger *slog.Logger, event store.WebhookEvent) error {
	event.GenerationID = nil
	event.Outcome = store.OutcomeUnknownGeneration
	event.Body = event.Body[:min(len(event.Body), rejectedBodyBytes)]
	if _, err := store.InsertUnknownGenerationWebhookEvent(c.Request().Context(), r.pool, event); err != nil {
		return r.notRecorded(logger, event, err)
	}
	logger.Warn("signed webhook for unknown generation", "fal_request_id", event.FalRequestID)
	r.metrics.WebhookReceived(store.OutcomeUnknownGeneration)
	return c.JSON(http.StatusOK, response{Outcome: store.OutcomeUnknownGeneration})
}

// notRecorded logs a delivery that could not be recorded, naming its
// generation and fal request as every line about them does, and answers a
// 500, so that fal delivers it again.
func (r *Receiver) notRecorded(logger *slog.Logger, event store.WebhookEvent, err error) error {
	logger.Error("webhook not recorded; fal will deliver it again", "fal_request_id", event.FalRequestID, "error", err)
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

// keptHeaders are the request headers worth keeping with an event; values
// that could carry credentials are never stored.
func keptHeaders(h http.Header) map[string]string {
	kept := make(map[string]string, len(h))
	for name, values := range h {
		switch strings.ToLower(name) {
		case "authorization", "cookie", "proxy-authorization":
			continue
		}
		kept[name] = strings.Join(values, ", ")
	}
	return kept
}
