-- What fal last said about a submitted generation's request when the
-- reconciler asked (no webhook EASEL_POLL_AFTER after the submission), so
-- that "why isn't it done?" has an answer in the row and the API: still
-- queued at fal, and how far back, or running. Columns without a default are
-- added without rewriting the table, and need no backfill: a generation
-- nobody has asked fal about has no status from fal. No index: they are
-- read with the row, never searched.
ALTER TABLE generations
    ADD COLUMN fal_status text,
    ADD COLUMN fal_queue_position integer,
    ADD COLUMN fal_status_at timestamptz;

COMMENT ON COLUMN generations.fal_status IS
    'fal''s status of the generation''s request (fal_request_id) as fal last reported it to the reconciler''s status '
    'poll, as fal spells it: IN_QUEUE, IN_PROGRESS, or COMPLETED when its result could not be fetched. Only as fresh '
    'as fal_status_at: asked EASEL_POLL_AFTER after a submission no webhook settled, and every EASEL_POLL_AFTER '
    'after that. NULL until fal was asked (most generations: their webhook came first). Kept once the generation '
    'has finished, as what fal said last before the end (a timed out generation still IN_QUEUE never ran); '
    'cleared when a result of another request becomes the generation''s.';
COMMENT ON COLUMN generations.fal_queue_position IS
    'With fal_status IN_QUEUE, how many requests fal reported ahead of this one (0: next to run); NULL otherwise, '
    'or when fal gave no position. Only as fresh as fal_status_at.';
COMMENT ON COLUMN generations.fal_status_at IS
    'When fal''s answer in fal_status was recorded. last_polled_at is when the reconciler last claimed the '
    'generation to ask fal, answered or not.';
