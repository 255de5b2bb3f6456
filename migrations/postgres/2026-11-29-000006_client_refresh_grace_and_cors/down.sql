ALTER TABLE clients DROP COLUMN cors_origins;
ALTER TABLE clients DROP COLUMN refresh_grace_seconds;
