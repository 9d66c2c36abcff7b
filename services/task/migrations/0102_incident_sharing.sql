-- Incidents shared with other organisations (issue #19, item 5): a regional control room's
-- coordinators and dashboards read an incident another organisation runs (ShareIncident).
ALTER TABLE incidents ADD COLUMN shared_with text[] NOT NULL DEFAULT '{}';

-- ListIncidents of an organisation includes the incidents shared with it.
CREATE INDEX incidents_shared_with ON incidents USING gin (shared_with);
