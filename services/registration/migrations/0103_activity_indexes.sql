-- The retention sweep and the export look up a volunteer's tokens and matches by volunteer.
-- Without these indexes every volunteer costs a scan of both tables: the sweep over 35,000
-- volunteers kept one PostgreSQL core busy for minutes (docs/benchmarks.md).
CREATE INDEX tokens_issued_volunteer ON tokens_issued (volunteer_id, issued_at);
CREATE INDEX matches_seen_volunteer ON matches_seen (volunteer_id, updated_at);
