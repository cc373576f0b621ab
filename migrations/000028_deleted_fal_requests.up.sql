-- Deleting generations (docs/DATABASE.md: Retention and deletion) took
-- with them the only record of their fal requests, and nothing stopped a
-- deletion that loses money or brings personal data back:
--
--   - fal's invoice names request ids, and the lookup (docs/BILLING.md)
--     found nothing for a deleted generation's, though fal billed them;
--   - erasing a person's data at fal (fal keeps each request's input and
--     output, and serves its images from public links) needs the request
--     ids, gone with the rows;
--   - a webhook fal sent after the deletion (a generation finished by
--     polling, or deleted while fal still ran it) was stored whole as
--     unknown_generation, its body holding the images' links and, for an
--     error, the input fal echoed back: the personal data just deleted,
--     under no generation or client a deletion could find;
--   - deleting an unfinished generation, or one whose cancel fal had not
--     answered, freed its in-flight slot and dropped the cancel while fal
--     went on running, and billing, the request.
--
-- So each deleted generation leaves its request ids here, written by the
-- trigger that lets the deletion happen, and the receiver stores a webhook
-- for one of them without its body (outcome deleted_generation,
-- store.InsertUnknownGenerationWebhookEvent). The ids are read in the
-- BEFORE trigger because it is the last moment they can be: the rows of
-- fal_request_cancels, polled_results and webhook_events that name the
-- generation's other requests go with it (ON DELETE CASCADE), and the
-- referential actions run as AFTER triggers named RI_ConstraintTrigger_*,
-- which fire before any AFTER trigger with a lower-case name; a row
-- trigger on those tables would see neither the generation's client nor,
-- for fal_request_cancels, tell a cascade from Easel's own deletion of a
-- cancel (a request whose result then finished the generation; binaries
-- before 25 deleting every answered one).
CREATE TABLE deleted_fal_requests (
    fal_request_id text PRIMARY KEY,
    generation_id  uuid NOT NULL,
    client         text NOT NULL,
    deleted_at     timestamptz NOT NULL DEFAULT now()
);

-- The receiver finds a deleted generation by the id its webhook URL names,
-- as well as by request id: a submission whose answer was lost has a
-- request the generation never recorded.
CREATE INDEX deleted_fal_requests_generation_id_idx ON deleted_fal_requests (generation_id);
-- A client's requests, to erase at fal after deleting its history.
CREATE INDEX deleted_fal_requests_client_idx ON deleted_fal_requests (client, deleted_at);
-- Pruning by age (docs/DATABASE.md): rows are appended in deleted_at order,
-- so a BRIN index of a few pages finds the oldest.
CREATE INDEX deleted_fal_requests_deleted_at_idx ON deleted_fal_requests USING brin (deleted_at);

COMMENT ON TABLE deleted_fal_requests IS
    'The fal requests of deleted generations, one row per request id, written by the trigger generations_before_delete '
    'as each generation is deleted: the generation''s request (fal_request_id, and fal_gateway_request_id when it '
    'differs), the requests of its fal_request_cancels rows, those of the results fetched for it (polled_results), and '
    'those its signed webhooks reported on (outcomes applied, duplicate, late, deferred). Request ids are not personal data: they are what fal''s invoice names '
    '(docs/BILLING.md), and what erasing a request''s input and output at fal needs. A signed webhook for one of '
    'them, or at a deleted generation''s URL, is stored without its body (outcome deleted_generation). Easel never '
    'prunes it: keep it as long as invoices may be disputed (docs/DATABASE.md: Retention and deletion).';
COMMENT ON COLUMN deleted_fal_requests.generation_id IS
    'The deleted generation (no foreign key: the row is gone).';
COMMENT ON COLUMN deleted_fal_requests.client IS
    'The deleted generation''s client, the name of the API key that created it.';
COMMENT ON COLUMN deleted_fal_requests.deleted_at IS
    'When the generation was deleted: the start of the deleting transaction.';

-- Refuses to delete what money is still riding on, and records the request
-- ids of what it deletes. easel.allow_unsafe_delete = 'on' (SET LOCAL, in
-- the deleting transaction) lets an unsafe deletion through, tombstoned
-- all the same. ERRCODE restrict_violation: what ON DELETE RESTRICT raises,
-- a deletion refused because of what the row is to others.
CREATE FUNCTION easel_generation_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    pending text;
BEGIN
    IF coalesce(current_setting('easel.allow_unsafe_delete', true), '') <> 'on' THEN
        IF OLD.finished_at IS NULL THEN
            RAISE EXCEPTION 'generation % is unfinished (status %): deleting it leaves fal running, and billing, a request that nobody will record, time out or cancel',
                OLD.id, OLD.status
                USING ERRCODE = 'restrict_violation',
                      HINT = format('Cancel it (POST /v1/generations/%s/cancel) and delete it once it has finished. '
                                    'To delete it anyway: SET LOCAL easel.allow_unsafe_delete = on in the deleting transaction (docs/DATABASE.md).', OLD.id);
        END IF;
        SELECT fal_request_id INTO pending FROM fal_request_cancels
        WHERE generation_id = OLD.id AND answered_at IS NULL
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'generation % has a cancel of fal request % that fal has not answered: deleting the generation drops the cancel, and fal may run and bill the request',
                OLD.id, pending
                USING ERRCODE = 'restrict_violation',
                      HINT = 'Delete it once fal_request_cancels.answered_at is set for it: the reconciler sends the cancel, and gives up within EASEL_TIMEOUT. '
                             'To delete it anyway: SET LOCAL easel.allow_unsafe_delete = on in the deleting transaction (docs/DATABASE.md).';
        END IF;
    END IF;

    INSERT INTO deleted_fal_requests (fal_request_id, generation_id, client)
    SELECT request.id, OLD.id, OLD.client
    FROM (
        SELECT OLD.fal_request_id
        UNION SELECT OLD.fal_gateway_request_id
        UNION SELECT fal_request_id FROM fal_request_cancels WHERE generation_id = OLD.id
        UNION SELECT fal_request_id FROM polled_results WHERE generation_id = OLD.id
        UNION SELECT fal_request_id FROM webhook_events
              WHERE generation_id = OLD.id AND signature_valid
                AND outcome IN ('applied', 'duplicate', 'late', 'deferred')
    ) AS request (id)
    WHERE request.id <> ''
    ON CONFLICT (fal_request_id) DO NOTHING;
    RETURN OLD;
END
$$;

-- BEFORE: the row is locked and re-read first, so the guard judges the
-- row as the deletion finds it, not as the DELETE's snapshot saw it.
CREATE TRIGGER generations_before_delete
    BEFORE DELETE ON generations
    FOR EACH ROW
    EXECUTE FUNCTION easel_generation_delete();

COMMENT ON COLUMN webhook_events.outcome IS
    'What the delivery did (store.Outcome*): applied (finished the generation), '
    'duplicate (a result for a generation that already finished with a result of fal''s: completed, or failed by fal''s error), '
    'late (a result for a generation that finished without one: cancelled, timed out, or failed by Easel, such as result_unavailable or a submit error; kept, not applied), '
    'deferred (the reconciler applies it: no result in it, payload_error, so it fetches the result; or a request cancelled by Easel, client_cancelled), '
    'mismatched_request (signed, but for a fal request that is not the generation''s; nothing applied), '
    'bad_signature (verification failed; nothing applied), '
    'malformed (signed, but not a fal webhook body), '
    'unknown_generation (signed, for a generation id that does not exist; generation_id is null), '
    'deleted_generation (signed, for a generation that was deleted: its request, or its URL, is in deleted_fal_requests; '
    'generation_id is null and the body is not kept, body_size saying how long it was).';

-- Additive: a table and a trigger older binaries never touch (none of them
-- deletes generations), and a comment. Their receivers, running beside
-- this schema, still store a deleted generation's webhook whole, as
-- unknown_generation: docs/DATABASE.md's erasure recipe clears those too.
UPDATE easel_schema_compatibility SET schema_version = 28;
