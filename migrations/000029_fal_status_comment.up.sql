-- fal_status is now recorded from fal's answer to the submit, COMPLETED
-- once fal's result finished the generation, and fal's status asked just
-- before a cancel: the comment of 000023 described only the reconciler's
-- polls, and said that a timed out generation still IN_QUEUE never ran,
-- which a stale status could belie.
COMMENT ON COLUMN generations.fal_status IS
    'fal''s latest status of the generation''s request (fal_request_id) as Easel recorded it, as fal spells it: '
    'IN_QUEUE from fal''s answer to the submit, then what fal answered the reconciler''s status polls (asked '
    'EASEL_POLL_AFTER after a submission no webhook settled, and every EASEL_POLL_AFTER after that), and, for a '
    'timeout or a cancel through the API, what fal answered just before Easel cancelled it (IN_PROGRESS: fal was '
    'running it, and may bill it; a result it still delivers is a webhook event with outcome late). COMPLETED '
    'once fal''s result finished the generation. Only as fresh as fal_status_at. NULL until fal answered; '
    'cleared when a result of another request becomes the generation''s.';

-- Additive: a comment.
UPDATE easel_schema_compatibility SET schema_version = 29;
