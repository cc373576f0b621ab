package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

const (
	// MaxBodyBytes caps an enqueue request: room for one data: URI image of
	// fal.MaxImageDataSize, base64-encoded. Larger inputs belong at a URL.
	MaxBodyBytes = 8 << 20
	// MaxMetadataBytes caps the caller's metadata object.
	MaxMetadataBytes = 16 << 10
	// maxIdempotencyKeyLen keeps keys index-friendly.
	maxIdempotencyKeyLen = 255
)

// Handler serves /v1.
type Handler struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
}

// NewHandler returns a Handler.
func NewHandler(pool *pgxpool.Pool, logger *slog.Logger) *Handler {
	return &Handler{pool: pool, logger: logger}
}

// Register mounts the /v1 routes on g.
func (h *Handler) Register(g *echo.Group) {
	g.POST("/generations", h.create)
	g.GET("/generations/:id", h.get)
}

// apiFields are the body fields that belong to Easel rather than to fal's
// input.
var apiFields = []string{"priority", "metadata", "callback_url", "run_at"}

func (h *Handler) create(c echo.Context) error {
	req := c.Request()
	if mediaType, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType)); err != nil || mediaType != echo.MIMEApplicationJSON {
		return apierror.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return apierror.New(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body exceeds %d bytes", MaxBodyBytes))
		}
		return apierror.New(http.StatusBadRequest, "malformed", "read request body: "+err.Error())
	}

	fields, err := decodeObject(body)
	if err != nil {
		return err
	}
	opts, details := enqueueOpts(fields)
	key := req.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKeyLen {
		details = append(details, apierror.Detail{Field: "Idempotency-Key", Message: fmt.Sprintf("must be at most %d characters", maxIdempotencyKeyLen)})
	}
	opts.IdempotencyKey = key
	for _, f := range apiFields {
		delete(fields, f)
	}
	input, err := fal.ParseImagePromptFields(fields)
	var invalid *fal.ValidationError
	if errors.As(err, &invalid) {
		for _, fe := range invalid.Fields {
			details = append(details, apierror.Detail{Field: fe.Field, Message: fe.Message})
		}
	} else if err != nil {
		return fmt.Errorf("parse input: %w", err)
	}
	if len(details) > 0 {
		return &apierror.Error{Status: http.StatusUnprocessableEntity, Code: "invalid_request",
			Message: fmt.Sprintf("%d invalid field(s)", len(details)), Details: details}
	}

	client := ClientName(c)
	var enqueued *jobs.Enqueued
	err = pgx.BeginFunc(req.Context(), h.pool, func(tx pgx.Tx) error {
		var err error
		enqueued, err = jobs.Enqueue(req.Context(), tx, client, input, &opts)
		return err
	})
	if errors.Is(err, jobs.ErrIdempotencyConflict) {
		return apierror.New(http.StatusConflict, "idempotency_conflict",
			"Idempotency-Key was already used with a different request")
	}
	if err != nil {
		return fmt.Errorf("enqueue for client %s: %w", client, err)
	}

	gen := enqueued.Generation
	status := http.StatusAccepted
	if enqueued.Replayed {
		status = http.StatusOK
	} else {
		h.logger.Info("generation enqueued", "generation_id", gen.ID, "client", client)
	}
	images, err := store.ListImages(req.Context(), h.pool, gen.ID)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/generations/"+gen.ID.String())
	return c.JSON(status, NewGeneration(gen, images))
}

func (h *Handler) get(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return apierror.New(http.StatusNotFound, "not_found", "no generation "+c.Param("id"))
	}
	ctx := c.Request().Context()
	gen, err := store.GetGeneration(ctx, h.pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return apierror.New(http.StatusNotFound, "not_found", "no generation "+id.String())
	}
	if err != nil {
		return err
	}
	images, err := store.ListImages(ctx, h.pool, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, NewGeneration(gen, images))
}

// decodeObject splits a JSON object body into its top-level fields,
// reporting malformed JSON with its byte offset.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		var syntaxErr *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntaxErr):
			return nil, apierror.New(http.StatusBadRequest, "malformed", fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr))
		case errors.As(err, &typeErr):
			return nil, apierror.New(http.StatusBadRequest, "malformed", "request body must be a JSON object")
		default:
			return nil, apierror.New(http.StatusBadRequest, "malformed", "malformed JSON: "+err.Error())
		}
	}
	if fields == nil {
		return nil, apierror.New(http.StatusBadRequest, "malformed", "request body must be a JSON object")
	}
	return fields, nil
}

// enqueueOpts reads Easel's own body fields, naming each invalid one.
func enqueueOpts(fields map[string]json.RawMessage) (jobs.EnqueueOpts, []apierror.Detail) {
	var opts jobs.EnqueueOpts
	var details []apierror.Detail
	invalid := func(field, message string) {
		details = append(details, apierror.Detail{Field: field, Message: message})
	}

	if raw, ok := fields["priority"]; ok && !isNull(raw) {
		var p int
		if err := json.Unmarshal(raw, &p); err != nil || p < 1 || p > 4 {
			invalid("priority", "must be an integer from 1 (highest) to 4 (lowest)")
		}
		opts.Priority = p
	}
	if raw, ok := fields["metadata"]; ok && !isNull(raw) {
		var m map[string]any
		switch {
		case json.Unmarshal(raw, &m) != nil || m == nil:
			invalid("metadata", "must be a JSON object")
		case len(raw) > MaxMetadataBytes:
			invalid("metadata", fmt.Sprintf("must be at most %d bytes", MaxMetadataBytes))
		default:
			opts.Metadata = raw
		}
	}
	if raw, ok := fields["callback_url"]; ok && !isNull(raw) {
		var u string
		if err := json.Unmarshal(raw, &u); err != nil || !isHTTPURL(u) {
			invalid("callback_url", "must be an absolute http or https URL")
		}
		opts.CallbackURL = u
	}
	if raw, ok := fields["run_at"]; ok && !isNull(raw) {
		var s string
		t, err := time.Time{}, json.Unmarshal(raw, &s)
		if err == nil {
			t, err = time.Parse(time.RFC3339, s)
		}
		if err != nil {
			invalid("run_at", "must be an RFC 3339 timestamp, e.g. 2026-01-02T15:04:05Z")
		}
		opts.RunAt = t
	}
	return opts, details
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }
