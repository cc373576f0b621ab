-- Columns cannot be removed by CREATE OR REPLACE VIEW: the view of 000011 is
-- created again. The submitted_at cleared by the up migration stays NULL.
DROP VIEW generation_history;

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
    extract(epoch FROM g.submitted_at - greatest(g.created_at, g.run_at))::double precision AS queue_seconds,
    extract(epoch FROM g.completed_at - greatest(g.created_at, g.run_at))::double precision AS time_to_complete_seconds,
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

COMMENT ON COLUMN generations.attempts IS NULL;
COMMENT ON COLUMN generations.fal_submissions IS NULL;
COMMENT ON COLUMN generations.fal_submissions_confirmed IS NULL;
COMMENT ON COLUMN generations.has_nsfw IS NULL;
COMMENT ON COLUMN generations.image_count IS NULL;
COMMENT ON COLUMN generations.nsfw_image_count IS NULL;
COMMENT ON COLUMN generations.submitted_at IS NULL;
