-- Orgs the cockpit is connected to. Secrets live in org_secrets, encrypted.
CREATE TABLE orgs (
    id              uuid PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 80),
    login_url       text NOT NULL,
    instance_url    text,
    sf_org_id       text,
    integration_username text,
    status          text NOT NULL DEFAULT 'connected'
                    CHECK (status IN ('connected', 'needs_reauth', 'paused_budget', 'syncing', 'failed')),
    status_detail   text,
    sync_interval_minutes integer NOT NULL DEFAULT 15 CHECK (sync_interval_minutes BETWEEN 1 AND 1440),
    last_sync_at    timestamptz,
    api_usage_used  bigint,
    api_usage_max   bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
