-- Tenants, users (one account per normalised email), memberships with roles, invitations, TOTP factors.
CREATE TABLE tenants (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    email text NOT NULL,                -- normalised by the service (NFKC, trimmed, lower-cased)
    password_hash text,                 -- argon2id; NULL for accounts that sign in with OAuth only
    display_name text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_unique UNIQUE (email)
);

CREATE TABLE memberships (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id, created_at);

CREATE TABLE invitations (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email text NOT NULL,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    token_hash bytea NOT NULL,          -- SHA-256 of the single-use token; the token itself is never stored
    invited_by uuid REFERENCES users (id) ON DELETE SET NULL,
    idempotency_key text,
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invitations_token_unique UNIQUE (token_hash)
);
CREATE INDEX invitations_tenant ON invitations (tenant_id, id);
CREATE UNIQUE INDEX invitations_idempotency ON invitations (tenant_id, invited_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE totp_factors (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_ciphertext text NOT NULL,    -- Fernet token under TOTP_ENCRYPTION_KEYS
    confirmed_at timestamptz,           -- NULL while enrolling; MFA is on once confirmed
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE recovery_codes (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,           -- SHA-256 of the normalised code
    used_at timestamptz
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);
