// Package migrations owns Easel's whole database schema, River's tables
// included, as golang-migrate SQL files embedded in the binary.
//
// River's migrations are committed as plain SQL (files named river_NNN_*)
// rather than run by rivermigrate, so that one tool and one version number
// describe the schema. river_test.go fails when the pinned River version
// reports SQL that differs from the committed files.
//
// # Compatibility with older binaries
//
// During a rolling deploy, and after a rollback, binaries older than the
// schema run on it: Up lets them when the schema's easel_schema_compatibility
// row (000024) says they still run correctly. So every migration from 000024
// on ends by writing that row, in its own transaction, and its down
// migration writes back the row it found:
//
//	-- up: adds only (a table, a nullable column, a view column at the end, a comment)
//	UPDATE easel_schema_compatibility SET schema_version = 25;
//	-- up: breaks older binaries
//	UPDATE easel_schema_compatibility SET schema_version = 25, oldest_compatible_version = 25;
//	-- down, either way: the row as the previous migration left it
//	UPDATE easel_schema_compatibility SET schema_version = 24, oldest_compatible_version = 21;
//
// A migration breaks older binaries, and sets oldest_compatible_version to
// its own version, when it drops or renames something they use, adds or
// tightens a constraint their writes would violate (NOT NULL on a column
// they leave out, a CHECK, a unique index), or changes what a value means
// to them; otherwise it leaves the value. A release whose migration breaks
// older binaries says so in its notes: their replicas must be stopped
// before it migrates. A migration that does not write the row leaves one
// that names an older version, and older binaries then refuse the schema,
// as all binaries before 000024 refuse any newer one;
// TestEveryMigrationRecordsCompatibility fails on such a migration.
package migrations
