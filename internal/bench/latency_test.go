package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentileMs(t *testing.T) {
	t.Parallel()
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(100-i) * time.Millisecond // reversed: percentileMs sorts
	}
	tests := []struct {
		name string
		ds   []time.Duration
		p    float64
		want float64
	}{
		{name: "NoSamples", ds: nil, p: 0.5, want: 0},
		{name: "OneSample", ds: []time.Duration{1500 * time.Microsecond}, p: 0.99, want: 1.5},
		{name: "Median", ds: append([]time.Duration(nil), hundred...), p: 0.5, want: 50},
		{name: "P99", ds: append([]time.Duration(nil), hundred...), p: 0.99, want: 99},
		{name: "Max", ds: append([]time.Duration(nil), hundred...), p: 1, want: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.InDelta(t, tt.want, percentileMs(tt.ds, tt.p), 1e-9)
		})
	}
}
