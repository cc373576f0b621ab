-- Failures by error code over the last 7 days: how many, their share of all
-- failures, when last seen, and the latest message.
SELECT error_code,
       count(*) AS failures,
       round(count(*) / sum(count(*)) OVER (), 4) AS share,
       max(finished_at) AS last_seen,
       (array_agg(error_message ORDER BY finished_at DESC))[1] AS latest_message
FROM generation_history
WHERE status = 'failed'
  AND finished_at >= now() - interval '168 hours'
GROUP BY error_code
ORDER BY failures DESC, error_code;
