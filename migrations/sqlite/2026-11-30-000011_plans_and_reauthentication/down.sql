ALTER TABLE sessions DROP COLUMN authenticated_at;
DROP TABLE plan_overrides;
ALTER TABLE organizations DROP COLUMN plan;
