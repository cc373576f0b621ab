-- Accounting for submissions to fal (see docs/RELIABILITY.md).
--
-- fal_submissions now counts every submit that fal may have accepted: it is
-- incremented in the statement that marks a submission under way, before
-- fal is called, and decremented only when fal answers with an error that
-- proves it queued nothing. fal_submissions_confirmed counts the submits
-- whose answer Easel recorded; the difference is submissions whose outcome
-- was never learnt (a worker killed, or a connection lost, mid-call).
ALTER TABLE generations
    ADD COLUMN fal_submissions_confirmed integer NOT NULL DEFAULT 0,
    -- When the reconciler last asked fal about this generation.
    ADD COLUMN last_polled_at timestamptz;

-- Until now fal_submissions was counted on confirmation only.
UPDATE generations SET fal_submissions_confirmed = fal_submissions;

-- The generations that occupy a slot of FAL_MAX_INFLIGHT: unfinished, with a
-- submission that fal may have accepted. Serves the in-flight count (per
-- client too) and the reconciler's timeout scan.
CREATE INDEX generations_inflight_idx ON generations (client, submitting_at)
    WHERE finished_at IS NULL AND fal_submissions > 0;
