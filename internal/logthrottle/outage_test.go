package logthrottle_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/logthrottle"
)

// recovery is what Recovered reports; the zero recovery means no failures.
type recovery struct {
	failures int
	downFor  time.Duration
	log      bool
}

// step is one call on an Outage at offset at from the test's start, with
// what it should report: wantLine for Failed and Line, wantRecovery for
// Recovered, wantFailures for Failures.
type step struct {
	at           time.Duration
	call         string // "failed", "count", "line", "recovered" or "failures"
	key          string
	wantLine     line
	wantRecovery recovery
	wantFailures int
}

func TestOutage(t *testing.T) {
	t.Parallel()
	const every = time.Minute
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{
			name: "a line at the first failure and one an every after, then a recovery line with every failure and the time down",
			steps: []step{
				{at: 0, call: "failed", wantLine: line{1, 0, true}},
				{at: time.Second, call: "failed"},
				{at: 30 * time.Second, call: "failures", wantFailures: 2},
				{at: every, call: "failed", wantLine: line{2, time.Second, true}},
				{at: every + 1500*time.Microsecond, call: "recovered", wantRecovery: recovery{3, every + 2*time.Millisecond, true}},
				{at: every + time.Second, call: "recovered"},
				{at: every + time.Second, call: "failures"},
			},
		},
		{
			name: "an outage whose lines were all throttled away gets no recovery line, its failures counted into the next line",
			steps: []step{
				{at: 0, call: "failed", wantLine: line{1, 0, true}},
				{at: time.Second, call: "recovered", wantRecovery: recovery{1, time.Second, true}},
				{at: 2 * time.Second, call: "failed"},
				{at: 3 * time.Second, call: "recovered", wantRecovery: recovery{1, time.Second, false}},
				{at: 4 * time.Second, call: "failed"},
				{at: 5 * time.Second, call: "recovered", wantRecovery: recovery{1, time.Second, false}},
				{at: every + 6*time.Second, call: "failed", wantLine: line{3, 2 * time.Second, true}},
				{at: every + 7*time.Second, call: "recovered", wantRecovery: recovery{1, time.Second, true}},
			},
		},
		{
			name: "failures counted apart from their lines",
			steps: []step{
				{at: 0, call: "count"},
				{at: time.Second, call: "count"},
				{at: time.Second, call: "line", key: "gather", wantLine: line{1, time.Second, true}},
				{at: 2 * time.Second, call: "line", key: "gather"},
				{at: 2 * time.Second, call: "failures", wantFailures: 2},
				{at: 5 * time.Second, call: "recovered", wantRecovery: recovery{2, 5 * time.Second, true}},
			},
		},
		{
			name: "a line without a failure makes no outage, and a success forgets it",
			steps: []step{
				{at: 0, call: "line", key: "encode", wantLine: line{1, 0, true}},
				{at: time.Second, call: "recovered"},
				{at: 2 * time.Second, call: "count"},
				{at: 3 * time.Second, call: "recovered", wantRecovery: recovery{1, time.Second, false}},
			},
		},
		{
			name: "kinds throttled apart, failures counted together",
			steps: []step{
				{at: 0, call: "failed", key: "a", wantLine: line{1, 0, true}},
				{at: time.Second, call: "failed", key: "b", wantLine: line{1, time.Second, true}},
				{at: 2 * time.Second, call: "failed", key: "a"},
				{at: 2 * time.Second, call: "failures", wantFailures: 3},
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := clocktest.New()
			start := clock.Now()
			o := logthrottle.NewOutage(every, clock.Now, logthrottle.WithClock(clock.Now))
			for i, s := range tt.steps {
				clock.Advance(start.Add(s.at).Sub(clock.Now()))
				switch s.call {
				case "failed", "line":
					var n int
					var since time.Time
					var ok bool
					if s.call == "failed" {
						n, since, ok = o.Failed(s.key)
					} else {
						n, since, ok = o.Line(s.key)
					}
					got := line{n: n, ok: ok}
					if ok {
						got.since = since.Sub(start)
					}
					require.Equal(t, s.wantLine, got, "step %d", i)
				case "count":
					o.Count()
				case "recovered":
					failures, downFor, log := o.Recovered()
					require.Equal(t, s.wantRecovery, recovery{failures, downFor, log}, "step %d", i)
				case "failures":
					require.Equal(t, s.wantFailures, o.Failures(), "step %d", i)
				default:
					t.Fatalf("step %d: no call %q", i, s.call)
				}
			}
		})
	}
}
