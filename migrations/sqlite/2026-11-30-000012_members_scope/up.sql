-- Members of an organization are managed over the management API with their own scope.
INSERT INTO scopes (name, description, min_role, built_in, created_at) VALUES
    ('members:manage', 'Add, create, change the role of and remove the organization''s members', 'admin', TRUE, CURRENT_TIMESTAMP);

-- The audit listing filters by target (an integration, a client, a member) within an
-- organization, newest first.
CREATE INDEX audit_events_org_target ON audit_events (org_id, target, id);
