package migrations_test

import (
	"context"
	"errors"
	"os"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/migrations"
)

// concurrentBuild is the statement docs/DATABASE.md gives operators to
// build 000026's index before upgrading.
var concurrentBuild = regexp.MustCompile(`CREATE INDEX CONCURRENTLY IF NOT EXISTS callback_deliveries_unfinished_idx [^']*`)

// unfinishedIndex is callback_deliveries_unfinished_idx's oid, definition
// and validity; oid 0 when there is none.
type unfinishedIndex struct {
	oid   uint32
	def   string
	valid bool
}

func unfinishedIndexOf(t *testing.T, url string) unfinishedIndex {
	t.Helper()
	var idx unfinishedIndex
	err := connectTo(t, url).QueryRow(context.Background(), `
		SELECT i.indexrelid::oid, pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i
		WHERE i.indexrelid = to_regclass('callback_deliveries_unfinished_idx')`).Scan(&idx.oid, &idx.def, &idx.valid)
	if errors.Is(err, pgx.ErrNoRows) {
		return unfinishedIndex{}
	}
	require.NoError(t, err)
	return idx
}

// Migration 000026 builds callback_deliveries_unfinished_idx, and down
// drops it. Built beforehand with docs/DATABASE.md's statement, it is the
// same index, which the migration keeps rather than building again.
func TestCallbackDeliveriesUnfinishedMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	doc, err := os.ReadFile("../docs/DATABASE.md")
	require.NoError(t, err)
	statement := concurrentBuild.FindString(string(doc))
	require.NotEmpty(t, statement, "docs/DATABASE.md gives the statement that builds the index beforehand")

	url := migratedTo(t, 25)
	require.Equal(t, unfinishedIndex{}, unfinishedIndexOf(t, url))
	require.NoError(t, migrations.Up(ctx, url, nil))
	migrated := unfinishedIndexOf(t, url)
	require.True(t, migrated.valid)
	require.Contains(t, migrated.def, "(created_at) WHERE ((delivered_at IS NULL) AND (abandoned_at IS NULL))")

	latest, err := migrations.Latest()
	require.NoError(t, err)
	require.NoError(t, migrations.Down(ctx, url, nil, int(latest-25)))
	require.Equal(t, unfinishedIndex{}, unfinishedIndexOf(t, url), "down drops it")

	// As an operator would, outside a transaction, then the upgrade.
	exec(t, url, statement)
	beforehand := unfinishedIndexOf(t, url)
	require.Equal(t, migrated.def, beforehand.def, "the statement builds the index the migration would")
	require.True(t, beforehand.valid)
	require.NoError(t, migrations.Up(ctx, url, nil))
	require.Equal(t, beforehand, unfinishedIndexOf(t, url), "the migration keeps the index built beforehand")
}
