-- River main migration line, version 3 (river job tags non null), as reported by rivermigrate at the
-- pinned River version. Generated; migrations/river_test.go fails on any drift.

ALTER TABLE river_job
    ALTER COLUMN tags DROP NOT NULL,
    ALTER COLUMN tags DROP DEFAULT;
