-- fal requests Easel has asked, or is about to ask, fal to cancel, kept until
-- fal answers the cancel: so that a request nobody needs does not run to
-- completion and bill because the process that was to cancel it died, or fal
-- could not be reached. A row is written in the transaction that makes its
-- request unneeded, or before the cancel is sent:
--
--   superseded: the result of another of the generation's submissions (an
--     earlier one whose answer was lost) finished the generation, whose
--     recorded request was then still running at fal;
--   timeout: the reconciler times the generation out and cancels its request.
--     Written before the cancel is sent, so that a client_cancelled result
--     of that request, should the run end before the generation is failed,
--     fails it with code timeout rather than cancelling it.
--
-- The reconciler cancels the requests of finished generations
-- (store.ClaimFalCancels) and deletes each row once fal has answered.
CREATE TABLE fal_request_cancels (
    generation_id  uuid NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
    fal_request_id text NOT NULL,
    -- fal's cancel URL as recorded; NULL when none was, and the URL is
    -- derived from the generation's endpoint and the request id.
    cancel_url     text,
    reason         text NOT NULL CONSTRAINT fal_request_cancels_reason CHECK (reason IN ('superseded', 'timeout')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    attempts       integer NOT NULL DEFAULT 0,
    -- When the reconciler last sent, or was about to send, the cancel.
    attempted_at   timestamptz,
    last_error     text,
    PRIMARY KEY (generation_id, fal_request_id)
);

-- A result that comes after the generation finished without one of fal's
-- results is late, whatever ended it: cancelled, timed out, or failed by
-- Easel for any other reason (jobs.DecideResult).
COMMENT ON COLUMN webhook_events.outcome IS
    'What the delivery did (store.Outcome*): applied (finished the generation), '
    'duplicate (a result for a generation that already finished with a result of fal''s: completed, or failed by fal''s error), '
    'late (a result for a generation that finished without one: cancelled, timed out, or failed by Easel, such as result_unavailable or a submit error; kept, not applied), '
    'deferred (the reconciler applies it: no result in it, payload_error, so it fetches the result; or a request cancelled by Easel, client_cancelled), '
    'mismatched_request (signed, but for a fal request that is not the generation''s; nothing applied), '
    'bad_signature (verification failed; nothing applied), '
    'malformed (signed, but not a fal webhook body), '
    'unknown_generation (signed, for a generation id that does not exist; generation_id is null).';
