DROP TABLE audit_events;
DROP TABLE client_secrets;
DROP TABLE clients;
DROP TABLE scopes;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE organizations;
