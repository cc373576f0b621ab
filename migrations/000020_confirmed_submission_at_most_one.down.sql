-- The rows the up migration set back to 1 stay so: which of them an older
-- binary had counted twice is not known.
ALTER TABLE generations DROP CONSTRAINT generations_confirmed_submission_at_most_one;
