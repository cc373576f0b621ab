-- Fails while a revoked key shares its name with another key; delete the
-- revoked rows first.
DROP INDEX api_keys_active_name_idx;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_name_key UNIQUE (name);
