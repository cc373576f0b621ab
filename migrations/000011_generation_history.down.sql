DROP TRIGGER generations_notify_finished ON generations;
DROP FUNCTION easel_notify_generation_finished();
DROP VIEW generation_history;
DROP STATISTICS generations_finished_day_stats;
DROP INDEX generations_client_created_at_idx;
DROP INDEX generations_finished_idx;
ALTER TABLE generations DROP COLUMN nsfw_image_count;
