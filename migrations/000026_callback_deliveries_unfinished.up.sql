-- The deliveries neither delivered nor abandoned, oldest first: a few rows
-- however long the delivered history grows. Each worker process's sweep
-- for deliveries whose River job will never run again
-- (store.AbandonOrphanedCallbacks, every 5 minutes) and the
-- easel_callback_deliveries and easel_callback_oldest_unfinished_seconds
-- gauges (store.CountCallbackDeliveries, every scrape) read it instead of
-- the whole table.
--
-- IF NOT EXISTS, as docs/DATABASE.md's policy for new indexes has it: on a
-- big table, the operator builds it beforehand with the release notes'
-- CREATE INDEX CONCURRENTLY IF NOT EXISTS, which does not block writes, and
-- this statement then builds nothing, holding SHARE on callback_deliveries
-- for a moment only rather than for a build that reads every row.
CREATE INDEX IF NOT EXISTS callback_deliveries_unfinished_idx ON callback_deliveries (created_at)
    WHERE delivered_at IS NULL AND abandoned_at IS NULL;

-- Additive: older binaries neither read nor need it.
UPDATE easel_schema_compatibility SET schema_version = 26;
