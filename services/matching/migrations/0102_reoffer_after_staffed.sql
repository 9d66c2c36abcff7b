-- A volunteer whose offer was withdrawn because the task filled up (cancel reason 4,
-- TASK_STAFFED) may be asked again when a place opens; any other earlier match of the same
-- volunteer and task still rules out a new offer.
ALTER TABLE matches DROP CONSTRAINT matches_once_per_task;
CREATE UNIQUE INDEX matches_once_per_task ON matches (task_id, volunteer_id)
    WHERE NOT (state = 'cancelled' AND cancel_reason = 4);
