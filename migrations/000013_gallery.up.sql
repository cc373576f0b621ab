-- What the gallery (package web) needs.

-- The gallery filtered by status pages newest first through millions of
-- rows: with the status leading, every status, however rare, is an ordered
-- range scan that stops after one page.
CREATE INDEX generations_status_created_at_idx ON generations (status, created_at DESC, id DESC);

-- Browser sessions of the gallery. A person signs in once with an API key;
-- the browser then holds a random token in an HttpOnly cookie. Only the
-- token's SHA-256 is stored, so a copy of the table grants nothing, and a
-- session dies with its key: revoking the key ends every session opened
-- with it.
CREATE TABLE web_sessions (
    token_hash  bytea PRIMARY KEY,
    api_key_id  uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

CREATE INDEX web_sessions_expires_at_idx ON web_sessions (expires_at);
CREATE INDEX web_sessions_api_key_id_idx ON web_sessions (api_key_id);
