package webhooks

import (
	"context"
	"encoding/json"
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
	"github.com/easelhq/easel/store"
)

const (
	// MaxBodyBytes caps a webhook body. fal's image-prompt results are a few
	// KiB (image URLs, not image data); 1 MiB leaves room for error payloads.
	MaxBodyBytes = 1 << 20
	// rejectedBodyBytes is how much of a body that failed verification is
	// kept: enough to debug, too little for forged traffic to fill the disk.
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
	logger   *slog.Logger
}

// NewReceiver returns a Receiver.
func NewReceiver(pool *pgxpool.Pool, verifier Verifier, logger *slog.Logger) *Receiver {
	return &Receiver{pool: pool, verifier: verifier, logger: logger}
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
		logger.Error("webhook not verified: no signing keys", "error", err)
		return apierror.New(http.StatusServiceUnavailable, "keys_unavailable", "webhook signing keys are unavailable; retry later")
	} else if err != nil {
		event.SignatureValid = false
		event.SignatureError = err.Error()
		event.Outcome = store.OutcomeBadSignature
		if len(event.Body) > rejectedBodyBytes {
			event.Body = event.Body[:rejectedBodyBytes]
		}
		logger.Warn("webhook rejected: bad signature", "error", err)
		if err := r.storeRejected(ctx, event); err != nil {
			return err
		}
		return apierror.New(http.StatusUnauthorized, "bad_signature", "webhook signature did not verify")
	}

	payload, parseErr := fal.ParseWebhook(body)
	if parseErr == nil {
		event.FalRequestID = payload.RequestID
	}

	var outcome string
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		gen, err := store.LockGeneration(ctx, tx, id)
		if err != nil {
			return err
		}
		outcome, err = r.apply(ctx, tx, gen, payload, parseErr)
		if err != nil {
			return err
		}
		event.Outcome = outcome
		if _, err := store.InsertWebhookEvent(ctx, tx, event); err != nil {
			return err
		}
		return store.NoteWebhook(ctx, tx, id, event.FalRequestID)
	})
	if errors.Is(err, store.ErrNotFound) {
		logger.Warn("signed webhook for unknown generation", "fal_request_id", event.FalRequestID)
		return apierror.New(http.StatusNotFound, "not_found", "no generation "+id.String())
	}
	if err != nil {
		return fmt.Errorf("webhook for generation %s: %w", id, err)
	}

	logger.Info("webhook received", "fal_request_id", event.FalRequestID, "outcome", outcome)
	if outcome == store.OutcomeMalformed {
		return apierror.New(http.StatusBadRequest, "malformed", "webhook body is not a fal webhook: "+parseErr.Error())
	}
	return c.JSON(http.StatusOK, response{Outcome: outcome})
}

// apply finishes gen from a verified webhook and reports the outcome.
func (r *Receiver) apply(ctx context.Context, tx pgx.Tx, gen *store.Generation, payload *fal.WebhookPayload, parseErr error) (string, error) {
	switch {
	case parseErr != nil:
		return store.OutcomeMalformed, nil
	case gen.Status.Terminal():
		return store.OutcomeDuplicate, nil
	case payload.Status == fal.WebhookStatusError:
		code, message := payload.ErrorDetail()
		if _, err := store.Fail(ctx, tx, gen.ID, code, message); err != nil {
			return "", err
		}
		return store.OutcomeApplied, nil
	case payload.PayloadError != "" || isNull(payload.Payload):
		// fal could not serialise the output; the reconciler fetches it.
		return store.OutcomeDeferred, nil
	}

	completion, err := completionFrom(payload)
	if err != nil {
		if _, err := store.Fail(ctx, tx, gen.ID, "invalid_output", err.Error()); err != nil {
			return "", err
		}
		return store.OutcomeApplied, nil
	}
	if _, err := store.Complete(ctx, tx, gen.ID, completion); err != nil {
		return "", err
	}
	return store.OutcomeApplied, nil
}

// completionFrom turns fal's output into the rows Easel stores.
func completionFrom(payload *fal.WebhookPayload) (store.Completion, error) {
	out, err := fal.DecodeOutput(payload.Payload)
	if err != nil {
		return store.Completion{}, fmt.Errorf("decode fal output: %w", err)
	}
	c := store.Completion{FalRequestID: payload.RequestID, Images: make([]store.Image, len(out.Images))}
	for i, im := range out.Images {
		c.Images[i] = store.Image{
			Position: i, URL: im.URL, ContentType: im.ContentType, FileName: im.FileName,
			FileSize: im.FileSize, Width: im.Width, Height: im.Height,
			NSFW: i < len(out.HasNSFWConcepts) && out.HasNSFWConcepts[i],
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

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}
