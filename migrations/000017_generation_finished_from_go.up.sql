-- Generations reaching a terminal state are no longer announced on channel
-- easel_generation_finished by a trigger, but by the Go code that finishes
-- them, once their transaction has committed, several ids to a notification
-- (notify.Publisher). A transaction that NOTIFYs holds a database-wide lock
-- from its commit until its WAL flush, so finishing commits could never
-- share a flush; and every NOTIFY wakes every listening backend, River's
-- included. The trigger cost 10-25% of throughput.
DROP TRIGGER generations_notify_finished ON generations;
DROP FUNCTION easel_notify_generation_finished();
