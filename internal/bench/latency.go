package bench

import (
	"slices"
	"time"
)

// percentileMs returns the p-th percentile (0 < p ≤ 1, nearest rank) of ds in
// milliseconds, or 0 for no samples. ds is sorted in place.
func percentileMs(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(float64(len(ds))*p+0.999999) - 1
	rank = max(0, min(rank, len(ds)-1))
	return ms(ds[rank])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
