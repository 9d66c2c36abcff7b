-- How far into each partition of the volunteer topic the read model goes: written in the
-- transaction that applied the record, read with the volunteers in one snapshot at start, so
-- that a replica resumes the topic where the stored state ends instead of replaying it all.
-- `next_offset` is the offset of the next record to apply; replicas share it (every replica
-- applies the same records, the first one wins), so it only ever grows.
CREATE TABLE volunteer_offsets (
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    PRIMARY KEY (topic, partition)
);
