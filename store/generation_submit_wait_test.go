package store_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

func TestSubmissionWait(t *testing.T) {
	t.Parallel()
	b := setup(t)

	tests := []struct {
		name string
		// ago is how long before now, by the database's clock, the
		// submission started; negative: never submitted.
		ago              time.Duration
		wantMin, wantMax time.Duration
	}{
		{name: "never submitted", ago: -1},
		{name: "started 10 minutes ago", ago: 10 * time.Minute, wantMin: 49 * time.Minute, wantMax: 50 * time.Minute},
		{name: "started 2 hours ago", ago: 2 * time.Hour},
	}
	for _, tt := range tests {
		g := b.insert(t, "")
		if tt.ago >= 0 {
			_, err := b.pool.Exec(b.ctx, `UPDATE generations SET submitting_at = now() - $2::interval WHERE id = $1`, g.ID, tt.ago)
			require.NoError(t, err)
		}
		left, err := store.SubmissionWait(b.ctx, b.pool, g.ID, time.Hour)
		require.NoError(t, err, tt.name)
		require.GreaterOrEqual(t, left, tt.wantMin, tt.name)
		require.LessOrEqual(t, left, tt.wantMax, tt.name)
	}

	_, err := store.SubmissionWait(b.ctx, b.pool, uuid.New(), time.Hour)
	require.ErrorIs(t, err, store.ErrNotFound)
}
