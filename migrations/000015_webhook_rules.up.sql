-- A finished generation's status never changes (docs/RELIABILITY.md,
-- guarantee 2). Every writer in Easel already changes only unfinished rows
-- (WHERE finished_at IS NULL); this trigger makes it a property of the
-- database, so that no code path, present or future, and no hand-written
-- UPDATE can undo a terminal state or move the moment it was reached.
-- Everything else about a finished row (last_webhook_at, the submission
-- accounting of a submit call that returned late) may still be written.
CREATE FUNCTION easel_refuse_terminal_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'generation % finished as % at %: a finished generation''s status and finished_at never change',
        OLD.id, OLD.status, OLD.finished_at
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER generations_terminal_never_changes
    BEFORE UPDATE ON generations
    FOR EACH ROW
    WHEN (OLD.finished_at IS NOT NULL
          AND (NEW.status IS DISTINCT FROM OLD.status OR NEW.finished_at IS DISTINCT FROM OLD.finished_at))
    EXECUTE FUNCTION easel_refuse_terminal_change();

-- Signed deliveries whose URL names no generation are kept with a null
-- generation_id, at most store.MaxWebhookEvents per fal request, so that
-- replays cannot grow the table without bound. This index serves that
-- count.
CREATE INDEX webhook_events_unknown_generation_idx ON webhook_events (fal_request_id)
    WHERE generation_id IS NULL;

COMMENT ON COLUMN webhook_events.outcome IS
    'What the delivery did (store.Outcome*): applied (finished the generation), '
    'duplicate (a repeat for a generation that already finished with a result), '
    'late (a result for a generation cancelled or timed out first; kept, not applied), '
    'deferred (no result in it, payload_error: the reconciler fetches it), '
    'mismatched_request (signed, but for a fal request that is not the generation''s; nothing applied), '
    'bad_signature (verification failed; nothing applied), '
    'malformed (signed, but not a fal webhook body), '
    'unknown_generation (signed, for a generation id that does not exist; generation_id is null).';
