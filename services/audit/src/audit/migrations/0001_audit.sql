-- One row per event recorded. Per tenant, rows form a hash chain: `hash` = sha256(prev_hash || content),
-- `seq` gap-free from 1 (or from the retention anchor). Append-only: the service never updates a row.
-- tenant_id '' holds events that carry no tenant (platform notices, anonymous denied requests).
CREATE TABLE records (
    tenant_id text NOT NULL,
    seq bigint NOT NULL,
    id uuid NOT NULL,              -- the event id (CloudEvents ce-id): one record per event
    action text NOT NULL,          -- the event type
    actor_id text,
    target_type text,
    target_id text,
    outcome text NOT NULL CHECK (outcome IN ('success', 'failure')),
    client_ip text,
    user_agent text,
    trace_id text,
    request_id text,
    source text NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    body text NOT NULL,            -- canonical JSON with secrets redacted, hashed exactly as stored
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE UNIQUE INDEX records_id_idx ON records (id);
CREATE INDEX records_actor_idx ON records (tenant_id, actor_id, seq);
CREATE INDEX records_action_idx ON records (tenant_id, action, seq);
CREATE INDEX records_target_idx ON records (tenant_id, target_id, seq);
CREATE INDEX records_trace_idx ON records (tenant_id, trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX records_occurred_idx ON records (tenant_id, occurred_at);

-- The head of each tenant's chain: locked by the writer, so appends to one chain are serialised.
CREATE TABLE chain_heads (
    tenant_id text PRIMARY KEY,
    seq bigint NOT NULL,
    hash bytea NOT NULL
);

-- Signed statements "tenant T's chain had head (seq, hash)", written with each batch, kept apart from the
-- rows: dropping the newest rows leaves a checkpoint that names a head the table no longer reaches.
CREATE TABLE checkpoints (
    tenant_id text NOT NULL,
    seq bigint NOT NULL,
    hash bytea NOT NULL,
    signed_at timestamptz NOT NULL,
    key_id text NOT NULL,
    signature bytea NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

-- Where a tenant's chain starts after retention removed its oldest rows (signed like a checkpoint).
CREATE TABLE chain_anchors (
    tenant_id text NOT NULL,
    seq bigint NOT NULL,
    hash bytea NOT NULL,
    signed_at timestamptz NOT NULL,
    key_id text NOT NULL,
    signature bytea NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE retention_policies (
    tenant_id text PRIMARY KEY,
    retention_days integer NOT NULL CHECK (retention_days >= 1),
    updated_at timestamptz NOT NULL DEFAULT now()
);
