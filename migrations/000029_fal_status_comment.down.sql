-- The comment 000023 gave fal_status.
COMMENT ON COLUMN generations.fal_status IS
    'fal''s status of the generation''s request (fal_request_id) as fal last reported it to the reconciler''s status '
    'poll, as fal spells it: IN_QUEUE, IN_PROGRESS, or COMPLETED when its result could not be fetched. Only as fresh '
    'as fal_status_at: asked EASEL_POLL_AFTER after a submission no webhook settled, and every EASEL_POLL_AFTER '
    'after that. NULL until fal was asked (most generations: their webhook came first). Kept once the generation '
    'has finished, as what fal said last before the end (a timed out generation still IN_QUEUE never ran); '
    'cleared when a result of another request becomes the generation''s.';

UPDATE easel_schema_compatibility SET schema_version = 28;
