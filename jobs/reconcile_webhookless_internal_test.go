package jobs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/logthrottle"
)

// The warning about results no webhook delivered comes with the first such
// result, then with the first one a minute or more after the last warning,
// counting those in between from the earliest of them.
func TestWebhooklessResultsWarnOnceAMinute(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	start := clock.Now()
	r := newWebhooklessResults(logthrottle.WithClock(clock.Now))

	type warning struct {
		warn  bool
		count int
		since time.Time
	}
	add := func(at time.Duration) warning {
		clock.Advance(start.Add(at).Sub(clock.Now()))
		warn, count, since := r.add()
		return warning{warn, count, since}
	}
	require.Equal(t, warning{true, 1, start.Add(5 * time.Second)}, add(5*time.Second), "the first warns at once")
	require.Equal(t, warning{}, add(10*time.Second))
	require.Equal(t, warning{}, add(64*time.Second))
	require.Equal(t, warning{true, 3, start.Add(10 * time.Second)}, add(65*time.Second),
		"a minute after the last warning: the three since")
	require.Equal(t, warning{}, add(66*time.Second))
	require.Equal(t, warning{true, 2, start.Add(66 * time.Second)}, add(10*time.Minute))
}

func TestLoggablePublicURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://easel.example.com/":              "https://easel.example.com",
		"https://easel.example.com/base":          "https://easel.example.com/base",
		"https://hook:s3cret@easel.example.com/x": "https://hook:xxxxx@easel.example.com/x",
	} {
		require.Equal(t, want, loggablePublicURL(raw), raw)
	}
}
