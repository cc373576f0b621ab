-- IF EXISTS, as the up migration's IF NOT EXISTS: an index dropped by hand
-- (to build it again CONCURRENTLY after a failed build, say) does not fail
-- the down migration.
DROP INDEX IF EXISTS callback_deliveries_unfinished_idx;

UPDATE easel_schema_compatibility SET schema_version = 25, oldest_compatible_version = 21;
