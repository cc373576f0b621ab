package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/resource"
	"github.com/easelhq/easel/store"
)

func (h *Handler) create(c echo.Context) error {
	client := ClientName(c)
	if err := checkClientName(client); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	parsed, err := readCreateRequest(c)
	if err != nil {
		return err
	}
	if err := h.checkCallbackURL(c, parsed.opts.CallbackURL); err != nil {
		return err
	}
	req := c.Request()
	parsed.opts.MaxPending = h.maxPending
	parsed.opts.PendingCache = h.pending
	enqueued, err := jobs.EnqueuePool(req.Context(), h.pool, client, parsed.input, &parsed.opts)
	if errors.Is(err, jobs.ErrIdempotencyConflict) {
		return apierror.New(http.StatusConflict, "idempotency_conflict",
			"Idempotency-Key was already used with a different request")
	}
	if errors.Is(err, jobs.ErrTooManyPending) {
		return h.tooManyPending(c, client)
	}
	// readCreateRequest checked what Enqueue checks; should Enqueue still
	// refuse something, it is the caller's 422, named as over HTTP.
	if details := optionDetails(err); len(details) > 0 {
		return invalidRequest(details)
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
	var images []store.Image
	if enqueued.Replayed {
		// A replay answers with the generation as it is now, images and
		// all; a new generation has none yet, so it costs no query.
		if images, err = store.ListImages(req.Context(), h.pool, gen.ID); err != nil {
			return err
		}
	}
	c.Response().Header().Set(echo.HeaderLocation, generationLocation(req, gen.ID))
	return c.JSON(status, resource.NewGeneration(gen, images))
}

func (h *Handler) get(c echo.Context) error {
	q, details := readQuery(c.Request(), "the only one is wait", "wait")
	if len(details) > 0 {
		return invalidRequest(details)
	}
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return apierror.New(http.StatusNotFound, "not_found", "no generation "+c.Param("id"))
	}
	ctx := c.Request().Context()
	gen, err := h.getGeneration(c, id, q)
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
	// Only a finished generation can have a result's origin: polling an
	// unfinished one costs no query more.
	var origin *store.ResultOrigin
	if gen.Status.Terminal() {
		if origin, err = store.GetResultOrigin(ctx, h.pool, id); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, resource.NewGenerationDetail(gen, images, origin))
}
