package store_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

func TestGenerationCursorInRange(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		at   time.Time
		want bool
	}{
		{"min int64 µs", time.UnixMicro(math.MinInt64), false},
		{"max int64 µs", time.UnixMicro(math.MaxInt64), false},
		{"year 0", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Microsecond), false},
		{"year 1", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"year 9999", time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), true},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), false},
		// The year is read in UTC, not in the time's own zone.
		{"year 1 UTC, year 0 in its zone", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).In(time.FixedZone("west", -3600)), true},
		{"year 10000 UTC, year 9999 in its zone", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).In(time.FixedZone("west", -3600)), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, store.GenerationCursor{CreatedAt: tt.at}.InRange())
		})
	}
}
