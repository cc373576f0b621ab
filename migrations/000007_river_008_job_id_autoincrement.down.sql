-- River main migration line, version 8 (job id autoincrement), as reported by rivermigrate at the
-- pinned River version. Generated; migrations/river_test.go fails on any drift.

-- No-op. Postgres sequences already prevent automatically generated job IDs
-- from being reused.
SELECT 1;
