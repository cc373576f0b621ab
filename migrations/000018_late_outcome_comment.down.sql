COMMENT ON COLUMN webhook_events.outcome IS
    'What the delivery did (store.Outcome*): applied (finished the generation), '
    'duplicate (a repeat for a generation that already finished with a result), '
    'late (a result for a generation cancelled or timed out first; kept, not applied), '
    'deferred (no result in it, payload_error: the reconciler fetches it), '
    'mismatched_request (signed, but for a fal request that is not the generation''s; nothing applied), '
    'bad_signature (verification failed; nothing applied), '
    'malformed (signed, but not a fal webhook body), '
    'unknown_generation (signed, for a generation id that does not exist; generation_id is null).';
