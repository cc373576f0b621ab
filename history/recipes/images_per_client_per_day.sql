-- Images per client per UTC day of the last 30 days, from completed
-- generations. An image whose NSFW flag is unknown (fal sent none for it)
-- is never counted as clean: nsfw_images counts the flagged images of the
-- generations whose every flag is known, and nsfw_unknown_generations
-- counts those with an image whose flag is unknown, which nsfw_images
-- leaves out.
SELECT (finished_at AT TIME ZONE 'UTC')::date AS day,
       client,
       count(*) AS generations,
       sum(image_count) AS images,
       sum(nsfw_image_count) AS nsfw_images,
       count(*) FILTER (WHERE nsfw_image_count IS NULL) AS nsfw_unknown_generations
FROM generation_history
WHERE status = 'completed'
  AND finished_at >= (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '29 days') AT TIME ZONE 'UTC'
GROUP BY day, client
ORDER BY day DESC, images DESC, client;
