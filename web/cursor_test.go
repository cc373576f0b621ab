package web

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// FuzzDecodeCursor feeds the gallery's before/after parameters, which come
// from anyone's URL.
func FuzzDecodeCursor(f *testing.F) {
	f.Add("1767225600123456_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11")
	f.Add("0_00000000-0000-0000-0000-000000000000")
	f.Add("-62135596800000000_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11")
	f.Add("-9223372036854775808_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11")
	f.Add("9223372036854775807_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11")
	f.Add("_")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			return
		}
		again, err := decodeCursor(encodeCursor(c))
		require.NoError(t, err, "an accepted cursor re-encodes")
		require.True(t, c.InRange(), "an accepted cursor is one Postgres can compare")
		require.True(t, c.CreatedAt.Equal(again.CreatedAt))
		require.Equal(t, c.ID, again.ID)
	})
}

// TestDecodeCursorRange: a cursor is read up to both ends of the years it
// may name (store.GenerationCursor.InRange), and refused beyond them.
func TestDecodeCursorRange(t *testing.T) {
	t.Parallel()
	const id = "_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11"
	year1 := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	year10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)

	for _, tt := range []struct {
		cursor string
		ok     bool
		want   time.Time
	}{
		{"-9223372036854775808" + id, false, time.Time{}}, // min int64
		{"9223372036854775807" + id, false, time.Time{}},  // max int64
		{"-62135596800000001" + id, false, time.Time{}},   // year 0
		{"253402300800000000" + id, false, time.Time{}},   // year 10000
		{"-62135596800000000" + id, true, year1},
		{"253402300799999999" + id, true, year10000.Add(-time.Microsecond)},
	} {
		t.Run(tt.cursor, func(t *testing.T) {
			t.Parallel()
			c, err := decodeCursor(tt.cursor)
			if !tt.ok {
				require.EqualError(t, err, "page cursor out of range")
				return
			}
			require.NoError(t, err)
			require.True(t, tt.want.Equal(c.CreatedAt), "%s", c.CreatedAt)
			require.Equal(t, uuid.MustParse(id[1:]), c.ID)
			require.Equal(t, tt.cursor, encodeCursor(c))
		})
	}
}
