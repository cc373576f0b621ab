-- Time to complete (from due to result recorded) and fal's inference time,
-- p50 and p95 in seconds, per UTC day of the last 7 days.
SELECT (finished_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS completed,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY time_to_complete_seconds)::numeric, 2) AS time_to_complete_p50,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY time_to_complete_seconds)::numeric, 2) AS time_to_complete_p95,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY inference_seconds)::numeric, 2) AS inference_p50,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY inference_seconds)::numeric, 2) AS inference_p95
FROM generation_history
WHERE status = 'completed'
  AND finished_at >= (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '6 days') AT TIME ZONE 'UTC'
GROUP BY day
ORDER BY day DESC;
