-- EASEL_TIMEOUT counts from a generation's first submission to fal, not its
-- latest: each submission after a lost answer restamps submitting_at, so a
-- generation whose answers kept being lost never timed out (see
-- docs/RELIABILITY.md). Every statement that marks a submission under way
-- sets first_submitting_at once (store.markSubmittingSet).
ALTER TABLE generations ADD COLUMN first_submitting_at timestamptz;

-- Only the latest submission's start was kept until now: the best there is.
UPDATE generations SET first_submitting_at = submitting_at WHERE submitting_at IS NOT NULL;

COMMENT ON COLUMN generations.first_submitting_at IS
    'When the first submission to fal started, set once before fal was called; submitting_at is the latest. '
    'EASEL_TIMEOUT counts from it. For generations submitted before migration 000019, the latest submission''s start.';
