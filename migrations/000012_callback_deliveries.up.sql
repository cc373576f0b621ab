-- Callbacks owed to callers: one row per generation that finished with a
-- callback_url. The row is written by a trigger inside the transaction that
-- finishes the generation, so the callback is owed exactly when the
-- generation is terminal, whichever code path (webhook, submit worker,
-- reconciler, cancel) or person in psql finished it, and no caller has to
-- remember it. Worker processes pick new rows up (job_id IS NULL) and insert
-- the River job that delivers them. The row's id is the webhook-id of every
-- delivery attempt; the other columns record how delivery went.
CREATE TABLE callback_deliveries (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    generation_id   uuid NOT NULL UNIQUE REFERENCES generations (id) ON DELETE CASCADE,
    url             text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- The River job delivering the callback; NULL until one is inserted.
    job_id          bigint,
    attempts        integer NOT NULL DEFAULT 0,
    last_attempt_at timestamptz,
    -- HTTP status of the last attempt; NULL when no answer came.
    last_status     smallint,
    last_error      text,
    delivered_at    timestamptz,
    -- When Easel stopped trying without delivering: the receiver refused
    -- the callback (4xx), its address is not allowed, or a day of retries
    -- ran out.
    abandoned_at    timestamptz,
    CONSTRAINT callback_deliveries_one_end CHECK (delivered_at IS NULL OR abandoned_at IS NULL)
);

-- Serves the workers' scan for callbacks that have no job yet.
CREATE INDEX callback_deliveries_owed_idx ON callback_deliveries (created_at) WHERE job_id IS NULL;

CREATE FUNCTION easel_owe_callback() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO callback_deliveries (generation_id, url) VALUES (NEW.id, NEW.callback_url)
    ON CONFLICT (generation_id) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER generations_owe_callback
    AFTER UPDATE ON generations
    FOR EACH ROW
    WHEN (OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL AND NEW.callback_url IS NOT NULL)
    EXECUTE FUNCTION easel_owe_callback();
