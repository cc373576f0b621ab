-- River main migration line, version 2 (initial schema), as reported by rivermigrate at the
-- pinned River version. Generated; migrations/river_test.go fails on any drift.

DROP TABLE river_job;
DROP FUNCTION river_job_notify;
DROP TYPE river_job_state;

DROP TABLE river_leader;
