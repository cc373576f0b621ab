-- A result that arrives for a generation failed result_unavailable is late,
-- and a delivery reporting Easel's own cancel is deferred to the reconciler
-- (jobs.DecideResult): the comment users read says so.
COMMENT ON COLUMN webhook_events.outcome IS
    'What the delivery did (store.Outcome*): applied (finished the generation), '
    'duplicate (a repeat for a generation that already finished with a result), '
    'late (a result for a generation cancelled, timed out or failed result_unavailable first; kept, not applied), '
    'deferred (the reconciler applies it: no result in it, payload_error, so it fetches the result; or a request cancelled by Easel, client_cancelled), '
    'mismatched_request (signed, but for a fal request that is not the generation''s; nothing applied), '
    'bad_signature (verification failed; nothing applied), '
    'malformed (signed, but not a fal webhook body), '
    'unknown_generation (signed, for a generation id that does not exist; generation_id is null).';
