DROP INDEX generations_inflight_idx;
ALTER TABLE generations
    DROP COLUMN last_polled_at,
    DROP COLUMN fal_submissions_confirmed;
