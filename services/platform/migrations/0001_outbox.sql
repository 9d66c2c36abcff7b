-- The transactional outbox (see docs/events.md): a service writes its state change and the
-- events describing it in one transaction; the relay publishes rows in id order and marks them.
CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    event_id     UUID        NOT NULL UNIQUE,
    topic        TEXT        NOT NULL,
    message_key  TEXT        NOT NULL,
    -- NULL is a tombstone: compacted topics forget the key.
    payload      BYTEA,
    headers      JSONB       NOT NULL DEFAULT '[]'::jsonb,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ
);

-- The relay only ever looks for unpublished rows, in id order.
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;
