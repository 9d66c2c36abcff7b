-- Incidents shared with other organisations (issue #19, item 5): their coordinators and
-- dashboards read the incident's summary, staffing and match changes (IncidentShared).
ALTER TABLE incidents ADD COLUMN shared_with text[] NOT NULL DEFAULT '{}';
