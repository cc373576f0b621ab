-- Binaries before 27 cannot read an unknown flag: it becomes what they
-- recorded for one, false, and each completed generation's counts are
-- recomputed from its images as they computed them. The UPDATE of
-- generations writes only the completed rows with an unknown flag; SET NOT
-- NULL reads every row of generation_images, holding ACCESS EXCLUSIVE on it
-- meanwhile.
UPDATE generations g
SET nsfw_image_count = (SELECT count(*) FROM generation_images i WHERE i.generation_id = g.id AND i.nsfw),
    has_nsfw = EXISTS (SELECT FROM generation_images i WHERE i.generation_id = g.id AND i.nsfw)
WHERE g.status = 'completed' AND g.finished_at IS NOT NULL AND (g.has_nsfw IS NULL OR g.nsfw_image_count IS NULL);

UPDATE generation_images SET nsfw = false WHERE nsfw IS NULL;

ALTER TABLE generation_images
    ALTER COLUMN nsfw SET DEFAULT false,
    ALTER COLUMN nsfw SET NOT NULL;

-- The comments as 000008 (none) and 000022 wrote them.
COMMENT ON COLUMN generation_images.nsfw IS NULL;
COMMENT ON COLUMN generations.has_nsfw IS
    'Whether fal flagged any of the generation''s images NSFW. NULL unless the generation completed.';
COMMENT ON COLUMN generations.nsfw_image_count IS
    'How many of the images fal returned it flagged NSFW. NULL unless the generation completed.';

-- The results fetched from fal's queue are forgotten; nothing before 27
-- reads them. Last: dropping the foreign key takes ACCESS EXCLUSIVE on
-- generations, held until the migration commits, which is a moment only
-- once the statements above have run.
DROP TABLE polled_results;

UPDATE easel_schema_compatibility SET schema_version = 26, oldest_compatible_version = 21;
