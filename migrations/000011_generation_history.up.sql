-- Reporting on the history of generations: the generation_history view
-- that README's SQL recipes query, the indexes that keep those recipes and
-- GET /v1/generations fast on millions of rows (chosen with EXPLAIN on 1M
-- rows, see docs/BENCHMARKS.md), and the NOTIFY that wakes long-polls.

-- How many of a completed generation's images fal flagged NSFW, stored like
-- image_count so that NSFW rates need no join with generation_images.
ALTER TABLE generations ADD COLUMN nsfw_image_count smallint;

UPDATE generations g
SET nsfw_image_count = (SELECT count(*) FROM generation_images i WHERE i.generation_id = g.id AND i.nsfw)
WHERE g.image_count IS NOT NULL;

-- The recipes' range: one status, finished in the last days. The included
-- columns let the per-day and per-client recipes answer from the index alone.
CREATE INDEX generations_finished_idx ON generations (status, finished_at)
    INCLUDE (client, has_nsfw, image_count, nsfw_image_count)
    WHERE finished_at IS NOT NULL;

-- GET /v1/generations?client=...: a small client's page would otherwise scan
-- the whole created_at index to find its rows.
CREATE INDEX generations_client_created_at_idx ON generations (client, created_at DESC, id DESC);

-- The recipes group by UTC day. Without statistics on that expression the
-- planner assumes one group per row and sorts instead of hashing.
CREATE STATISTICS generations_finished_day_stats ON ((finished_at AT TIME ZONE 'UTC')::date) FROM generations;

-- generation_history: one row per generation with the durations and counts
-- that reporting needs, so that README's recipes stay short. The webhook
-- count is a scalar subquery: the view is flattened into the query using
-- it, so a query that does not select the column does not pay for it.
CREATE VIEW generation_history AS
SELECT
    g.id,
    g.client,
    g.status,
    g.endpoint_id,
    g.priority,
    g.input ->> 'prompt' AS prompt,
    g.metadata,
    g.seed,
    g.fal_request_id,
    g.created_at,
    g.run_at,
    g.submitted_at,
    g.completed_at,
    g.finished_at,
    -- Durations start when the generation was due: its run_at when it was
    -- scheduled for later, else its creation (greatest ignores NULL).
    extract(epoch FROM g.submitted_at - greatest(g.created_at, g.run_at))::double precision AS queue_seconds,
    extract(epoch FROM g.completed_at - greatest(g.created_at, g.run_at))::double precision AS time_to_complete_seconds,
    -- From fal accepting the request to Easel recording its result: fal's
    -- queue wait, the inference and the webhook delivery.
    extract(epoch FROM g.completed_at - g.submitted_at)::double precision AS fal_seconds,
    g.inference_seconds,
    g.attempts,
    g.fal_submissions,
    g.image_count,
    g.nsfw_image_count,
    g.has_nsfw,
    g.error_code,
    g.error_message,
    (SELECT count(*) FROM webhook_events w WHERE w.generation_id = g.id) AS webhook_count,
    g.last_webhook_at
FROM generations g;

-- Announces every generation that reaches a terminal state on channel
-- easel_generation_finished, payload = its id, so that long-polling requests
-- in any process wake up. NOTIFY is delivered on commit, never for a rolled
-- back change, and Complete/Fail/Cancel only touch unfinished rows, so each
-- generation is announced once.
CREATE FUNCTION easel_notify_generation_finished() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('easel_generation_finished', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER generations_notify_finished
    AFTER UPDATE ON generations
    FOR EACH ROW
    WHEN (OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION easel_notify_generation_finished();
