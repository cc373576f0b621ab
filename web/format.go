package web

import (
	"fmt"
	"math"
	"time"
)

// formatDuration renders d for people: "0.42 s", "12.3 s", "3 min 12 s",
// "2 h 5 min". Each unit is chosen after rounding to its precision, so that
// 59.96 s reads "1 min 0 s" rather than "60.0 s".
func formatDuration(d time.Duration) string {
	if d < 0 {
		// -math.MinInt64 overflows to itself.
		return "-" + formatDuration(-max(d, -math.MaxInt64))
	}
	if r := d.Round(10 * time.Millisecond); r < time.Second {
		return fmt.Sprintf("%.2f s", r.Seconds())
	}
	if r := d.Round(100 * time.Millisecond); r < time.Minute {
		return fmt.Sprintf("%.1f s", r.Seconds())
	}
	if r := d.Round(time.Second); r < time.Hour {
		return fmt.Sprintf("%d min %d s", int(r.Minutes()), int(r.Seconds())%60)
	}
	r := d.Round(time.Minute)
	return fmt.Sprintf("%d h %d min", int(r.Hours()), int(r.Minutes())%60)
}

// formatBytes renders a size in binary units: "812 B", "18.3 KiB", "1.2 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
