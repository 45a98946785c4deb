-- Transactional outbox: rows written in the producer's transaction, published and deleted by the relay.
CREATE TABLE event_outbox (
    id uuid PRIMARY KEY,
    seq bigserial NOT NULL,
    subject text NOT NULL,
    headers jsonb NOT NULL,
    payload bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_outbox_seq_idx ON event_outbox (seq);

-- Consumer inbox: one row per (consumer, event) applied, so a redelivered event is skipped.
-- Keyed by consumer too: two consumers in one schema may both need the same event.
CREATE TABLE event_inbox (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX event_inbox_received_at_idx ON event_inbox (received_at);
