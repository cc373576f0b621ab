package jobs

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/logtest"
)

// While the database is down every run of the dispatcher, one a second,
// fails alike: the first failure is a WARN at once, then one a minute
// counting the failures since the last (repeated, from since), the others
// DEBUG; the first run that succeeds again says so once, with how many
// failed and for how long.
func TestDispatchFailuresLoggedOnceAMinute(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	start := clock.Now()
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	failures := newDispatchFailures(clock.Now)
	down := errors.New("dispatch callbacks: begin: failed to connect: connection refused")
	run := func(err error) {
		failures.log(logger, err)
		clock.Advance(callbackDispatchInterval)
	}
	warnings := func() []map[string]any {
		var warn []map[string]any
		for _, line := range logs.Lines(t, "dispatch callbacks") {
			if line["level"] == "WARN" {
				warn = append(warn, line)
			}
		}
		return warn
	}

	run(nil)
	const outage = 30 // a drill's 30 s outage
	for range outage {
		run(down)
	}
	require.Len(t, logs.Lines(t, "dispatch callbacks"), outage, "every failure has a line")
	warn := warnings()
	require.Len(t, warn, 1, "one WARN, at the first failure")
	require.Equal(t, down.Error(), warn[0]["error"])
	require.NotContains(t, warn[0], "repeated")
	firstFailure := start.Add(callbackDispatchInterval)

	clock.Advance(firstFailure.Add(dispatchLogEvery).Sub(clock.Now()))
	run(down)
	warn = warnings()
	require.Len(t, warn, 2, "a minute after the first")
	require.EqualValues(t, outage, warn[1]["repeated"], "the 29 failures not logged, and this one")
	since, err := time.Parse(time.RFC3339Nano, warn[1]["since"].(string))
	require.NoError(t, err)
	require.True(t, firstFailure.Add(callbackDispatchInterval).Equal(since), "since the second failure: %s", since)
	require.Empty(t, logs.Lines(t, "database reachable again"))

	recovered := clock.Now()
	run(nil)
	run(nil)
	back := logs.Lines(t, "database reachable again")
	require.Len(t, back, 1, "once, at the first run that succeeds")
	require.Equal(t, "INFO", back[0]["level"])
	require.Equal(t, "callback dispatcher", back[0]["component"])
	require.EqualValues(t, outage+1, back[0]["failures"])
	require.Equal(t, recovered.Sub(firstFailure).String(), back[0]["down_for"])
	require.Len(t, warnings(), 2)
}

// A dispatcher that fails again within a minute of its last WARN, and
// recovers before the minute is up, writes no more than that WARN and its
// recovery: a flapping database does not get a pair of lines a second.
// What went unlogged is counted into the next WARN.
func TestDispatchFailuresFlappingStayThrottled(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	failures := newDispatchFailures(clock.Now)
	down := errors.New("dispatch callbacks: connection reset")

	for range 20 {
		failures.log(logger, down)
		clock.Advance(time.Second)
		failures.log(logger, nil)
		clock.Advance(time.Second)
	}
	require.Len(t, logs.Lines(t, "dispatch callbacks"), 1)
	require.Len(t, logs.Lines(t, "database reachable again"), 1)

	clock.Advance(time.Minute)
	failures.log(logger, down)
	warn := logs.Lines(t, "dispatch callbacks")
	require.Len(t, warn, 2)
	require.EqualValues(t, 20, warn[1]["repeated"], "the 19 failures not logged, and this one")
}
