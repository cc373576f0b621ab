package web

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDecodeCursor feeds the gallery's before/after parameters, which come
// from anyone's URL.
func FuzzDecodeCursor(f *testing.F) {
	f.Add("1767225600123456_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11")
	f.Add("0_00000000-0000-0000-0000-000000000000")
	f.Add("-62135596800000000_0193a4c1-7d1e-7c4e-9d6b-2f1d9c1e0a11")
	f.Add("_")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			return
		}
		again, err := decodeCursor(encodeCursor(c))
		require.NoError(t, err, "an accepted cursor re-encodes")
		require.True(t, c.CreatedAt.Equal(again.CreatedAt))
		require.Equal(t, c.ID, again.ID)
	})
}
