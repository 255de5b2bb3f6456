DELETE FROM scopes WHERE name = 'webhooks:manage';
DROP TABLE webhook_notices;
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_secrets;
DROP TABLE webhook_endpoints;
