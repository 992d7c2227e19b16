-- Connection details of an org, its encrypted secrets, and everything a sync
-- pulls from it. Salesforce ids are kept as Salesforce spells them (18 chars).

ALTER TABLE orgs
    ADD COLUMN auth_flow text NOT NULL DEFAULT 'web_server'
        CHECK (auth_flow IN ('web_server', 'jwt_bearer', 'client_credentials')),
    ADD COLUMN client_id text,
    ADD COLUMN username text,
    ADD COLUMN sandbox boolean NOT NULL DEFAULT false,
    ADD COLUMN api_version text NOT NULL DEFAULT '66.0',
    -- Whether the integration user may see every user's tokens; without it
    -- Salesforce silently returns only the integration user's own.
    ADD COLUMN sees_all_tokens boolean,
    ADD COLUMN budget_share real NOT NULL DEFAULT 0.75 CHECK (budget_share > 0 AND budget_share <= 1),
    ADD COLUMN next_sync_at timestamptz,
    ADD COLUMN last_sync_status text,
    ADD COLUMN first_synced_at timestamptz;

-- Sealed with AES-256-GCM (see cockpit_domain::secret); never plaintext.
CREATE TABLE org_secrets (
    org_id      uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    field       text NOT NULL CHECK (field IN ('refresh_token', 'client_secret', 'private_key')),
    sealed      bytea NOT NULL,
    key_id      text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, field)
);

CREATE TABLE sf_users (
    org_id          uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    id              text NOT NULL,
    username        text NOT NULL,
    name            text NOT NULL,
    email           text,
    is_active       boolean NOT NULL,
    user_type       text,
    profile         text,
    department      text,
    manager_id      text,
    manager_name    text,
    last_login_at   timestamptz,
    created_at      timestamptz,
    deactivated_at  timestamptz,
    first_seen_at   timestamptz NOT NULL,
    gone_at         timestamptz,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX sf_users_name ON sf_users (org_id, lower(name) text_pattern_ops);
CREATE INDEX sf_users_username ON sf_users (org_id, lower(username) text_pattern_ops);
CREATE INDEX sf_users_email ON sf_users (org_id, lower(email) text_pattern_ops);

-- An app is keyed by its Salesforce application id (0H4… connected app,
-- 0xI… External Client App) when known, else by 'name:' || AppName (an
-- uninstalled app whose tokens carry no AppMenuItem).
CREATE TABLE sf_apps (
    org_id              uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    app_key             text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('connected_app', 'external_client_app', 'unknown')),
    sf_app_id           text,
    name                text NOT NULL,
    installed           boolean NOT NULL,
    menu_item_id        text,
    consumer_key        text,
    admin_approved_only boolean,
    refresh_policy      text,
    ip_relaxation       text,
    permitted_users     text,
    first_seen_at       timestamptz NOT NULL,
    gone_at             timestamptz,
    PRIMARY KEY (org_id, app_key)
);
CREATE INDEX sf_apps_name ON sf_apps (org_id, lower(name));

-- One row per OAuth authorization (refresh token). DeleteTokens are not
-- stored: actions fetch them just in time, which also proves the token is
-- still there.
CREATE TABLE sf_tokens (
    org_id        uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    id            text NOT NULL,
    app_key       text NOT NULL,
    user_id       text NOT NULL,
    app_name      text NOT NULL,
    created_at    timestamptz,
    last_used_at  timestamptz,
    use_count     bigint,
    first_seen_at timestamptz NOT NULL,
    gone_at       timestamptz,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX sf_tokens_app ON sf_tokens (org_id, app_key) WHERE gone_at IS NULL;
CREATE INDEX sf_tokens_user ON sf_tokens (org_id, user_id) WHERE gone_at IS NULL;

-- API requests per app and day, from the ApiTotalUsage event logs.
CREATE TABLE app_usage_daily (
    org_id     uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    app_key    text NOT NULL,
    day        date NOT NULL,
    requests   bigint NOT NULL,
    errors     bigint NOT NULL,
    by_status  jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (org_id, app_key, day)
);

-- OAuth logins and failures per app and day, from LoginHistory.
CREATE TABLE app_logins_daily (
    org_id     uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    app_name   text NOT NULL,
    day        date NOT NULL,
    successes  bigint NOT NULL,
    failures   bigint NOT NULL,
    PRIMARY KEY (org_id, app_name, day)
);

CREATE TABLE sync_runs (
    id           bigserial PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    trigger      text NOT NULL CHECK (trigger IN ('schedule', 'manual', 'cli', 'connect')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    error        text,
    api_calls    bigint,
    counts       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX sync_runs_org ON sync_runs (org_id, started_at DESC);

-- What changed, when. Read by the pages and the audit history.
CREATE TABLE events (
    id          bigserial PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    sync_run_id bigint REFERENCES sync_runs ON DELETE SET NULL,
    kind        text NOT NULL CHECK (kind IN (
                    'token_granted', 'token_gone', 'app_first_seen', 'app_gone',
                    'user_deactivated', 'user_gone', 'policy_changed', 'reauthorized_after_revoke')),
    app_key     text,
    user_id     text,
    token_id    text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_org_at ON events (org_id, at DESC);
CREATE INDEX events_app ON events (org_id, app_key, at DESC) WHERE app_key IS NOT NULL;
CREATE INDEX events_user ON events (org_id, user_id, at DESC) WHERE user_id IS NOT NULL;

-- Per-app figures for the list pages, refreshed at the end of each sync.
CREATE TABLE app_summary (
    org_id          uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    app_key         text NOT NULL,
    users           bigint NOT NULL,
    tokens          bigint NOT NULL,
    total_use       bigint NOT NULL,
    last_used_at    timestamptz,
    requests_24h    bigint NOT NULL DEFAULT 0,
    errors_24h      bigint NOT NULL DEFAULT 0,
    requests_7d     bigint NOT NULL DEFAULT 0,
    errors_7d       bigint NOT NULL DEFAULT 0,
    stale_tokens    bigint NOT NULL DEFAULT 0,
    inactive_users  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, app_key)
);

-- Org totals after each successful sync: the trend charts.
CREATE TABLE org_snapshots (
    org_id      uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    apps        bigint NOT NULL,
    users_with_tokens bigint NOT NULL,
    tokens      bigint NOT NULL,
    PRIMARY KEY (org_id, at)
);

-- Background work is rows, claimed with FOR UPDATE SKIP LOCKED. A claim is a
-- lease: a worker that dies lets it lapse and another picks the job up.
CREATE TABLE jobs (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL,
    org_id        uuid REFERENCES orgs ON DELETE CASCADE,
    payload       jsonb NOT NULL DEFAULT '{}',
    run_after     timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0,
    locked_by     text,
    locked_until  timestamptz,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_ready ON jobs (run_after) WHERE locked_until IS NULL;
-- At most one pending sync per org.
CREATE UNIQUE INDEX jobs_one_sync_per_org ON jobs (org_id) WHERE kind = 'sync';

-- Staging templates. A sync runs on its own connection and creates TEMP
-- tables `LIKE` these; as pg_temp comes first in the search path, its queries
-- read and write its own private copies, which vanish with the connection if
-- the process dies mid-sync. The permanent tables exist so the queries are
-- compile-checked, and refuse every row (CHECK (false), which LIKE does not
-- copy) so nothing can ever be staged into them by mistake.
CREATE UNLOGGED TABLE stage_users (
    id text NOT NULL, username text NOT NULL, name text NOT NULL, email text,
    is_active boolean NOT NULL, user_type text, profile text, department text,
    manager_id text, manager_name text, last_login_at timestamptz,
    created_at timestamptz, deactivated_at timestamptz,
    CONSTRAINT template_only CHECK (false)
);
CREATE UNLOGGED TABLE stage_apps (
    app_key text NOT NULL, kind text NOT NULL, sf_app_id text, name text NOT NULL,
    installed boolean NOT NULL, menu_item_id text, consumer_key text,
    admin_approved_only boolean, refresh_policy text, ip_relaxation text, permitted_users text,
    CONSTRAINT template_only CHECK (false)
);
CREATE UNLOGGED TABLE stage_tokens (
    id text NOT NULL, app_key text NOT NULL, user_id text NOT NULL, app_name text NOT NULL,
    created_at timestamptz, last_used_at timestamptz, use_count bigint,
    CONSTRAINT template_only CHECK (false)
);
CREATE UNLOGGED TABLE stage_usage (
    app_key text NOT NULL, day date NOT NULL, requests bigint NOT NULL, errors bigint NOT NULL,
    by_status jsonb NOT NULL,
    CONSTRAINT template_only CHECK (false)
);
CREATE UNLOGGED TABLE stage_logins (
    app_name text NOT NULL, day date NOT NULL, successes bigint NOT NULL, failures bigint NOT NULL,
    CONSTRAINT template_only CHECK (false)
);
