-- The tombstones go with the table: an invoice's request ids of deleted
-- generations, and the ids to erase at fal, are then found nowhere. Save
-- them first (\copy deleted_fal_requests TO 'deleted_fal_requests.csv' csv
-- header) if that matters. Events stored as deleted_generation keep their
-- outcome, which binaries before 28 only read back as text.
DROP TRIGGER generations_before_delete ON generations;
DROP FUNCTION easel_generation_delete();
DROP TABLE deleted_fal_requests;

-- The comment as 000021 wrote it.
COMMENT ON COLUMN webhook_events.outcome IS
    'What the delivery did (store.Outcome*): applied (finished the generation), '
    'duplicate (a result for a generation that already finished with a result of fal''s: completed, or failed by fal''s error), '
    'late (a result for a generation that finished without one: cancelled, timed out, or failed by Easel, such as result_unavailable or a submit error; kept, not applied), '
    'deferred (the reconciler applies it: no result in it, payload_error, so it fetches the result; or a request cancelled by Easel, client_cancelled), '
    'mismatched_request (signed, but for a fal request that is not the generation''s; nothing applied), '
    'bad_signature (verification failed; nothing applied), '
    'malformed (signed, but not a fal webhook body), '
    'unknown_generation (signed, for a generation id that does not exist; generation_id is null).';

-- Only the version: 000028 left oldest_compatible_version as 000027 wrote
-- it, so the row is then as 000027 left it.
UPDATE easel_schema_compatibility SET schema_version = 27;
