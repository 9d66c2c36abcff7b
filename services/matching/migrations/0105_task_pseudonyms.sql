-- Pseudonyms per task, not per incident: a volunteer's ref on one task says nothing about
-- their ref on another, so that the distance bands staff see on several tasks cannot be put
-- together to narrow down a home. A match keeps the ref it was made with (matches.volunteer_ref).
CREATE TABLE task_volunteer_refs (
    task_id      uuid NOT NULL,
    volunteer_id uuid NOT NULL,
    ref          text NOT NULL,
    PRIMARY KEY (task_id, volunteer_id),
    UNIQUE (task_id, ref)
);

-- Erasure deletes a volunteer's refs.
CREATE INDEX task_volunteer_refs_by_volunteer ON task_volunteer_refs (volunteer_id);

-- volunteer_refs (per incident) is no longer written; replicas of the release before may
-- still write it during a rolling update, so it is dropped in a later migration. Erasure
-- deletes from both until then.
