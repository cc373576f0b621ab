package api

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/internal/apierror"
	"github.com/easelhq/easel/notify"
	"github.com/easelhq/easel/store"
)

const (
	// MaxWait caps ?wait on GET /v1/generations/{id}; longer waits are
	// lowered to it, below the idle timeouts of common proxies.
	MaxWait = 60 * time.Second
	// WaitTimedOutHeader answers a ?wait request: "false" when the
	// generation is terminal, "true" when the wait ended first.
	WaitTimedOutHeader = "Easel-Wait-Timed-Out"
	// waitRecheck is how often a waiting request reads its generation
	// again without being woken: an announcement is lost when the process
	// that finished the generation dies before sending it, or the send
	// fails, and this bounds what that costs the request. Each waiting
	// request reads once per period, so it is not shorter.
	waitRecheck = 2 * time.Second
)

// waiter holds what long-polls need.
type waiter struct {
	listener *notify.Listener
	// onWaiting, if set, is called each time a request starts waiting.
	onWaiting func(id uuid.UUID)
}

// getGeneration reads generation id, first long-polling until it is
// terminal when the request's query q has wait. The wait ends early when
// the client goes away or the listener stops (the server is shutting down).
func (h *Handler) getGeneration(c echo.Context, id uuid.UUID, q url.Values) (*store.Generation, error) {
	ctx := c.Request().Context()
	raw, ok := q["wait"]
	if !ok {
		return store.GetGeneration(ctx, h.pool, id)
	}
	wait, err := parseWait(raw)
	if err != nil {
		return nil, err
	}
	gen, err := h.awaitTerminal(ctx, id, wait)
	if err != nil {
		return nil, err
	}
	c.Response().Header().Set(WaitTimedOutHeader, strconv.FormatBool(!gen.Status.Terminal()))
	return gen, nil
}

func parseWait(values []string) (time.Duration, error) {
	invalid := func(message string) error {
		return invalidRequest([]apierror.Detail{{Field: "wait", Message: message}})
	}
	if len(values) != 1 {
		return 0, invalid("must be given once")
	}
	d, err := time.ParseDuration(values[0])
	switch {
	case err != nil && durationSyntax.MatchString(values[0]):
		// Beyond time.Duration's 2562047h: read, it would be lowered to
		// MaxWait, but it cannot be read.
		return 0, invalid("is too long to read; waits longer than " + MaxWait.String() + " are lowered to it, so ask for " + MaxWait.String())
	case err != nil || d < 0:
		return 0, invalid("must be a duration of zero or more such as 30s; longer waits are lowered to " + MaxWait.String())
	}
	return min(d, MaxWait), nil
}

// durationSyntax matches what time.ParseDuration reads, sign aside: a
// value it refuses anyway is too large for a time.Duration.
var durationSyntax = regexp.MustCompile(`^\+?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// awaitTerminal returns the generation once it is terminal or wait has
// passed. It subscribes before each read, so a generation finishing between
// the read and the wait still wakes it; it also reads again every
// waitRecheck, so a lost announcement delays the answer by at most that.
func (h *Handler) awaitTerminal(ctx context.Context, id uuid.UUID, wait time.Duration) (*store.Generation, error) {
	l := h.wait.listener
	if l == nil || wait == 0 {
		return store.GetGeneration(ctx, h.pool, id)
	}
	sub := l.Subscribe(id.String())
	defer sub.Close()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	recheck := time.NewTicker(waitRecheck)
	defer recheck.Stop()
	for {
		gen, err := store.GetGeneration(ctx, h.pool, id)
		if err != nil || gen.Status.Terminal() {
			return gen, err
		}
		if h.wait.onWaiting != nil {
			h.wait.onWaiting(id)
		}
		select {
		case <-sub.C:
			continue // finished, or the listener reconnected: look again
		case <-recheck.C:
			continue
		case <-timer.C:
		case <-l.Done():
		case <-ctx.Done():
			// The client hung up: no one reads the answer, and the error
			// handler counts it as a 499, not as Easel's 5xx.
			return nil, fmt.Errorf("wait for generation %s: %w", id, ctx.Err())
		}
		return store.GetGeneration(ctx, h.pool, id)
	}
}
