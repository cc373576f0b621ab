-- An image's NSFW flag can be unknown: fal's has_nsfw_concepts may be
-- missing, null, not a list, of another length than images (which image a
-- flag belongs to is then anybody's guess), or hold something other than a
-- boolean. Binaries before 27 recorded every such flag as false, which
-- reads as "fal checked it and found nothing". NULL now says unknown. The
-- default goes too, so that an insert that leaves the flag out records it
-- unknown, not clean. Both are catalog changes only: no row is read or
-- rewritten, so ACCESS EXCLUSIVE on generation_images is held for a moment.
--
-- Flags recorded before 27 stay as they were: a false among them may be one
-- fal never sent. The webhook_events body of the delivery that completed
-- the generation says which.
ALTER TABLE generation_images
    ALTER COLUMN nsfw DROP NOT NULL,
    ALTER COLUMN nsfw DROP DEFAULT;

COMMENT ON COLUMN generation_images.nsfw IS
    'Whether fal flagged the image NSFW (has_nsfw_concepts). NULL: unknown, never clean: fal sent no flag for it, '
    'a flag that was not a boolean, or flags that did not line up one to one with the images. Rows written by '
    'binaries before schema version 27 hold false for such flags.';
COMMENT ON COLUMN generations.has_nsfw IS
    'Whether fal flagged any of the generation''s images NSFW: true when it flagged at least one; false when it '
    'flagged none and every image''s flag is known; NULL when it flagged none but some image''s flag is unknown '
    '(generation_images.nsfw NULL), and unless the generation completed. An NSFW rate counts only non-NULL values.';
COMMENT ON COLUMN generations.nsfw_image_count IS
    'How many of the images fal returned it flagged NSFW. NULL when some image''s flag is unknown '
    '(generation_images.nsfw NULL), since the count then is too, and unless the generation completed.';

-- fal's output as the reconciler, the cancel call or a submission fetched
-- it from fal's queue rather than received it by webhook, whose deliveries
-- webhook_events keeps: without it, a result Easel could not read, or read
-- only in part, would be kept nowhere. A table of its own rather than rows
-- of webhook_events, whose columns (headers, signature_valid), caps and
-- counts (generation_history.webhook_count, the invoice reconciliation in
-- docs/BILLING.md) describe deliveries: older binaries neither read nor
-- write it. Creating the foreign key takes SHARE ROW EXCLUSIVE on
-- generations for a moment: the new table is empty, so nothing is checked.
CREATE TABLE polled_results (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    generation_id  uuid NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
    fal_request_id text NOT NULL,
    fetched_at     timestamptz NOT NULL DEFAULT now(),
    status         text NOT NULL CONSTRAINT polled_results_status CHECK (status IN ('OK', 'ERROR')),
    body           bytea NOT NULL,
    outcome        text NOT NULL CONSTRAINT polled_results_outcome CHECK (outcome IN ('applied', 'duplicate', 'late'))
);

CREATE INDEX polled_results_generation_id_idx ON polled_results (generation_id, fetched_at);

COMMENT ON TABLE polled_results IS
    'fal''s results that Easel fetched from fal''s queue (the reconciler''s poll, a cancel answered ALREADY_COMPLETED, '
    'a request a webhook named during a submission) rather than received by webhook, one row per result applied or '
    'found duplicate or late, written in the transaction that applied it. Webhook deliveries are in webhook_events.';
COMMENT ON COLUMN polled_results.fal_request_id IS
    'The fal request whose result this is.';
COMMENT ON COLUMN polled_results.status IS
    'OK: body is the model output fal served as the result. ERROR: fal''s request failed, and body is the error fal '
    'answered the result with (at most 64 KiB), or, for a request fal''s status reported cancelled (client_cancelled), '
    'that status''s error and error_type, since a cancelled request''s result is not fetched.';
COMMENT ON COLUMN polled_results.body IS
    'The body exactly as fal served it: the output an invalid_output generation could not be read from is here.';
COMMENT ON COLUMN polled_results.outcome IS
    'What the result did, as webhook_events.outcome says of a delivery: applied (finished the generation), duplicate '
    '(the generation had already finished with a result of fal''s), late (it had ended without one: cancelled, timed '
    'out, failed by Easel).';

-- Breaks older binaries: they read generation_images.nsfw into a Go bool,
-- and a NULL fails their reads of a generation's images (API, gallery,
-- callbacks). Their replicas must be stopped before this migrates.
UPDATE easel_schema_compatibility SET schema_version = 27, oldest_compatible_version = 27;
