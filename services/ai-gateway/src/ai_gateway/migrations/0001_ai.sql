-- What each tenant may do: which models (NULL: all), and whether prompts and outputs are kept.
CREATE TABLE tenant_policies (
    tenant_id text PRIMARY KEY,
    allowed_models text[],
    store_content boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A tenant's budget for the current period; used amounts reset when the period rolls over.
CREATE TABLE budgets (
    tenant_id text PRIMARY KEY,
    token_limit bigint CHECK (token_limit > 0),
    cost_limit_micros bigint CHECK (cost_limit_micros > 0),
    period text NOT NULL CHECK (period IN ('day', 'week', 'month', 'never')),
    period_start timestamptz NOT NULL,
    tokens_used bigint NOT NULL DEFAULT 0,
    cost_used_micros bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The usage ledger: one row per call, written once when the call finished (its id charges the budget once).
CREATE TABLE usage (
    id uuid PRIMARY KEY,
    tenant_id text NOT NULL,
    user_id text NOT NULL,
    endpoint text NOT NULL,
    stream boolean NOT NULL,
    model_requested text NOT NULL,
    model_used text,
    provider text,
    input_tokens integer NOT NULL DEFAULT 0,
    output_tokens integer NOT NULL DEFAULT 0,
    cached_tokens integer NOT NULL DEFAULT 0,
    cost_micros bigint NOT NULL DEFAULT 0,
    latency_ms integer NOT NULL,
    first_token_ms integer,
    outcome text NOT NULL,
    error_code text,
    trace_id text,
    prompt jsonb,
    output jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_tenant_idx ON usage (tenant_id, id DESC);
