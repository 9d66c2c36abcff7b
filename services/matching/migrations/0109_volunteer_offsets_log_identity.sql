-- Which log each stored offset of the volunteer topic belongs to. An offset means something
-- only in the log that issued it: after the broker was rebuilt empty, or the topic recreated,
-- resuming at an old offset skips every record of the new log before it. At start, and every
-- 30 s while it runs, matching compares these with the broker's (the platform's
-- kafka::log_identity) and reads a partition whose log is another one from its beginning.
-- Written in the transaction that applied the record, with next_offset.
--   cluster_id:  the cluster the record came from, as the broker reported it (NULL: unknown);
--   last_record: the record at next_offset - 1: `id:<event id>` (the envelope's, or a
--                tombstone's ce_id header), else `key:<key>@<timestamp ms>` (NULL: stored
--                before this migration).
ALTER TABLE volunteer_offsets
    ADD COLUMN cluster_id  text,
    ADD COLUMN last_record text;
