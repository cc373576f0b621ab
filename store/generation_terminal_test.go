package store_test

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// The database itself refuses to change a finished generation's status or
// finished_at, whatever the statement; the rest of the row may still be
// written.
func TestFinishedGenerationNeverChangesInDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.insert(t, "")
	require.True(t, b.complete(t, g.ID, store.Completion{FalRequestID: "req-1"}))

	for _, stmt := range []string{
		`UPDATE generations SET status = 'queued', finished_at = NULL, completed_at = NULL WHERE id = $1`,
		`UPDATE generations SET status = 'failed', error_code = 'timeout' WHERE id = $1`,
		`UPDATE generations SET finished_at = now() - interval '1 hour' WHERE id = $1`,
	} {
		_, err := b.pool.Exec(b.ctx, stmt, g.ID)
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), stmt)
		require.Equal(t, "23000", pgErr.Code, stmt)
		require.Contains(t, pgErr.Message, "a finished generation's status and finished_at never change", stmt)
	}

	_, err := b.pool.Exec(b.ctx, `UPDATE generations SET last_webhook_at = now(), status = status WHERE id = $1`, g.ID)
	require.NoError(t, err)
	_, err = store.RecordSubmitted(b.ctx, b.pool, g.ID, store.Submission{RequestID: "req-1"})
	require.NoError(t, err, "a submit call returning late still records its accounting")
	changed, err := store.Fail(b.ctx, b.pool, g.ID, "timeout", "too late")
	require.NoError(t, err)
	require.False(t, changed)

	got, err := store.GetGeneration(b.ctx, b.pool, g.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCompleted, got.Status)
}
