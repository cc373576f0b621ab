DROP TABLE api_keys;
DROP TABLE webhook_events;
DROP TABLE generation_images;
DROP TABLE generations;
