-- NSFW rate per day: of the generations that completed on each UTC day of
-- the last 30 days, how many had at least one NSFW image, and how many of
-- their images were NSFW.
SELECT (finished_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS generations,
       count(*) FILTER (WHERE has_nsfw) AS nsfw_generations,
       round(avg(has_nsfw::int), 4) AS nsfw_generation_rate,
       sum(image_count) AS images,
       sum(nsfw_image_count) AS nsfw_images,
       round(sum(nsfw_image_count)::numeric / nullif(sum(image_count), 0), 4) AS nsfw_image_rate
FROM generation_history
WHERE status = 'completed'
  AND finished_at >= (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '29 days') AT TIME ZONE 'UTC'
GROUP BY day
ORDER BY day DESC;
