package migrations_test

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/migrations"
)

var riverFile = regexp.MustCompile(`^\d+_river_(\d{3})_.*\.(up|down)\.sql$`)

// TestRiverSQLMatchesPinnedRiver fails when the committed River migrations
// drift from what the River version in go.mod reports, so that upgrading
// River forces the new SQL to be committed as new migration files.
func TestRiverSQLMatchesPinnedRiver(t *testing.T) {
	t.Parallel()

	migrator, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	require.NoError(t, err)

	committed := map[string]string{} // "008 up" → SQL
	entries, err := fs.ReadDir(migrations.FS(), ".")
	require.NoError(t, err)
	for _, e := range entries {
		m := riverFile.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		b, err := fs.ReadFile(migrations.FS(), e.Name())
		require.NoError(t, err)
		committed[m[1]+" "+m[2]] = stripHeader(string(b))
	}

	var want int
	for _, v := range migrator.AllVersions() {
		if v.Version == 1 { // river_migration bookkeeping; golang-migrate keeps Easel's versions
			continue
		}
		want += 2
		key := func(dir string) string { return fmt.Sprintf("%03d %s", v.Version, dir) }
		require.Equal(t, render(v.SQLUp), committed[key("up")], "River migration %d (%s) up differs: commit River's SQL as new migration files", v.Version, v.Name)
		require.Equal(t, render(v.SQLDown), committed[key("down")], "River migration %d (%s) down differs", v.Version, v.Name)
	}
	require.Len(t, committed, want, "committed River migrations do not match River's migration line")
}

// render turns River's schema-templated SQL into what runs in the default schema.
func render(sql string) string {
	return strings.TrimSpace(strings.ReplaceAll(sql, "/* TEMPLATE: schema */", ""))
}

// stripHeader drops the leading comment block that says where the file came from.
func stripHeader(sql string) string {
	_, body, _ := strings.Cut(sql, "\n\n")
	return strings.TrimSpace(body)
}
