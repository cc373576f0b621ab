-- Cancels not yet answered are forgotten: the requests run on at fal.
DROP TABLE fal_request_cancels;

COMMENT ON COLUMN webhook_events.outcome IS
    'What the delivery did (store.Outcome*): applied (finished the generation), '
    'duplicate (a repeat for a generation that already finished with a result), '
    'late (a result for a generation cancelled, timed out or failed result_unavailable first; kept, not applied), '
    'deferred (the reconciler applies it: no result in it, payload_error, so it fetches the result; or a request cancelled by Easel, client_cancelled), '
    'mismatched_request (signed, but for a fal request that is not the generation''s; nothing applied), '
    'bad_signature (verification failed; nothing applied), '
    'malformed (signed, but not a fal webhook body), '
    'unknown_generation (signed, for a generation id that does not exist; generation_id is null).';
