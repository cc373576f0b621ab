-- generation_history gains fal_submissions_confirmed, so that the requests
-- fal may have billed beyond the one whose answer Easel recorded
-- (fal_submissions - fal_submissions_confirmed, README's Error codes) can be
-- counted from the view; and the columns analysts misread say what they
-- count in \d+.

-- A submit call that returned after its generation finished (its webhook
-- came first, or it was cancelled during the call) stamped submitted_at
-- after finished_at, which made fal_seconds negative and queue_seconds
-- longer than the whole generation. store.RecordSubmitted no longer does;
-- the stamp says nothing of when fal accepted the request, so it goes.
UPDATE generations SET submitted_at = NULL WHERE submitted_at > finished_at;

-- CREATE OR REPLACE VIEW may only append columns: fal_submissions_confirmed
-- comes last.
CREATE OR REPLACE VIEW generation_history AS
SELECT
    g.id,
    g.client,
    g.status,
    g.endpoint_id,
    g.priority,
    g.input ->> 'prompt' AS prompt,
    g.metadata,
    g.seed,
    g.fal_request_id,
    g.created_at,
    g.run_at,
    g.submitted_at,
    g.completed_at,
    g.finished_at,
    extract(epoch FROM g.submitted_at - greatest(g.created_at, g.run_at))::double precision AS queue_seconds,
    extract(epoch FROM g.completed_at - greatest(g.created_at, g.run_at))::double precision AS time_to_complete_seconds,
    extract(epoch FROM g.completed_at - g.submitted_at)::double precision AS fal_seconds,
    g.inference_seconds,
    g.attempts,
    g.fal_submissions,
    g.image_count,
    g.nsfw_image_count,
    g.has_nsfw,
    g.error_code,
    g.error_message,
    (SELECT count(*) FROM webhook_events w WHERE w.generation_id = g.id) AS webhook_count,
    g.last_webhook_at,
    g.fal_submissions_confirmed
FROM generations g;

COMMENT ON VIEW generation_history IS
    'One row per generation, for reporting (README: Querying the history in SQL). Besides columns of generations, '
    'which \d+ generations describes: prompt, input->>''prompt''; webhook_count, the generation''s rows in '
    'webhook_events whatever their outcome; and durations in seconds from when the generation was due (run_at when '
    'it was scheduled for later, else created_at): queue_seconds to submitted_at, time_to_complete_seconds to '
    'completed_at, and fal_seconds from submitted_at to completed_at (fal''s queue, the inference and the webhook), '
    'each NULL when either end is. fal_submissions - fal_submissions_confirmed is how many requests fal may have '
    'billed beyond the one whose answer Easel recorded.';

COMMENT ON COLUMN generations.attempts IS
    'Calls to fal''s submit for this generation, including ones fal refused or never received; not the attempts '
    'River counts for its submit job.';
COMMENT ON COLUMN generations.fal_submissions IS
    'Submissions fal may have accepted, and may bill: counted before fal is called, and uncounted when fal''s answer '
    'proves it queued nothing. 0: fal never had the generation.';
COMMENT ON COLUMN generations.fal_submissions_confirmed IS
    'Submissions whose answer from fal Easel recorded, at most 1. Each of fal_submissions - fal_submissions_confirmed '
    'is a submission whose answer was lost (a worker killed, a connection broken mid-call), which fal may have '
    'accepted and billed.';
COMMENT ON COLUMN generations.has_nsfw IS
    'Whether fal flagged any of the generation''s images NSFW. NULL unless the generation completed.';
COMMENT ON COLUMN generations.image_count IS
    'How many images fal returned. NULL unless the generation completed.';
COMMENT ON COLUMN generations.nsfw_image_count IS
    'How many of the images fal returned it flagged NSFW. NULL unless the generation completed.';
COMMENT ON COLUMN generations.submitted_at IS
    'When Easel recorded that fal accepted a submission (fal''s answer to the submit, or a request a webhook named, '
    'adopted). NULL until then, and stays NULL when the generation finished (its webhook came first, or it was '
    'cancelled) before the answer was recorded.';
