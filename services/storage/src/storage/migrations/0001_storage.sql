-- One row per object a tenant uploads or copies. Bytes live in S3 under `s3_key`, which the service
-- generates from the tenant and object id; the display `path` is metadata only.
CREATE TABLE objects (
    id uuid PRIMARY KEY,
    tenant_id text NOT NULL,
    owner_id text NOT NULL,
    path text COLLATE "C" NOT NULL,
    size bigint NOT NULL CHECK (size >= 0),
    content_type text NOT NULL,
    sha256 text NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'ready', 'failed')),
    method text NOT NULL CHECK (method IN ('post', 'multipart', 'copy')),
    s3_key text NOT NULL UNIQUE,
    multipart_upload_id text,
    part_size bigint,
    copied_from uuid,
    failure text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    ready_at timestamptz,
    expires_at timestamptz
);

-- A path holds at most one live object (an upload in progress reserves it).
CREATE UNIQUE INDEX objects_live_path ON objects (tenant_id, path) WHERE status IN ('pending', 'ready');
CREATE INDEX objects_list ON objects (tenant_id, path, id) WHERE status = 'ready';
CREATE INDEX objects_pending_expiry ON objects (expires_at) WHERE status = 'pending';
CREATE INDEX objects_failed_age ON objects (updated_at) WHERE status = 'failed';

-- Deletion intents: committed (with the metadata removal) before any byte is deleted; a row leaves
-- only after S3 confirmed the delete, so a crash at any point leaves work the housekeeping job finishes.
CREATE TABLE deletions (
    s3_key text PRIMARY KEY,
    tenant_id text NOT NULL,
    object_id uuid NOT NULL,
    multipart_upload_id text,
    reason text NOT NULL,
    -- kept (and its key deleted again) until a presigned POST for the key can no longer land bytes
    hold_until timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deletions_age ON deletions (created_at);

-- Bytes reserved (pending) or used (ready) per tenant, updated in the same transaction as the objects.
CREATE TABLE tenant_usage (
    tenant_id text PRIMARY KEY,
    bytes bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0)
);

-- Per-tenant overrides of the configured defaults (set by operators).
CREATE TABLE tenant_quotas (
    tenant_id text PRIMARY KEY,
    quota_bytes bigint NOT NULL CHECK (quota_bytes >= 0),
    max_upload_bytes bigint CHECK (max_upload_bytes >= 0)
);

-- First answer to each create request sent with an Idempotency-Key.
CREATE TABLE idempotency_keys (
    tenant_id text NOT NULL,
    key text NOT NULL,
    route text NOT NULL,
    request_hash text NOT NULL,
    status_code integer NOT NULL,
    response bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
