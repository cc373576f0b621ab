package logthrottle_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/logthrottle"
)

// line is what Allow reports for one event, since as an offset from the
// test's start; the zero line means no line.
type line struct {
	n     int
	since time.Duration
	ok    bool
}

type event struct {
	at   time.Duration
	key  string
	want line
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	const every = time.Minute
	for _, tt := range []struct {
		name   string
		forget time.Duration
		opts   []logthrottle.Option
		events []event
	}{
		{
			name: "first at once, then the first an every after the last line, counting those between",
			events: []event{
				{0, "a", line{1, 0, true}},
				{0, "a", line{}},
				{time.Second, "b", line{1, time.Second, true}},
				{30 * time.Second, "a", line{}},
				{every - time.Millisecond, "a", line{}},
				{every, "a", line{4, 0, true}},
				{every + time.Second, "a", line{}},
				{every + time.Second, "b", line{1, every + time.Second, true}},
				{10 * time.Minute, "a", line{2, every + time.Second, true}},
			},
		},
		{
			name: "a key kept for ever without forget",
			events: []event{
				{0, "a", line{1, 0, true}},
				{30 * time.Second, "a", line{}},
				{time.Hour, "b", line{1, time.Hour, true}},
				{time.Hour + time.Second, "a", line{2, 30 * time.Second, true}},
			},
		},
		{
			name:   "a key forgotten forget after its last line, with what it counted since",
			forget: 5 * time.Minute,
			events: []event{
				{0, "a", line{1, 0, true}},
				{30 * time.Second, "a", line{}},
				{5 * time.Minute, "b", line{1, 5 * time.Minute, true}}, // and forgets a
				{5*time.Minute + 30*time.Second, "a", line{1, 5*time.Minute + 30*time.Second, true}},
			},
		},
		{
			name:   "a key's own events reported before it is forgotten",
			forget: 5 * time.Minute,
			events: []event{
				{0, "a", line{1, 0, true}},
				{30 * time.Second, "a", line{}},
				{6 * time.Minute, "a", line{2, 30 * time.Second, true}},
				{6*time.Minute + time.Second, "a", line{}},
			},
		},
		{
			name: "summarize: each line once its events span an every",
			opts: []logthrottle.Option{logthrottle.Summarize()},
			events: []event{
				{0, "a", line{}},
				{30 * time.Second, "a", line{}},
				{every - time.Millisecond, "b", line{}},
				{every, "a", line{3, 0, true}},
				{every, "a", line{}},
				{90 * time.Second, "a", line{}},
				{2 * every, "a", line{3, every, true}},
				{2*every - time.Millisecond + every, "b", line{2, every - time.Millisecond, true}},
				// After a pause, the next line again waits an every.
				{10 * time.Minute, "a", line{}},
				{11 * time.Minute, "a", line{2, 10 * time.Minute, true}},
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := clocktest.New()
			start := clock.Now()
			throttle := logthrottle.New(every, tt.forget, append(tt.opts, logthrottle.WithClock(clock.Now))...)
			for i, e := range tt.events {
				clock.Advance(start.Add(e.at).Sub(clock.Now()))
				n, since, ok := throttle.Allow(e.key)
				got := line{n: n, ok: ok}
				if ok {
					got.since = since.Sub(start)
				} else {
					require.Zero(t, since, "event %d", i)
				}
				require.Equal(t, e.want, got, "event %d: %s at %s", i, e.key, e.at)
			}
		})
	}
}

// Events of one key from many goroutines at once are each counted once:
// the first line and the next one, an every later, stand for all of them.
func TestThrottleCountsConcurrentEvents(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	throttle := logthrottle.New(time.Minute, 0, logthrottle.WithClock(clock.Now))
	const goroutines, each = 16, 200
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		logged int
	)
	for range goroutines {
		wg.Go(func() {
			for range each {
				if n, _, ok := throttle.Allow("k"); ok {
					mu.Lock()
					logged += n
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, logged, "one line, at the first event")

	clock.Advance(time.Minute)
	n, _, ok := throttle.Allow("k")
	require.True(t, ok)
	require.Equal(t, goroutines*each, n, "the others and this one")
}
