-- Hours on site and the participation list (issue #19, item 4): registration keeps, from the
-- match events, when each volunteer arrived and left and where the task met, and records
-- every listing of names as a contact-data read with its purpose.
ALTER TABLE matches_seen
    ADD COLUMN task_address text,
    ADD COLUMN checked_in_at timestamptz,
    ADD COLUMN checked_out_at timestamptz,
    ADD COLUMN hours_on_site double precision NOT NULL DEFAULT 0;

-- 'contact' (GetVolunteerContact) or 'participation' (ListParticipants).
ALTER TABLE contact_access_audit ADD COLUMN purpose text NOT NULL DEFAULT 'contact'
    CHECK (purpose IN ('contact', 'participation'));
