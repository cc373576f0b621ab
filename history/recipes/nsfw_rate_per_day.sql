-- NSFW rate per day: of the generations that completed on each UTC day of
-- the last 30 days, how many had at least one NSFW image, and how many of
-- their images were NSFW. An image whose flag is unknown (fal sent none for
-- it) is never counted as clean: the generation rate is over the
-- generations whose has_nsfw is known, nsfw_images and the image rate over
-- those whose nsfw_image_count is, and unknown_generations counts those
-- with an image whose flag is unknown.
SELECT (finished_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS generations,
       count(*) FILTER (WHERE has_nsfw) AS nsfw_generations,
       round(avg(has_nsfw::int), 4) AS nsfw_generation_rate,
       sum(image_count) AS images,
       sum(nsfw_image_count) AS nsfw_images,
       round(sum(nsfw_image_count)::numeric
             / nullif(sum(image_count) FILTER (WHERE nsfw_image_count IS NOT NULL), 0), 4) AS nsfw_image_rate,
       count(*) FILTER (WHERE nsfw_image_count IS NULL) AS unknown_generations
FROM generation_history
WHERE status = 'completed'
  AND finished_at >= (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '29 days') AT TIME ZONE 'UTC'
GROUP BY day
ORDER BY day DESC;
