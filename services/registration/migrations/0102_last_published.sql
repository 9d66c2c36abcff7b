-- When the volunteer's matchable state was last published. The yearly refresh republishes
-- every live volunteer at least once per calendar year: age bands move at the turn of the
-- year, and the volunteer topic deletes records older than 400 days.
ALTER TABLE volunteers ADD COLUMN last_published_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX volunteers_last_published ON volunteers (last_published_at) WHERE status <> 'erased';
