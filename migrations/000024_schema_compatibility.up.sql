-- Which easel binaries run correctly on this schema, for a binary that finds
-- the schema newer than the migrations it knows: an old replica restarting
-- during a rolling deploy, or an old release deployed again to roll back.
-- Releases before this one refuse any newer schema; from this one on,
-- migrations.Up runs without migrating on a newer schema whose row here
-- names the schema's own version and an oldest_compatible_version the
-- binary knows, and refuses any other.
--
-- Every migration from this one on writes the row, in its own transaction,
-- and its down migration writes back the row it found (package migrations'
-- doc says how): a row left by an earlier migration vouches for nothing.
CREATE TABLE easel_schema_compatibility (
    schema_version            integer NOT NULL,
    oldest_compatible_version integer NOT NULL,
    CONSTRAINT easel_schema_compatibility_oldest CHECK (oldest_compatible_version BETWEEN 1 AND schema_version)
);
-- One row: an index on a constant admits a second row with no other key.
CREATE UNIQUE INDEX easel_schema_compatibility_one_row ON easel_schema_compatibility ((true));

-- 21: what 000022 (a view column appended, comments, submitted_at after
-- finished_at cleared) and 000023 (nullable columns of generations) changed
-- is nothing that version 21's binaries read or write, nor is this table;
-- version 21's binaries ran beside 22's without an error.
INSERT INTO easel_schema_compatibility (schema_version, oldest_compatible_version) VALUES (24, 21);

COMMENT ON TABLE easel_schema_compatibility IS
    'One row: which easel binaries run correctly on this schema. A binary whose newest migration is older than the '
    'schema''s version (schema_migrations) runs on it without migrating only when schema_version is that version and '
    'oldest_compatible_version is at most its own newest; else it refuses to start. Releases before schema version 24 '
    'refuse any newer schema.';
COMMENT ON COLUMN easel_schema_compatibility.schema_version IS
    'The migration that wrote this row, which every migration does: a value other than schema_migrations.version '
    '(a migration that did not write it, a version set by hand) says nothing of this schema, and older binaries refuse it.';
COMMENT ON COLUMN easel_schema_compatibility.oldest_compatible_version IS
    'The oldest schema version whose easel binaries still run correctly against this schema. A migration that only '
    'adds (a table, a nullable column, a view column at the end, a comment) leaves it; one that breaks older binaries '
    '(drops or renames what they use, adds a constraint they would violate, changes what a value means) sets it to its '
    'own version.';
