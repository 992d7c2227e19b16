-- People and machines that use the cockpit, and what they may do.

-- `role` applies in every org; per-org grants (account_org_roles) add roles
-- in single orgs. An account with neither sees no org at all.
CREATE TABLE accounts (
    id             uuid PRIMARY KEY,
    email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    display_name   text,
    password_hash  text,
    role           text CHECK (role IN ('viewer', 'analyst', 'admin')),
    sso_issuer     text,
    sso_subject    text,
    disabled_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (sso_issuer, sso_subject)
);
CREATE UNIQUE INDEX accounts_email ON accounts (lower(email));

CREATE TABLE account_org_roles (
    account_id  uuid NOT NULL REFERENCES accounts ON DELETE CASCADE,
    org_id      uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
    PRIMARY KEY (account_id, org_id)
);

-- Server-side sessions. The cookie holds a random 256-bit id; only its
-- SHA-256 is stored, so a database leak yields no usable session.
CREATE TABLE sessions (
    id_hash       bytea PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES accounts ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    -- Last time the person proved who they are (password or SSO).
    reauth_at     timestamptz NOT NULL DEFAULT now(),
    ip            text,
    user_agent    text,
    ended_at      timestamptz
);
CREATE INDEX sessions_account ON sessions (account_id) WHERE ended_at IS NULL;

-- For throttling sign-in per account and per address.
CREATE TABLE signin_attempts (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    email     text NOT NULL,
    ip        text NOT NULL,
    success   boolean NOT NULL
);
CREATE INDEX signin_attempts_email ON signin_attempts (lower(email), at DESC);
CREATE INDEX signin_attempts_ip ON signin_attempts (ip, at DESC);

-- API tokens for automation (SOAR, ticketing): stored hashed, with a role,
-- optionally limited to one org, revocable.
CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    token_hash    bytea NOT NULL UNIQUE,
    role          text NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
    org_id        uuid REFERENCES orgs ON DELETE CASCADE,
    created_by    uuid REFERENCES accounts ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

-- OAuth web-server flows in progress (connect an org, SSO sign-in): the
-- PKCE verifier and anything secret are sealed; rows expire.
CREATE TABLE oauth_pending (
    state_hash   bytea PRIMARY KEY,
    purpose      text NOT NULL CHECK (purpose IN ('connect_org', 'sso')),
    sealed       bytea NOT NULL,
    account_id   uuid REFERENCES accounts ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- The stronger of two roles (either may be NULL).
CREATE FUNCTION greatest_role(a text, b text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN 'admin' IN (a, b) THEN 'admin'
        WHEN 'analyst' IN (a, b) THEN 'analyst'
        WHEN 'viewer' IN (a, b) THEN 'viewer'
    END
$$;
