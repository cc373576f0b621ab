package jobs

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/logthrottle"
	"github.com/easelhq/easel/store"
)

// During a fal outage each generation's first failure is a WARN, its
// retries failing the same way are DEBUG, and once a minute per error code
// a WARN sums up the failures since the last: the log grows by a line per
// generation and a line per minute, not by one per retry.
func TestSubmitFailuresLogOnceAMinutePerCode(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	now := start
	failures := newSubmitFailures(logthrottle.WithClock(func() time.Time { return now }))
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := &SubmitGenerationWorker{logger: logger, failures: failures}

	unavailable := submitFailure{code: store.ErrorCodeFalUnavailable, message: "fal submit: HTTP 503: Service Unavailable", retry: true}
	rateLimited := submitFailure{code: store.ErrorCodeFalRateLimited, message: "fal submit: HTTP 429: Too Many Requests", retry: true}
	gens := []*store.Generation{{ID: uuid.New()}, {ID: uuid.New()}, {ID: uuid.New()}}
	// fail logs a failure of gen at offset at, noting its code on gen as
	// the row records it.
	fail := func(at time.Duration, gen *store.Generation, f submitFailure) {
		now = start.Add(at)
		w.logRetried(context.Background(), logger, gen, f, "submit to fal failed; will retry")
		gen.ErrorCode = &f.code
	}
	// Ten minutes of 503s, each generation retried every 10 seconds.
	for at := time.Duration(0); at < 10*time.Minute; at += 10 * time.Second {
		for _, gen := range gens {
			fail(at, gen, unavailable)
		}
	}
	// Then fal rate limits one of them.
	fail(10*time.Minute, gens[0], rateLimited)

	var retries, summaries []map[string]any
	for _, entry := range logs.Records(t) {
		switch entry["msg"] {
		case "submit to fal failed; will retry":
			if entry["level"] == "WARN" {
				retries = append(retries, entry)
			} else {
				require.Equal(t, "DEBUG", entry["level"])
			}
		case "fal submits failing":
			summaries = append(summaries, entry)
		default:
			t.Fatalf("unexpected line %v", entry)
		}
	}
	require.Len(t, retries, len(gens)+1, "each generation's first 503, and the first 429")

	require.Len(t, summaries, 9, "a minute after the first failure, then every minute")
	first := summaries[0]
	require.Equal(t, "WARN", first["level"])
	require.Equal(t, store.ErrorCodeFalUnavailable, first["error_code"])
	require.EqualValues(t, 6*len(gens)+1, first["failures"], "six rounds, then the failure a minute after the first")
	require.EqualValues(t, len(gens), first["generations"])
	require.Equal(t, start.Format(time.RFC3339), first["since"])
	require.Equal(t, unavailable.message, first["last_error"])
	for _, s := range summaries[1:] {
		require.Equal(t, store.ErrorCodeFalUnavailable, s["error_code"])
		require.EqualValues(t, 6*len(gens), s["failures"], "a minute's failures")
	}
}
