-- A key's name is the client of its generations and the scope of its
-- idempotency keys. Only active keys need distinct names: a revoked key keeps
-- its row (and its name) for the record, and a replacement key takes the same
-- name so that the service keeps its history.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_name_key;
CREATE UNIQUE INDEX api_keys_active_name_idx ON api_keys (name) WHERE revoked_at IS NULL;
