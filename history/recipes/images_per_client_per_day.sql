-- Images per client per UTC day of the last 30 days, from completed
-- generations.
SELECT (finished_at AT TIME ZONE 'UTC')::date AS day,
       client,
       count(*) AS generations,
       sum(image_count) AS images,
       sum(nsfw_image_count) AS nsfw_images
FROM generation_history
WHERE status = 'completed'
  AND finished_at >= (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '29 days') AT TIME ZONE 'UTC'
GROUP BY day, client
ORDER BY day DESC, images DESC, client;
