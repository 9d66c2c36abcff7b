-- Check-in on site. Each task gets a random secret from which its rotating check-in codes are
-- derived (HMAC of the time period, see src/check_in.rs): codes are bound to the task, expire
-- by themselves, and every replica derives the same code without sharing a key in config.
-- gen_random_uuid() draws from PostgreSQL's strong random source; two of them give 244
-- random bits. The secret never leaves this database (events and views do not carry it).
ALTER TABLE tasks
    ADD COLUMN check_in_secret bytea NOT NULL
        DEFAULT (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));

-- When the volunteer arrived and left: hours on site per match. Wrong codes are counted so
-- that a volunteer cannot try all million codes; a coordinator checks them in after that.
ALTER TABLE matches
    ADD COLUMN checked_in_at     timestamptz,
    ADD COLUMN checked_out_at    timestamptz,
    ADD COLUMN check_in_failures smallint NOT NULL DEFAULT 0;
