-- Idempotent consumers: an event applied once is recorded here in the same transaction as its
-- effect, so that a redelivery after a crash or rebalance changes nothing.
CREATE TABLE processed_events (
    consumer     TEXT        NOT NULL,
    event_id     UUID        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
