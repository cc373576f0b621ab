-- Answered cancels are deleted, and with them the record of what fal
-- answered, as binaries before 25 did once fal answered: without answer,
-- nothing tells an answered row from a pending one, and those binaries take
-- every row for a cancel still to send. Only the infinite attempted_at
-- would keep them from claiming it and cancelling the request at fal again
-- (before deleting it), and their timeout sets attempted_at afresh on a
-- conflicting row.
DELETE FROM fal_request_cancels WHERE answered_at IS NOT NULL;

DROP INDEX fal_request_cancels_pending_idx;
DROP INDEX fal_request_cancels_fal_request_id_idx;
ALTER TABLE fal_request_cancels
    DROP CONSTRAINT fal_request_cancels_answered,
    DROP CONSTRAINT fal_request_cancels_answer,
    DROP COLUMN answer,
    DROP COLUMN answered_at;

COMMENT ON TABLE fal_request_cancels IS NULL;
COMMENT ON COLUMN fal_request_cancels.reason IS NULL;
COMMENT ON COLUMN fal_request_cancels.attempted_at IS NULL;
COMMENT ON COLUMN fal_request_cancels.last_error IS NULL;

DROP INDEX webhook_events_fal_request_id_idx;
CREATE INDEX webhook_events_unknown_generation_idx ON webhook_events (fal_request_id)
    WHERE generation_id IS NULL;

-- The comments as 000022 wrote them.
COMMENT ON COLUMN generations.fal_submissions IS
    'Submissions fal may have accepted, and may bill: counted before fal is called, and uncounted when fal''s answer '
    'proves it queued nothing. 0: fal never had the generation.';
COMMENT ON COLUMN generations.fal_submissions_confirmed IS
    'Submissions whose answer from fal Easel recorded, at most 1. Each of fal_submissions - fal_submissions_confirmed '
    'is a submission whose answer was lost (a worker killed, a connection broken mid-call), which fal may have '
    'accepted and billed.';
COMMENT ON VIEW generation_history IS
    'One row per generation, for reporting (README: Querying the history in SQL). Besides columns of generations, '
    'which \d+ generations describes: prompt, input->>''prompt''; webhook_count, the generation''s rows in '
    'webhook_events whatever their outcome; and durations in seconds from when the generation was due (run_at when '
    'it was scheduled for later, else created_at): queue_seconds to submitted_at, time_to_complete_seconds to '
    'completed_at, and fal_seconds from submitted_at to completed_at (fal''s queue, the inference and the webhook), '
    'each NULL when either end is. fal_submissions - fal_submissions_confirmed is how many requests fal may have '
    'billed beyond the one whose answer Easel recorded.';

UPDATE easel_schema_compatibility SET schema_version = 24, oldest_compatible_version = 21;
