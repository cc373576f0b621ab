package notify

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/logtest"
	"github.com/easelhq/easel/internal/logthrottle"
)

// While the database is down a Listener tries to connect every maxBackoff,
// each try failing alike: the first failure is a WARN at once, then one a
// minute counting the failures since the last (repeated, from since) as
// well as those in a row (failures), the others DEBUG; the reconnection
// says how long it was down.
func TestListenerFailuresLoggedOnceAMinute(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	start := clock.Now()
	logs := &logtest.Buffer{}
	log := newConnectionLog(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), "ch",
		clock.Now, logthrottle.WithClock(clock.Now))
	const msg = "notification listener failed; reconnecting"
	down := errors.New("connect: failed to connect: connection refused")
	warnings := func() []map[string]any {
		var warn []map[string]any
		for _, line := range logs.Lines(t, msg) {
			if line["level"] == "WARN" {
				warn = append(warn, line)
			}
		}
		return warn
	}

	log.connected()   // the first connection: no recovery
	const outage = 12 // a minute of tries, maxBackoff apart
	for range outage {
		log.failed(down, maxBackoff)
		clock.Advance(maxBackoff)
	}
	require.Len(t, logs.Lines(t, msg), outage, "every failure has a line")
	warn := warnings()
	require.Len(t, warn, 1, "one WARN, at the first failure")
	require.EqualValues(t, 1, warn[0]["failures"])
	require.Equal(t, "ch", warn[0]["channel"])
	require.Equal(t, down.Error(), warn[0]["error"])
	require.NotContains(t, warn[0], "repeated")

	require.True(t, start.Add(failureLogEvery).Equal(clock.Now()))
	log.failed(down, maxBackoff)
	warn = warnings()
	require.Len(t, warn, 2, "a minute after the first")
	require.EqualValues(t, outage+1, warn[1]["failures"], "in a row")
	require.EqualValues(t, outage, warn[1]["repeated"], "the 11 failures not logged, and this one")
	since, err := time.Parse(time.RFC3339Nano, warn[1]["since"].(string))
	require.NoError(t, err)
	require.True(t, start.Add(maxBackoff).Equal(since), "since the second failure: %s", since)

	clock.Advance(time.Second)
	log.connected()
	log.connected()
	back := logs.Lines(t, "notification listener reconnected")
	require.Len(t, back, 1)
	require.Equal(t, "INFO", back[0]["level"])
	require.EqualValues(t, outage+1, back[0]["attempts"])
	require.Equal(t, (failureLogEvery + time.Second).String(), back[0]["down_for"])
}
