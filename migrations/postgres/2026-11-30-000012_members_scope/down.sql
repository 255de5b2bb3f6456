DROP INDEX audit_events_org_target;
DELETE FROM scopes WHERE name = 'members:manage';
