-- Stuck generations: queued for more than 15 minutes past their due time,
-- or submitted to fal more than 15 minutes ago without a result; oldest
-- first.
SELECT id,
       client,
       status,
       created_at,
       submitted_at,
       now() - coalesce(submitted_at, greatest(created_at, run_at)) AS stuck_for,
       attempts,
       fal_request_id,
       error_code,
       error_message
FROM generation_history
WHERE (status = 'queued' AND greatest(created_at, run_at) < now() - interval '15 minutes')
   OR (status = 'submitted' AND submitted_at < now() - interval '15 minutes')
ORDER BY stuck_for DESC
LIMIT 100;
