-- External sign-in accounts (GitHub, Google, Microsoft Entra ID, Apple) linked to a user.
-- A user is global (one account per email) and reaches tenants through memberships, so a link belongs
-- to the user, not to a tenant. No provider token is stored: sign-in needs none after the callback.
CREATE TABLE linked_accounts (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider text NOT NULL CHECK (provider IN ('github', 'google', 'microsoft', 'apple')),
    subject text NOT NULL,              -- the provider's stable account id: OIDC `sub`, GitHub's numeric id
    email text,                         -- what the provider reported when linking (shown to the user only)
    display_name text,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    CONSTRAINT linked_accounts_subject_unique UNIQUE (provider, subject),
    CONSTRAINT linked_accounts_user_provider_unique UNIQUE (user_id, provider)
);
CREATE INDEX linked_accounts_user ON linked_accounts (user_id, id);
