-- Seconds during which a refresh token just rotated may be presented again (a client that
-- lost the response) without revoking its family; 0 is strict rotation.
ALTER TABLE clients ADD COLUMN refresh_grace_seconds INTEGER NOT NULL DEFAULT 0;
-- Browser origins allowed to call the token and revocation endpoints (CORS), space-separated;
-- empty means the default: the origins of a public client's redirect URIs.
ALTER TABLE clients ADD COLUMN cors_origins TEXT NOT NULL DEFAULT '';
