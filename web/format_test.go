package web

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   time.Duration
		want string
	}{
		{420 * time.Millisecond, "0.42 s"},
		{12340 * time.Millisecond, "12.3 s"},
		{3*time.Minute + 12*time.Second, "3 min 12 s"},
		{2*time.Hour + 5*time.Minute + 20*time.Second, "2 h 5 min"},
		{-1500 * time.Millisecond, "-1.5 s"},
		{0, "0.00 s"},
		// Each unit is chosen after rounding, so no value reads as a full
		// unit of the smaller one ("60.0 s", "60 min 0 s").
		{994 * time.Millisecond, "0.99 s"},
		{996 * time.Millisecond, "1.0 s"},
		{1250 * time.Millisecond, "1.3 s"},
		{59940 * time.Millisecond, "59.9 s"},
		{59960 * time.Millisecond, "1 min 0 s"},
		{59*time.Minute + 59*time.Second + 400*time.Millisecond, "59 min 59 s"},
		{59*time.Minute + 59*time.Second + 600*time.Millisecond, "1 h 0 min"},
		{2*time.Hour + 59*time.Minute + 30*time.Second, "3 h 0 min"},
		{-59960 * time.Millisecond, "-1 min 0 s"},
		{math.MinInt64, "-2562047 h 47 min"}, // no overflow: Round stops at the largest Duration
	} {
		require.Equal(t, tt.want, formatDuration(tt.in), tt.in.String())
	}
}

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{812, "812 B"},
		{18734, "18.3 KiB"},
		{5 << 20, "5.0 MiB"},
		{3 << 40, "3.0 TiB"},
	} {
		require.Equal(t, tt.want, formatBytes(tt.in))
	}
}

func TestAbbreviate(t *testing.T) {
	t.Parallel()
	require.Equal(t, "short", abbreviate("short"))

	long := "data:image/png;base64," + strings.Repeat("é", 400)
	got := abbreviate(long)
	require.True(t, strings.HasPrefix(got, long[:maxShownChars-1]))
	require.True(t, strings.HasSuffix(got, "… (822 bytes in all)"))
	require.True(t, utf8.ValidString(got), "never cuts a character in half")
}

func TestIndentJSONKeepsLargeSeedsExact(t *testing.T) {
	t.Parallel()
	got := indentJSON([]byte(`{"seed": 17454220438242315174, "prompt": "<b>", "image": "` + strings.Repeat("a", 500) + `"}`))
	require.Contains(t, got, `"seed": 17454220438242315174`)
	require.Contains(t, got, `"prompt": "<b>"`, "html/template escapes it; escaping here too would show &lt;")
	require.Contains(t, got, "(500 bytes in all)")
	require.Equal(t, "not json", indentJSON([]byte("not json")))
}
