DROP TABLE web_sessions;
DROP INDEX generations_status_created_at_idx;
