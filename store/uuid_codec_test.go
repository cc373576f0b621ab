package store_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// Every way Easel passes and reads ids must give the same answers on a
// connection with store.RegisterTypes (dbtest.Pool's) as on a plain one,
// which is what a Go caller's own pool is.
func TestRegisterTypes(t *testing.T) {
	t.Parallel()
	b := setup(t)

	plain, err := pgxpool.New(b.ctx, b.pool.Config().ConnString())
	require.NoError(t, err)
	t.Cleanup(plain.Close)

	id := uuid.MustParse("0193a3c6-7b1e-7c4a-9f2d-5e6f708192a3")
	other := uuid.MustParse("ffffffff-0000-4000-8000-000000000001")

	for name, pool := range map[string]*pgxpool.Pool{"registered": b.pool, "plain": plain} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()

			var text string
			require.NoError(t, pool.QueryRow(b.ctx, `SELECT $1::uuid::text`, id).Scan(&text))
			require.Equal(t, id.String(), text, "sent in Postgres's byte order")

			var got uuid.UUID
			require.NoError(t, pool.QueryRow(b.ctx, `SELECT $1::text::uuid`, id.String()).Scan(&got))
			require.Equal(t, id, got)

			var nilID *uuid.UUID
			var isNull bool
			require.NoError(t, pool.QueryRow(b.ctx, `SELECT $1::uuid IS NULL`, nilID).Scan(&isNull))
			require.True(t, isNull, "a nil *uuid.UUID is NULL")

			var maybe *uuid.UUID
			require.NoError(t, pool.QueryRow(b.ctx, `SELECT NULL::uuid`).Scan(&maybe))
			require.Nil(t, maybe)
			require.NoError(t, pool.QueryRow(b.ctx, `SELECT $1::uuid`, &id).Scan(&maybe))
			require.Equal(t, id, *maybe)

			var null uuid.NullUUID
			require.NoError(t, pool.QueryRow(b.ctx, `SELECT NULL::uuid`).Scan(&null))
			require.False(t, null.Valid)

			var fromNull uuid.UUID
			require.NoError(t, pool.QueryRow(b.ctx, `SELECT NULL::uuid`).Scan(&fromNull))
			require.Equal(t, uuid.Nil, fromNull, "NULL into a uuid.UUID is no error, as uuid.UUID's own Scan has it")

			var ids []uuid.UUID
			require.NoError(t, pool.QueryRow(b.ctx, `SELECT array_agg(x ORDER BY x::text) FROM unnest($1::uuid[]) AS x`,
				[]uuid.UUID{other, id}).Scan(&ids))
			require.Equal(t, []uuid.UUID{id, other}, ids)
		})
	}
}
