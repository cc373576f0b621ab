package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClockOffset(t *testing.T) {
	t.Parallel()
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms float64) time.Time { return base.Add(time.Duration(ms * float64(time.Millisecond))) }
	tests := []struct {
		name    string
		samples []clockSample
		want    time.Duration
	}{
		{name: "None", samples: nil, want: 0},
		{name: "SameClock", samples: []clockSample{{sent: at(0), postgres: at(0.5), received: at(1)}}, want: 0},
		{
			name: "QuickestRoundTripWins",
			samples: []clockSample{
				{sent: at(0), postgres: at(9), received: at(10)},     // slow: its midpoint says +4 ms
				{sent: at(20), postgres: at(23.5), received: at(21)}, // quick: +3 ms
				{sent: at(30), postgres: at(31.5), received: at(33)}, // +0, but slower
			},
			want: 3 * time.Millisecond,
		},
		{name: "PostgresBehind", samples: []clockSample{{sent: at(10), postgres: at(5.5), received: at(11)}}, want: -5 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, clockOffset(tt.samples))
		})
	}
}

func TestDurabilityWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		d    Durability
		want []string // a word each warning holds, in order
	}{
		{name: "Durable", d: Durability{SynchronousCommit: "on", Fsync: "on", FullPageWrites: "on"}},
		{name: "LocalIsDurable", d: Durability{SynchronousCommit: "local", Fsync: "on", FullPageWrites: "off"}},
		{name: "AsyncCommit", d: Durability{SynchronousCommit: "off", Fsync: "on"}, want: []string{"synchronous_commit"}},
		{name: "NoFsync", d: Durability{SynchronousCommit: "on", Fsync: "off"}, want: []string{"fsync"}},
		{name: "Both", d: Durability{SynchronousCommit: "off", Fsync: "off"}, want: []string{"synchronous_commit", "fsync"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.d.warnings()
			require.Len(t, got, len(tt.want))
			for i, word := range tt.want {
				require.Contains(t, got[i], word)
			}
		})
	}
}
