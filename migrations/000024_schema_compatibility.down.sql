-- Binaries before 24 neither read nor write the table.
DROP TABLE easel_schema_compatibility;
