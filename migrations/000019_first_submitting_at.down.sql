ALTER TABLE generations DROP COLUMN first_submitting_at;
