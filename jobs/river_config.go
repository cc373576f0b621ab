package jobs

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
)

// fetchCooldown is the least time between two fetches of a queue, and
// between two insert notifications from one process. River's default of
// 100 ms caps a queue at MaxWorkers jobs per 100 ms (160/s with 16 workers)
// and leaves a job enqueued soon after another waiting for the next fetch;
// 10 ms costs a busy queue at most 100 fetches a second. docs/BENCHMARKS.md
// has the measurements.
const fetchCooldown = 10 * time.Millisecond

// RiverConfig is the River configuration Easel works jobs with, around
// workers. NewRiverClient uses it, adding the reconciler's periodic job,
// and is what a service running Easel's workers wants. RiverConfig is
// exported for easel bench (internal/bench), which runs no-op jobs through
// it to measure River alone under the same settings.
func RiverConfig(cfg Config, workers *river.Workers) *river.Config {
	cfg = cfg.withDefaults()
	return &river.Config{
		FetchCooldown: fetchCooldown,
		Logger:        riverLogger(cfg.Logger.Handler()),
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: cfg.MaxWorkers},
			QueueReconcile:     {MaxWorkers: 1},
			QueueCallbacks:     {MaxWorkers: cfg.callbackWorkers()},
		},
		Middleware:           append(slices.Clip(cfg.Middleware), cfg.Metrics.WorkerMiddleware()),
		Workers:              workers,
		JobTimeout:           cfg.jobTimeout(),
		RescueStuckJobsAfter: cfg.RescueAfter,
	}
}

// checked returns cfg ready for the workers of a client on pool, or an error
// naming each field they cannot run with. It refuses rather than defaults
// what would otherwise fail late and expensively: without Fal every
// submission panics after it was counted, leaving the generation queued
// with an in-flight slot held; without an absolute PublicURL fal refuses
// every webhook URL, failing every generation for good. Zero durations and
// limits keep their documented meaning; negative ones are refused rather
// than read as zero.
func (c Config) checked(pool *pgxpool.Pool) (Config, error) {
	var errs []error
	if pool == nil {
		errs = append(errs, errors.New("pool is nil"))
	}
	if isNil(c.Fal) {
		errs = append(errs, errors.New("Config.Fal is nil: the workers submit through it (a *fal.Client)"))
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if err := checkPublicURL(c.PublicURL); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []struct {
		name     string
		negative bool
	}{
		{"MaxWorkers", c.MaxWorkers < 0},
		{"CallbackWorkers", c.CallbackWorkers < 0},
		{"Limits.Global", c.Limits.Global < 0},
		{"Limits.PerClient", c.Limits.PerClient < 0},
		{"PollAfter", c.PollAfter < 0},
		{"Timeout", c.Timeout < 0},
		{"RescueAfter", c.RescueAfter < 0},
	} {
		if f.negative {
			errs = append(errs, fmt.Errorf("Config.%s is negative: zero means the default", f.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("jobs: invalid River client configuration: %w", err)
	}
	return c, nil
}

// checkPublicURL accepts the base of an absolute http(s) URL, to which the
// webhook path is appended.
func checkPublicURL(raw string) error {
	if raw == "" {
		return errors.New("Config.PublicURL is empty: fal delivers results to <PublicURL>" + webhookPath +
			"{id}, so it must be an absolute http(s) URL fal can reach")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("Config.PublicURL %q is not an absolute http(s) URL without query or fragment", raw)
	}
	return nil
}

// isNil reports whether f is nil, or a nil pointer in an interface, which
// would panic just the same on the first call.
func isNil(f Fal) bool {
	if f == nil {
		return true
	}
	v := reflect.ValueOf(f)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
