package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/easelhq/easel/fal"
)

// maxReconcileCallTimeout caps how long the reconciler waits for fal to
// answer one call.
const maxReconcileCallTimeout = 10 * time.Second

// reconcileCallTimeout is how long the reconciler waits for fal to answer
// one status, result or cancel call, given the job's timeout: a quarter of
// it, at most 10 seconds (7.5 s with the default EASEL_RESCUE_AFTER). fal's
// client allows any call a minute, twice the default job's time; a queue
// read or cancel still unanswered after seconds is a hung connection or an
// outage, and a later run asks again. A quarter keeps even a timed
// out generation fal reports finished (a cancel, a status and a result
// call, one after another) inside the job's time, and one hung call from
// holding one of the reconcileConcurrency slots for more than a quarter of
// the run.
func reconcileCallTimeout(jobTimeout time.Duration) time.Duration {
	return min(maxReconcileCallTimeout, jobTimeout/4)
}

// errCallTimeout is the cause of the context of a call to fal that
// callTimeoutFal gave up on.
var errCallTimeout = errors.New("fal call timed out")

// callTimeoutFal is a Fal whose status, result and cancel calls each give
// up after timeout, so that one hung call costs the reconciler at most that,
// and one generation, not the run.
type callTimeoutFal struct {
	Fal
	timeout time.Duration
}

func (f callTimeoutFal) Status(ctx context.Context, statusURL string) (*fal.Status, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, f.timeout, errCallTimeout)
	defer cancel()
	status, err := f.Fal.Status(ctx, statusURL)
	return status, f.explain(ctx, err)
}

func (f callTimeoutFal) Result(ctx context.Context, responseURL string) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, f.timeout, errCallTimeout)
	defer cancel()
	result, err := f.Fal.Result(ctx, responseURL)
	return result, f.explain(ctx, err)
}

func (f callTimeoutFal) Cancel(ctx context.Context, cancelURL string) (fal.CancelOutcome, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, f.timeout, errCallTimeout)
	defer cancel()
	outcome, err := f.Fal.Cancel(ctx, cancelURL)
	return outcome, f.explain(ctx, err)
}

// explain says, on an error that came of the call's own timeout, what that
// timeout was: the client's error only says "context deadline exceeded",
// which the job's timeout would say too.
func (f callTimeoutFal) explain(ctx context.Context, err error) error {
	if err == nil || !errors.Is(context.Cause(ctx), errCallTimeout) {
		return err
	}
	return fmt.Errorf("no answer from fal within %s: %w", f.timeout, err)
}
