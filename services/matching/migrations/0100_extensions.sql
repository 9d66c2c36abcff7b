-- Double-booking is prevented by an exclusion constraint over (volunteer, time range) of
-- active matches; mixing equality and range overlap in one GiST index needs btree_gist.
CREATE EXTENSION IF NOT EXISTS btree_gist;
