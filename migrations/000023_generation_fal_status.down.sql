-- What fal last said about each request is forgotten; nothing else reads it.
ALTER TABLE generations
    DROP COLUMN fal_status,
    DROP COLUMN fal_queue_position,
    DROP COLUMN fal_status_at;
