DROP TRIGGER generations_release_inflight_slots ON generations;
DROP FUNCTION easel_release_inflight_slots();
DROP TABLE inflight_slots;
