-- fal_request_cancels keeps every row: the answer to a cancel is recorded
-- on its row instead of deleting it. A request Easel superseded (another
-- submission's result finished the generation) and then cancelled is
-- named nowhere else once the generation records the other request and the
-- superseded one's webhook never came or was not stored; deleting the row
-- when fal answered ALREADY_COMPLETED (it ran the request, and billed it)
-- left an invoice line that Easel could not account for.
--
-- Binaries before 25 know no answer and take every row for a cancel still
-- to send: their ClaimFalCancels claims a finished generation's row whose
-- attempted_at is NULL or older than EASEL_POLL_AFTER, sends the cancel,
-- and deletes the row. So an answered row's attempted_at is set to
-- infinity (answered_at says when the answer came, just after the last
-- attempt), which no claim of theirs ever reaches: they neither send the
-- cancels of answered rows again nor delete them. Only rare races reach
-- one otherwise (the same request timed out again, or its own result
-- finishing the generation after its cancel was answered), and then they
-- update or delete it as they always did. They never write answer or
-- answered_at, so the constraints below cannot refuse their writes:
-- binaries of 21 on still run correctly on this schema.
ALTER TABLE fal_request_cancels
    ADD COLUMN answered_at timestamptz,
    ADD COLUMN answer text,
    ADD CONSTRAINT fal_request_cancels_answer
        CHECK (answer IN ('CANCELLATION_REQUESTED', 'ALREADY_COMPLETED', 'NOT_FOUND', 'refused', 'gave_up')),
    ADD CONSTRAINT fal_request_cancels_answered CHECK ((answer IS NULL) = (answered_at IS NULL));

-- The claim (store.ClaimFalCancels) read the whole table, which stayed
-- small while answered rows were deleted; it now reads the pending ones
-- through this index, in the order it claims them.
CREATE INDEX fal_request_cancels_pending_idx ON fal_request_cancels ((coalesce(attempted_at, created_at)))
    WHERE answered_at IS NULL;
-- An id from fal's invoice is looked up without its generation (README:
-- Reconciling fal's invoice); the primary key leads with generation_id.
CREATE INDEX fal_request_cancels_fal_request_id_idx ON fal_request_cancels (fal_request_id);

-- The same lookup in webhook_events, a large table, for every delivery
-- whatever its generation. It replaces the index of 000015, which held the
-- deliveries that named no generation only, for the count that caps them
-- (store.MaxWebhookEvents per request): that count reads this one, its
-- generation_id IS NULL answered from the index. Not CONCURRENTLY: the
-- migration runs in a transaction. DROP INDEX takes ACCESS EXCLUSIVE on
-- webhook_events, held until the migration commits, so every query on the
-- table waits for as long as the build reads it, reads included (the
-- generation_history view counts its rows): a delivery waits, or fails
-- and fal retries it.
DROP INDEX webhook_events_unknown_generation_idx;
CREATE INDEX webhook_events_fal_request_id_idx ON webhook_events (fal_request_id, generation_id)
    WHERE fal_request_id IS NOT NULL;

COMMENT ON TABLE fal_request_cancels IS
    'Every fal request Easel superseded or timed out, and what fal answered when Easel asked it to cancel the '
    'request: the record of requests fal may bill that the generation no longer names. A row is written in the '
    'transaction that makes its request unneeded (or, for a timeout, before the cancel is sent) and kept for good. '
    'Pending while answer is NULL: the reconciler (store.ClaimFalCancels) sends the cancel of a finished '
    'generation''s pending request every EASEL_POLL_AFTER until fal answers, or gives up once it is EASEL_TIMEOUT '
    'old. answer ALREADY_COMPLETED means fal had run the request to its end, and billed it. A pending cancel of a '
    'request whose own result then finished the generation is dropped: the generation records that request.';
COMMENT ON COLUMN fal_request_cancels.reason IS
    'Why Easel cancels the request: superseded (the result of another of the generation''s submissions, one whose '
    'answer was lost, finished the generation while this request, then its recorded one, still ran at fal); '
    'timeout (the reconciler timed the generation out).';
COMMENT ON COLUMN fal_request_cancels.answer IS
    'What became of the cancel. fal''s answer, as fal spells it: CANCELLATION_REQUESTED (fal dropped the request '
    'from its queue, or stopped it running), ALREADY_COMPLETED (fal had run the request to its end, and billed it), '
    'NOT_FOUND (fal did not know the request); or Easel''s: refused (fal answered 4xx, or the client refused the '
    'stored cancel URL; no retry could change it; last_error says which), gave_up (fal did not answer within '
    'EASEL_TIMEOUT of created_at, so the request may have run and billed; last_error is the last failure). NULL: '
    'not answered yet, the cancel is still to be sent.';
COMMENT ON COLUMN fal_request_cancels.answered_at IS
    'When answer was recorded; NULL while the cancel is pending.';
COMMENT ON COLUMN fal_request_cancels.attempted_at IS
    'When the cancel was last sent, or about to be (the claim stamps it first); NULL until then. infinity once '
    'answered (answered_at says when), so that binaries before schema version 25, which take every row for a '
    'pending cancel, never claim an answered one.';
COMMENT ON COLUMN fal_request_cancels.last_error IS
    'Why the last attempt to cancel failed (no connection, a 5xx, no answer in time) or was refused. Kept once '
    'answered.';

-- A result that came by webhook or poll confirms no submission, so with
-- fal_submissions = 2 and fal_submissions_confirmed = 0 the result may be
-- one of the two unconfirmed submissions': fal billed at most 2 requests,
-- where "fal_submissions - fal_submissions_confirmed beyond the recorded
-- one" read 3.
COMMENT ON COLUMN generations.fal_submissions IS
    'Submissions fal may have accepted, and may bill: counted before fal is called, and uncounted when fal''s answer '
    'proves it queued nothing. fal billed at most this many requests for the generation; 0: fal never had it.';
COMMENT ON COLUMN generations.fal_submissions_confirmed IS
    'Submissions whose answer from fal Easel recorded, at most 1. fal_submissions - fal_submissions_confirmed counts '
    'the submissions whose answer never reached Easel (a worker killed, a connection broken mid-call); fal may have '
    'accepted and billed each of them, but a result that came by webhook or poll may be one of theirs: fal billed '
    'at most fal_submissions requests for the generation in all.';
COMMENT ON VIEW generation_history IS
    'One row per generation, for reporting (README: Querying the history in SQL). Besides columns of generations, '
    'which \d+ generations describes: prompt, input->>''prompt''; webhook_count, the generation''s rows in '
    'webhook_events whatever their outcome; and durations in seconds from when the generation was due (run_at when '
    'it was scheduled for later, else created_at): queue_seconds to submitted_at, time_to_complete_seconds to '
    'completed_at, and fal_seconds from submitted_at to completed_at (fal''s queue, the inference and the webhook), '
    'each NULL when either end is. fal billed at most fal_submissions requests for the generation; '
    'fal_submissions - fal_submissions_confirmed counts the submissions whose answer never reached Easel, one of '
    'which may be the request whose result finished the generation.';

-- Additive: columns older binaries never write, indexes, comments, and an
-- attempted_at on answered rows that keeps their claims off them.
UPDATE easel_schema_compatibility SET schema_version = 25;
