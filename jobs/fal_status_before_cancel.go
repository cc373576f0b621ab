package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/store"
)

// maxStatusBeforeCancel caps how long a cancel waits for fal's status of
// the request it is about to cancel. The status only says what the
// generation ended as (was fal running it, and billing?); the cancel stops
// the bill, so it must keep most of the time it is given.
const maxStatusBeforeCancel = 3 * time.Second

// errStatusBeforeCancelTimeout is the cause of the context of a status call
// statusBeforeCancel gave up on.
var errStatusBeforeCancelTimeout = errors.New("fal status call before the cancel timed out")

// statusBeforeCancelTimeout is how long statusBeforeCancel waits for fal,
// given callTimeout, what the cancel call itself may take: half of that, at
// most maxStatusBeforeCancel. The reconciler's timeout then still fits a
// hung status call, a cancel, and the status and result calls of a request
// fal answers ALREADY_COMPLETED inside the job's time (see
// reconcileCallTimeout).
func statusBeforeCancelTimeout(callTimeout time.Duration) time.Duration {
	return min(maxStatusBeforeCancel, callTimeout/2)
}

// falStatusOf is status, fal's answer to a status request, as a row records
// it; nil records nothing.
func falStatusOf(status *fal.Status) store.FalStatus {
	if status == nil {
		return store.FalStatus{}
	}
	return store.FalStatus{Status: status.Status, QueuePosition: status.QueuePosition}
}

// statusBeforeCancel asks fal for the status of gen's request, which Easel
// is about to cancel (a timeout, or a client's cancel), so that the
// finished generation keeps what fal was doing with it just before:
// IN_PROGRESS says fal was running it and may bill it, IN_QUEUE that it
// had not started. It asks at the status URL fal gave, or the one built
// from the row's ids, as fetchResult does (storedOrBuilt), and gives up
// after timeout. The cancel matters more than the status: when fal cannot
// be asked, the failure is logged at WARN with the generation and request
// on logger, and the zero FalStatus, which records nothing, is returned,
// for the caller to cancel all the same.
func statusBeforeCancel(ctx context.Context, client Fal, logger *slog.Logger, gen *store.Generation, timeout time.Duration) store.FalStatus {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errStatusBeforeCancelTimeout)
	defer cancel()
	built, _, _ := client.RequestURLs(gen.EndpointID, *gen.FalRequestID)
	status, err := storedOrBuilt(deref(gen.FalStatusURL), built, func(target string) (*fal.Status, error) {
		return client.Status(ctx, target)
	})
	if err != nil {
		if errors.Is(context.Cause(ctx), errStatusBeforeCancelTimeout) {
			err = fmt.Errorf("no answer from fal within %s: %w", timeout, err)
		}
		logger.Warn("could not ask fal for the request's status before cancelling it; cancelling it anyway, its status left unrecorded",
			"error", err)
		return store.FalStatus{}
	}
	return falStatusOf(status)
}
