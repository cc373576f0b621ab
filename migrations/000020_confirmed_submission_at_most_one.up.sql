-- A generation has at most one confirmed submission (docs/RELIABILITY.md,
-- guarantee 3), so that every paid request beyond the first shows as
-- fal_submissions > fal_submissions_confirmed. store.RecordSubmitted keeps it
-- so; before it was idempotent, a retry after a connection lost after its
-- COMMIT counted the same answer twice, hiding a paid request among the
-- confirmed ones. Such rows confirmed one submission: they are set back to 1,
-- so that the hidden request shows, and so that the check below, which
-- applies to every later version of a row, does not refuse the webhook,
-- reconciler or cancel that finishes one still in flight.
UPDATE generations SET fal_submissions_confirmed = 1 WHERE fal_submissions_confirmed > 1;

-- A backstop for any writer, typed in psql included. NOT VALID: adding it
-- does not scan the table under the exclusive lock ALTER TABLE takes; the
-- UPDATE above has brought the existing rows into line.
ALTER TABLE generations ADD CONSTRAINT generations_confirmed_submission_at_most_one
    CHECK (fal_submissions_confirmed <= 1) NOT VALID;
