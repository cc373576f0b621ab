-- EASEL_CLIENT_MAX_PENDING: jobs.Enqueue counts a client's unfinished
-- (queued or submitted) generations, up to the cap, before inserting one.
-- Only unfinished rows are in this index, so the count reads at most the
-- cap's worth of entries however long the client's history is.
CREATE INDEX generations_pending_client_idx ON generations (client) WHERE finished_at IS NULL;
