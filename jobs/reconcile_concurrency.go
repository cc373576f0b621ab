package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// reconcileConcurrency bounds the generations one reconciler step handles
// at once. One at a time, a single slow call to fal would hold up the rest
// of the batch and could use up the whole run; with a few at once the
// others go on while one waits. It stays small because each generation
// costs one to three calls to fal's queue API on the key the submit
// workers use too, and fal may answer that key 429 (a submit's
// fal_rate_limited). fal publishes no rate for status, result and cancel
// calls, so the reconciler catching up after a webhook outage stays a
// trickle beside the submissions rather than the burst that earns them
// 429s. Eight takes a batch of 50 in seven rounds. It also bounds the
// database connections a run holds at once, which EASEL_DB_MAX_CONNS's
// headroom over the workers absorbs.
const reconcileConcurrency = 8

// reconcileEach calls handle on each of gens (generations, or the fal
// requests to cancel), reconcileConcurrency at a time, and waits for those
// it started. The first error handle returns (a database error: fal's are
// handled by handle) cancels the context of the others and stops starting
// new ones; it is returned with the items never handed to handle, in
// gens' order. Should ctx end (the job's timeout), its cause is returned,
// with those never started.
func reconcileEach[T any](ctx context.Context, gens []T, handle func(context.Context, T) error) ([]T, error) {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		skipped  []T
	)
	slots := make(chan struct{}, reconcileConcurrency)
	for i, gen := range gens {
		select {
		case slots <- struct{}{}:
		case <-runCtx.Done():
		}
		// Both may be ready at once, and select picks either.
		if runCtx.Err() != nil {
			skipped = gens[i:]
			break
		}
		wg.Go(func() {
			// The slot frees after an error has cancelled the others, so
			// that the loop above cannot start another generation in
			// between.
			defer func() { <-slots }()
			if err := handle(runCtx, gen); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
					cancel(err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	if ctx.Err() != nil {
		// Those in flight when ctx ended were cut short too, so even with
		// none skipped the step did not finish. Their errors, of writes
		// on an ended context, would only hide why.
		stopped := fmt.Errorf("reconciler stopped with %d of %d generations not started: %w",
			len(skipped), len(gens), context.Cause(ctx))
		if firstErr != nil && !errors.Is(firstErr, ctx.Err()) {
			return skipped, errors.Join(firstErr, stopped)
		}
		return skipped, stopped
	}
	return skipped, firstErr
}
