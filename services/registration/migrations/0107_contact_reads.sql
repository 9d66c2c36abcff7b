-- Contact reads name their task and organisation, so that admins list them per task
-- (ListContactReads) even after the volunteer's matches were forgotten (erasure deletes
-- matches_seen). Earlier reads take them from matches_seen where it still knows the match.
ALTER TABLE contact_access_audit ADD COLUMN task_id uuid;
ALTER TABLE contact_access_audit ADD COLUMN organisation_id text;

UPDATE contact_access_audit a SET task_id = m.task_id, organisation_id = m.organisation_id
FROM matches_seen m WHERE m.match_id = a.match_id;

CREATE INDEX contact_access_audit_by_task ON contact_access_audit (task_id, id);
