package migrations

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestBreaksOlderBinaries(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		sql     string
		version uint
		want    bool
	}{
		{name: "adds only", sql: "ALTER TABLE t ADD COLUMN c int;\nUPDATE easel_schema_compatibility SET schema_version = 25;\n", version: 25},
		{name: "breaks", sql: "ALTER TABLE t DROP COLUMN c;\nUPDATE easel_schema_compatibility SET schema_version = 27, oldest_compatible_version = 27;\n", version: 27, want: true},
		{name: "breaks, spaced and cased otherwise", sql: "update easel_schema_compatibility set schema_version=30,\n    OLDEST_COMPATIBLE_VERSION=30;", version: 30, want: true},
		{name: "oldest_compatible_version first", sql: "UPDATE easel_schema_compatibility SET oldest_compatible_version = 31, schema_version = 31;", version: 31, want: true},
		{name: "another version's value", sql: "UPDATE easel_schema_compatibility SET schema_version = 29, oldest_compatible_version = 27;", version: 29},
		{name: "a longer number that starts with the version", sql: "UPDATE easel_schema_compatibility SET schema_version = 29, oldest_compatible_version = 290;", version: 29},
		{name: "the down migration's form names the version before", sql: "UPDATE easel_schema_compatibility SET schema_version = 26, oldest_compatible_version = 21;", version: 27},
		{name: "000024's INSERT", sql: "INSERT INTO easel_schema_compatibility (schema_version, oldest_compatible_version) VALUES (24, 21);", version: 24},
		{name: "a CHECK", sql: "CHECK (oldest_compatible_version BETWEEN 1 AND schema_version), CHECK (oldest_compatible_version <= 28)", version: 28},
		{name: "in a line comment", sql: "-- UPDATE easel_schema_compatibility SET schema_version = 28, oldest_compatible_version = 28;\nUPDATE easel_schema_compatibility SET schema_version = 28;", version: 28},
		{name: "in a block comment", sql: "/* breaking would be:\n oldest_compatible_version = 28 */\nUPDATE easel_schema_compatibility SET schema_version = 28;", version: 28},
		{name: "a column named like it", sql: "UPDATE t SET my_oldest_compatible_version = 28;", version: 28},
		{name: "empty", sql: "", version: 28},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, breaksOlderBinaries(tt.sql, tt.version))
		})
	}
}

// The embedded migrations that break older binaries, as the package doc's
// rule has them write it: 000027 only, so far.
func TestEmbeddedBreakingMigrations(t *testing.T) {
	t.Parallel()

	latest, err := Latest()
	require.NoError(t, err)
	names, versions, err := breakingMigrations(files, 0, latest)
	require.NoError(t, err)
	require.Equal(t, []string{"000027_nsfw_unknown_polled_results.up.sql"}, names)
	require.Equal(t, []uint{27}, versions)

	names, _, err = breakingMigrations(files, 27, latest)
	require.NoError(t, err)
	require.Empty(t, names, "only migrations after the schema's version are pending")
}

func TestBreakingMigrationsPendingOnly(t *testing.T) {
	t.Parallel()

	breaking := func(v string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte("UPDATE easel_schema_compatibility SET schema_version = " + v + ", oldest_compatible_version = " + v + ";")}
	}
	fsys := fstest.MapFS{
		"000030_a.up.sql":   breaking("30"),
		"000030_a.down.sql": breaking("30"), // a down file is never read as pending
		"000031_b.up.sql":   &fstest.MapFile{Data: []byte("UPDATE easel_schema_compatibility SET schema_version = 31;")},
		"000032_c.up.sql":   breaking("32"),
		"000033_d.up.sql":   breaking("33"), // past latest
		"README.md":         &fstest.MapFile{Data: []byte("oldest_compatible_version = 34")},
	}
	names, versions, err := breakingMigrations(fsys, 29, 32)
	require.NoError(t, err)
	require.Equal(t, []string{"000030_a.up.sql", "000032_c.up.sql"}, names)
	require.Equal(t, []uint{30, 32}, versions)

	names, _, err = breakingMigrations(fsys, 30, 32)
	require.NoError(t, err)
	require.Equal(t, []string{"000032_c.up.sql"}, names)
}
