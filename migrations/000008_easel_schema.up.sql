-- Easel's own tables. Statuses are text with CHECK constraints rather than
-- enums so that later migrations can extend them inside a transaction.

CREATE TABLE generations (
    id                     uuid PRIMARY KEY,
    client                 text NOT NULL,
    status                 text NOT NULL DEFAULT 'queued'
        CONSTRAINT generations_status_check
        CHECK (status IN ('queued', 'submitted', 'completed', 'failed', 'cancelled')),
    endpoint_id            text NOT NULL,
    -- The exact JSON sent to fal, defaults applied.
    input                  jsonb NOT NULL,
    priority               smallint NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 4),
    metadata               jsonb NOT NULL DEFAULT '{}',
    callback_url           text,
    idempotency_key        text,
    -- SHA-256 of the canonical request, to tell a retried request from a
    -- different one reusing the same Idempotency-Key.
    request_hash           bytea,
    -- Input seed; numeric because fal seeds exceed bigint (up to 2^64-1).
    seed                   numeric(20, 0),

    fal_request_id         text,
    fal_gateway_request_id text,
    fal_status_url         text,
    fal_response_url       text,
    fal_cancel_url         text,

    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    run_at                 timestamptz,
    -- Set just before calling fal: a row with submitting_at and no
    -- submitted_at marks a submission whose outcome is not known yet.
    submitting_at          timestamptz,
    submitted_at           timestamptz,
    completed_at           timestamptz,
    -- When the row reached any terminal state (completed, failed, cancelled).
    finished_at            timestamptz,

    -- Runs of the submit job, and how many of them reached fal (each one a
    -- potentially paid request).
    attempts               integer NOT NULL DEFAULT 0,
    fal_submissions        integer NOT NULL DEFAULT 0,
    last_webhook_at        timestamptz,

    error_code             text,
    error_message          text,

    has_nsfw               boolean,
    image_count            smallint,
    inference_seconds      double precision,
    timings                jsonb,

    CONSTRAINT generations_terminal_has_finished_at
        CHECK ((status IN ('completed', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
);

CREATE UNIQUE INDEX generations_client_idempotency_key_idx
    ON generations (client, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX generations_created_at_idx ON generations (created_at DESC, id DESC);
CREATE INDEX generations_fal_request_id_idx ON generations (fal_request_id) WHERE fal_request_id IS NOT NULL;
-- Serves the in-flight cap and the reconciler: only unfinished rows.
CREATE INDEX generations_unfinished_idx ON generations (status, submitted_at)
    WHERE status IN ('queued', 'submitted');

CREATE TABLE generation_images (
    generation_id uuid NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
    position      smallint NOT NULL CHECK (position >= 0),
    url           text NOT NULL,
    content_type  text,
    file_name     text,
    file_size     bigint,
    width         integer,
    height        integer,
    nsfw          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (generation_id, position)
);

CREATE TABLE webhook_events (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Null when the URL named no known generation.
    generation_id    uuid REFERENCES generations (id) ON DELETE CASCADE,
    received_at      timestamptz NOT NULL DEFAULT now(),
    fal_request_id   text,
    headers          jsonb NOT NULL DEFAULT '{}',
    -- The raw body exactly as received (the signature covers these bytes),
    -- possibly cut to a cap for events that failed verification.
    body             bytea NOT NULL,
    body_size        integer NOT NULL,
    signature_valid  boolean NOT NULL,
    signature_error  text,
    -- What the event did: applied, duplicate, late, bad_signature,
    -- malformed, mismatched_request.
    outcome          text NOT NULL
);

CREATE INDEX webhook_events_generation_id_idx ON webhook_events (generation_id, received_at);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 100),
    -- SHA-256 of the key; the key itself is shown once and never stored.
    key_hash     bytea NOT NULL UNIQUE,
    key_prefix   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
