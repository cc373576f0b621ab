package jobs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClientCapBackoff(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		metadata string
		base     time.Duration
	}{
		{``, time.Second},
		{`{}`, time.Second},
		{`{"snoozes": 1}`, 2 * time.Second},
		{`{"snoozes": 3}`, 8 * time.Second},
		{`{"snoozes": 500}`, time.Minute},
	} {
		d := clientCapBackoff([]byte(tt.metadata))
		require.GreaterOrEqual(t, d, tt.base/2, tt.metadata)
		require.LessOrEqual(t, d, tt.base*3/2, tt.metadata)
	}
}
