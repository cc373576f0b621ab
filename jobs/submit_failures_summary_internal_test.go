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
// retries are DEBUG whatever their code, and once a minute per error code
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
	require.Len(t, retries, len(gens), "each generation's first failure; the 429 of one already failing is a retry")

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

// fal alternating 5xx and 429 (500, 429, 502, 429, 500) gives a generation
// one WARN, its first failure, not one per change of code: its retries are
// DEBUG whatever their code, each line and the row naming its own.
func TestSubmitRetriesWarnOnceWhateverTheCode(t *testing.T) {
	t.Parallel()
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w := &SubmitGenerationWorker{logger: logger, failures: newSubmitFailures()}

	unavailable := submitFailure{code: store.ErrorCodeFalUnavailable, message: "fal submit: HTTP 500", retry: true}
	rateLimited := submitFailure{code: store.ErrorCodeFalRateLimited, message: "fal submit: HTTP 429", retry: true}
	gen := &store.Generation{ID: uuid.New()}
	codes := []submitFailure{unavailable, rateLimited, unavailable, rateLimited, unavailable}
	for _, f := range codes {
		// submitFailed's logger carries the failure's code.
		w.logRetried(context.Background(), logger.With("error_code", f.code), gen, f, "submit to fal failed; will retry")
		gen.ErrorCode = &f.code // as the row records it
	}

	var levels, logged []string
	for _, entry := range logs.Lines(t, "submit to fal failed; will retry") {
		levels = append(levels, entry["level"].(string))
		logged = append(logged, entry["error_code"].(string))
	}
	require.Equal(t, []string{"WARN", "DEBUG", "DEBUG", "DEBUG", "DEBUG"}, levels)
	require.Equal(t, []string{unavailable.code, rateLimited.code, unavailable.code, rateLimited.code, unavailable.code}, logged)
}
