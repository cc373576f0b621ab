-- FAL_MAX_INFLIGHT and EASEL_CLIENT_MAX_INFLIGHT without a database-wide
-- lock. Each cap is a set of numbered slots; a reservation claims a free one
-- with FOR UPDATE SKIP LOCKED, so reservations in any number of processes
-- proceed side by side, and the cap holds because a slot has one holder.
-- A generation holds its slots exactly while it is in flight (unfinished,
-- with a submission fal may have accepted): the trigger below frees them on
-- every path that ends that, so no caller has to remember to.
--
-- scope is '' for FAL_MAX_INFLIGHT, 'client:' || name for a client's cap.
-- Slots 1..n of a scope are created together, by store.ReserveSubmission,
-- when a cap of n first needs them.
CREATE TABLE inflight_slots (
    scope         text NOT NULL,
    slot          integer NOT NULL CHECK (slot > 0),
    generation_id uuid REFERENCES generations (id) ON DELETE SET NULL,
    PRIMARY KEY (scope, slot)
);

-- Free slots, lowest first: what a reservation scans.
CREATE INDEX inflight_slots_free_idx ON inflight_slots (scope, slot) WHERE generation_id IS NULL;
-- A generation's slots: what the release and the "already holds one" check read.
CREATE INDEX inflight_slots_generation_idx ON inflight_slots (generation_id) WHERE generation_id IS NOT NULL;

-- The generations in flight now hold slots, numbered from 1 in each scope,
-- so that a cap met before the upgrade is still met after it.
INSERT INTO inflight_slots (scope, slot, generation_id)
SELECT '', row_number() OVER (ORDER BY submitting_at, id), id
FROM generations WHERE finished_at IS NULL AND fal_submissions > 0;

INSERT INTO inflight_slots (scope, slot, generation_id)
SELECT 'client:' || client, row_number() OVER (PARTITION BY client ORDER BY submitting_at, id), id
FROM generations WHERE finished_at IS NULL AND fal_submissions > 0;

CREATE FUNCTION easel_release_inflight_slots() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE inflight_slots SET generation_id = NULL WHERE generation_id = NEW.id;
    RETURN NULL;
END
$$;

-- Finished (completed, failed, cancelled, timed out) or uncounted (fal
-- refused the submission): no longer in flight.
CREATE TRIGGER generations_release_inflight_slots
    AFTER UPDATE ON generations
    FOR EACH ROW
    WHEN (OLD.finished_at IS NULL AND OLD.fal_submissions > 0
          AND (NEW.finished_at IS NOT NULL OR NEW.fal_submissions = 0))
    EXECUTE FUNCTION easel_release_inflight_slots();
