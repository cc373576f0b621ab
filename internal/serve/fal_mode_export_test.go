package serve

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// FalModeHolders is falModeHolders for the external tests.
var FalModeHolders = falModeHolders

// falModeHolders returns the sessions holding mode's lock. store.HoldFalMode
// keys it ("ESMD", mode); store keeps that key unexported, so it is
// written out here, once for both test packages.
func falModeHolders(t *testing.T, pool *pgxpool.Pool, mode store.FalMode) []int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND classid::bigint = x'45534d44'::bigint AND objid::bigint = $1`, int64(mode))
	require.NoError(t, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	return pids
}
