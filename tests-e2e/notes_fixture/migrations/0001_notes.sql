CREATE TABLE notes (
    id uuid PRIMARY KEY,
    title text NOT NULL,
    body text NOT NULL,
    client_ip text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- What the consumer process applied: one row per event, whatever the redeliveries.
CREATE TABLE received_events (
    event_id uuid PRIMARY KEY,
    note_id uuid NOT NULL,
    trace_id text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
