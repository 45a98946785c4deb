-- Calls sent to a provider and not yet in the ledger. A row is committed before the provider is called
-- and deleted in the transaction that writes the call's ledger row, so a crashed process leaves its
-- unfinished calls here; the sweeper records them (outcome `interrupted`) once `seen_at` is older than
-- the call timeout. A live process renews `seen_at` of its calls, so a long stream is never swept.
CREATE TABLE call_starts (
    id uuid PRIMARY KEY,
    tenant_id text NOT NULL,
    user_id text NOT NULL,
    endpoint text NOT NULL,
    stream boolean NOT NULL,
    model_requested text NOT NULL,
    input_tokens integer NOT NULL,  -- estimated from the prompt (4 characters a token)
    cost_micros bigint NOT NULL,  -- those tokens at the first candidate model's input price
    trace_id text,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX call_starts_seen_idx ON call_starts (seen_at);
