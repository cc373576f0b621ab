COMMENT ON COLUMN webhook_events.outcome IS NULL;
DROP INDEX webhook_events_unknown_generation_idx;
DROP TRIGGER generations_terminal_never_changes ON generations;
DROP FUNCTION easel_refuse_terminal_change();
