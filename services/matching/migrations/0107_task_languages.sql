-- Languages a task requires or prefers (BCP 47 tags from the task events); empty for tasks
-- stored before languages existed: no requirement.
ALTER TABLE tasks
    ADD COLUMN required_languages text[] NOT NULL DEFAULT '{}',
    ADD COLUMN preferred_languages text[] NOT NULL DEFAULT '{}';
