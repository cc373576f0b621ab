-- As 000011 created them.
CREATE FUNCTION easel_notify_generation_finished() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('easel_generation_finished', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER generations_notify_finished
    AFTER UPDATE ON generations
    FOR EACH ROW
    WHEN (OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION easel_notify_generation_finished();
