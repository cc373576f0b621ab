DROP TRIGGER generations_owe_callback ON generations;
DROP FUNCTION easel_owe_callback();
DROP TABLE callback_deliveries;
