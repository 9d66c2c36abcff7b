-- Languages a task requires or prefers (BCP 47 tags in canonical case, validated by the
-- service); empty for tasks created before languages existed: no requirement.
ALTER TABLE tasks
    ADD COLUMN required_languages text[] NOT NULL DEFAULT '{}',
    ADD COLUMN preferred_languages text[] NOT NULL DEFAULT '{}';
