-- The group commit looks up, for each phone and e-mail hash of a batch, the earliest volunteer
-- holding it (`commit::duplicates`): one index probe per hash that reads the first entry in
-- `created_at` order. The previous query (`phone_hash = ANY($1) OR email_hash = ANY($2)`)
-- depended on statistics: on a table that had grown since its last ANALYZE the planner
-- expected a fifth of the rows to match a batch's hashes and scanned the whole table for every
-- batch (docs/benchmarks.md, registration surge, fourth run).
DROP INDEX volunteers_phone_hash;
DROP INDEX volunteers_email_hash;
CREATE INDEX volunteers_phone_first ON volunteers (phone_hash, created_at) WHERE phone_hash IS NOT NULL;
CREATE INDEX volunteers_email_first ON volunteers (email_hash, created_at) WHERE email_hash IS NOT NULL;
