package jobs

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/clocktest"
	"github.com/easelhq/easel/internal/logthrottle"
)

// captured is a record as the handler below riverLogger received it.
type captured struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

// captureHandler keeps the records it is enabled for; the handlers
// derived from it write to the same list.
type captureHandler struct {
	least   slog.Level
	mu      *sync.Mutex
	records *[]captured
	with    []slog.Attr
}

func newCaptureHandler(least slog.Level) *captureHandler {
	return &captureHandler{least: least, mu: new(sync.Mutex), records: new([]captured)}
}

func (h *captureHandler) Enabled(_ context.Context, level slog.Level) bool { return level >= h.least }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	c := captured{level: r.Level, msg: r.Message, attrs: map[string]any{}}
	for _, a := range h.with {
		c.attrs[a.Key] = a.Value.Resolve().Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		c.attrs[a.Key] = a.Value.Resolve().Any()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, c)
	return nil
}

func (h *captureHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	derived := *h
	derived.with = append(append([]slog.Attr{}, h.with...), attrs...)
	return &derived
}

func (h *captureHandler) WithGroup(string) slog.Handler { return h }

func (h *captureHandler) captured() []captured {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]captured(nil), *h.records...)
}

// riverRecord is a record River logs, at an offset from the test's start.
type riverRecord struct {
	at    time.Duration
	level slog.Level
	msg   string
	// with are attributes of the logger River logs it through.
	with []any
	args []any
}

// River's ERROR lines come through once a minute per message, the rest
// demoted to DEBUG, and every err of River's reaches the log as error; its
// other levels pass as they were.
func TestRiverLoggerThrottlesErrors(t *testing.T) {
	t.Parallel()
	const (
		fetchJobs     = "producer: Error fetching jobs"
		queueSettings = "producer: Error fetching queue settings"
	)
	start := clocktest.New().Now()
	tests := []struct {
		name     string
		logLevel slog.Level
		records  []riverRecord
		want     []captured
	}{
		{
			name:     "err is renamed error at every level, in attributes of the logger too",
			logLevel: slog.LevelDebug,
			records: []riverRecord{
				{level: slog.LevelWarn, msg: "Notifier unhealthy", args: []any{"err", "connection refused"}},
				{level: slog.LevelDebug, msg: "Client: Stopping producers", with: []any{"err", "gone"}},
				{level: slog.LevelError, msg: fetchJobs, args: []any{slog.String("err", "connection refused"), "queue", "default"}},
			},
			want: []captured{
				{slog.LevelWarn, "Notifier unhealthy", map[string]any{"error": "connection refused"}},
				{slog.LevelDebug, "Client: Stopping producers", map[string]any{"error": "gone"}},
				{slog.LevelError, fetchJobs, map[string]any{"error": "connection refused", "queue": "default"}},
			},
		},
		{
			name:     "the repeats of a minute are dropped at info and counted into the next line",
			logLevel: slog.LevelInfo,
			records: []riverRecord{
				{at: 0, level: slog.LevelError, msg: fetchJobs},
				{at: 10 * time.Second, level: slog.LevelError, msg: fetchJobs},
				{at: 20 * time.Second, level: slog.LevelError, msg: fetchJobs},
				{at: time.Minute, level: slog.LevelError, msg: fetchJobs, args: []any{"err", "connection refused"}},
				{at: 90 * time.Second, level: slog.LevelError, msg: fetchJobs},
			},
			want: []captured{
				{slog.LevelError, fetchJobs, map[string]any{}},
				{slog.LevelError, fetchJobs, map[string]any{"error": "connection refused", "repeated": int64(3), "since": start.Add(10 * time.Second)}},
			},
		},
		{
			name:     "the repeats are kept at debug",
			logLevel: slog.LevelDebug,
			records: []riverRecord{
				{at: 0, level: slog.LevelError, msg: fetchJobs},
				{at: 30 * time.Second, level: slog.LevelError, msg: fetchJobs, args: []any{"err", "connection refused"}},
				{at: time.Minute, level: slog.LevelError, msg: fetchJobs},
			},
			want: []captured{
				{slog.LevelError, fetchJobs, map[string]any{}},
				{slog.LevelDebug, fetchJobs, map[string]any{"error": "connection refused"}},
				{slog.LevelError, fetchJobs, map[string]any{"repeated": int64(2), "since": start.Add(30 * time.Second)}},
			},
		},
		{
			name:     "each message has its own minute",
			logLevel: slog.LevelInfo,
			records: []riverRecord{
				{at: 0, level: slog.LevelError, msg: fetchJobs},
				{at: 0, level: slog.LevelError, msg: queueSettings},
				{at: time.Second, level: slog.LevelError, msg: queueSettings},
			},
			want: []captured{
				{slog.LevelError, fetchJobs, map[string]any{}},
				{slog.LevelError, queueSettings, map[string]any{}},
			},
		},
		{
			name:     "loggers derived for each queue share the minute",
			logLevel: slog.LevelInfo,
			records: []riverRecord{
				{at: 0, level: slog.LevelError, msg: fetchJobs, with: []any{"queue", "default"}},
				{at: time.Second, level: slog.LevelError, msg: fetchJobs, with: []any{"queue", "reconcile"}},
			},
			want: []captured{
				{slog.LevelError, fetchJobs, map[string]any{"queue": "default"}},
			},
		},
		{
			name:     "warnings are not throttled",
			logLevel: slog.LevelInfo,
			records: []riverRecord{
				{at: 0, level: slog.LevelWarn, msg: "Client: Soft stop timeout"},
				{at: time.Second, level: slog.LevelWarn, msg: "Client: Soft stop timeout"},
			},
			want: []captured{
				{slog.LevelWarn, "Client: Soft stop timeout", map[string]any{}},
				{slog.LevelWarn, "Client: Soft stop timeout", map[string]any{}},
			},
		},
		{
			name:     "routine info is still dropped at info",
			logLevel: slog.LevelInfo,
			records: []riverRecord{
				{level: slog.LevelInfo, msg: "producer: Producer job counts"},
				{level: slog.LevelInfo, msg: "River client started", args: []any{"err", "none"}},
			},
			want: []captured{
				{slog.LevelInfo, "River client started", map[string]any{"error": "none"}},
			},
		},
		{
			name:     "repeats left at the end of an outage are counted into the next one's first line",
			logLevel: slog.LevelInfo,
			records: []riverRecord{
				{at: 0, level: slog.LevelError, msg: fetchJobs},
				{at: 30 * time.Second, level: slog.LevelError, msg: fetchJobs},
				{at: time.Hour, level: slog.LevelError, msg: fetchJobs},
			},
			want: []captured{
				{slog.LevelError, fetchJobs, map[string]any{}},
				{slog.LevelError, fetchJobs, map[string]any{"repeated": int64(2), "since": start.Add(30 * time.Second)}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := clocktest.At(start)
			capture := newCaptureHandler(tt.logLevel)
			logger := riverLogger(capture, logthrottle.WithClock(clock.Now))
			elapsed := time.Duration(0)
			for _, r := range tt.records {
				clock.Advance(r.at - elapsed)
				elapsed = r.at
				logger.With(r.with...).Log(context.Background(), r.level, r.msg, r.args...)
			}
			require.Equal(t, tt.want, capture.captured())
		})
	}
}

// RiverConfig gives River the throttling logger.
func TestRiverConfigLoggerThrottlesErrors(t *testing.T) {
	t.Parallel()
	capture := newCaptureHandler(slog.LevelInfo)
	logger := RiverConfig(Config{Logger: slog.New(capture)}, nil).Logger
	for range 3 {
		logger.Error("producer: Error fetching jobs", "err", "connection refused")
	}
	require.Equal(t, []captured{
		{slog.LevelError, "producer: Error fetching jobs", map[string]any{"error": "connection refused"}},
	}, capture.captured())
}
