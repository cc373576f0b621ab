package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/resource"
	"github.com/easelhq/easel/store"
)

// Canceller cancels generations; *jobs.Canceller is the implementation, and
// its documentation says what cancelling does in each state.
type Canceller interface {
	Cancel(ctx context.Context, id uuid.UUID) (*store.Generation, error)
}

// cancel serves POST /v1/generations/{id}/cancel: 200 with the cancelled
// generation, 409 when it had already finished (fal may have completed it
// as the cancel arrived), 502 when fal did not confirm the cancel (which
// may still have reached it); the database's errors are the error
// handler's (503 when it is unreachable).
func (h *Handler) cancel(c echo.Context) error {
	if _, details := readQuery(c.Request(), "cancelling takes none"); len(details) > 0 {
		return invalidRequest(details)
	}
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return apierror.New(http.StatusNotFound, "not_found", "no generation "+c.Param("id"))
	}
	if h.canceller == nil {
		return apierror.New(http.StatusServiceUnavailable, "cancel_unavailable", "this process cannot cancel generations")
	}
	ctx := c.Request().Context()
	gen, err := h.canceller.Cancel(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return apierror.New(http.StatusNotFound, "not_found", "no generation "+id.String())
	case errors.Is(err, jobs.ErrFinished) && !gen.Status.Terminal():
		// fal's result could not be fetched yet; the reconciler records it.
		return apierror.New(http.StatusConflict, "already_finished",
			"fal had already completed generation "+id.String()+"; its result will be recorded shortly")
	case errors.Is(err, jobs.ErrFinished):
		return apierror.New(http.StatusConflict, "already_finished",
			"generation "+id.String()+" is "+string(gen.Status)+" and can no longer be cancelled")
	case errors.Is(err, jobs.ErrCancelMayHaveReachedFal):
		// fal being slow or unreachable is fal's trouble, not Easel's.
		h.logger.Warn("cancel generation: fal did not confirm the cancel, which may have reached it", "generation_id", id, "error", err)
		return apierror.New(http.StatusBadGateway, "fal_unavailable",
			"fal did not confirm the cancel, but it may have reached fal: if fal cancelled the request, generation "+
				id.String()+" will end cancelled shortly; cancelling again is safe")
	case errors.Is(err, jobs.ErrFalUnavailable):
		h.logger.Warn("cancel generation: fal could not be asked", "generation_id", id, "error", err)
		return apierror.New(http.StatusBadGateway, "fal_unavailable",
			"fal could not be asked to cancel the request; nothing changed, try again")
	case err != nil:
		return err
	}
	images, err := store.ListImages(ctx, h.pool, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resource.NewGeneration(gen, images))
}
