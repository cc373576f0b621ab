-- River main migration line, version 3 (river job tags non null), as reported by rivermigrate at the
-- pinned River version. Generated; migrations/river_test.go fails on any drift.

ALTER TABLE river_job ALTER COLUMN tags SET DEFAULT '{}';
UPDATE river_job SET tags = '{}' WHERE tags IS NULL;
ALTER TABLE river_job ALTER COLUMN tags SET NOT NULL;
