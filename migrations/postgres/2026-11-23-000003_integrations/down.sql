DROP TABLE integration_tokens;
DROP TABLE integrations;
