-- The audit log: append-only (the database itself refuses UPDATE, DELETE and
-- TRUNCATE) and hash-chained: each entry's hash covers its content and the
-- previous entry's hash, so an edited, removed or reordered entry breaks the
-- chain (`oauth-cockpit audit verify`). Appends are serialised by an
-- advisory lock so the chain has no forks.
CREATE TABLE audit_log (
    seq        bigint PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    org_id     uuid,
    target     jsonb NOT NULL DEFAULT '{}',
    reason     text,
    outcome    text,
    detail     jsonb NOT NULL DEFAULT '{}',
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL UNIQUE
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
CREATE INDEX audit_log_actor ON audit_log (actor, at DESC);
CREATE INDEX audit_log_org ON audit_log (org_id, at DESC);
CREATE INDEX audit_log_action ON audit_log (action, at DESC);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

-- An action an admin asked for, committed with its audit entry before any
-- call to Salesforce; the executor works it to the end, across restarts.
CREATE TABLE actions (
    id              bigserial PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN (
                        'revoke_token', 'revoke_user_app', 'revoke_user_all', 'revoke_app_all',
                        'block_app', 'unblock_app', 'bulk_revoke')),
    app_key         text,
    user_id         text,
    requested_by    text NOT NULL,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    -- A form submitted twice carries the same key and creates one action.
    idempotency_key text NOT NULL UNIQUE,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'succeeded', 'partially_failed', 'failed')),
    detail          text,
    started_at      timestamptz,
    finished_at     timestamptz
);
CREATE INDEX actions_org ON actions (org_id, requested_at DESC);
CREATE INDEX actions_open ON actions (status) WHERE status IN ('pending', 'running');

-- One authorization an action revokes. `revoked` = Salesforce confirmed the
-- revoke; `gone` = it was already gone when re-queried (revoked elsewhere or
-- by an earlier attempt of this action); each is revoked at most once.
CREATE TABLE action_items (
    action_id   bigint NOT NULL REFERENCES actions ON DELETE CASCADE,
    token_id    text NOT NULL,
    app_key     text NOT NULL,
    user_id     text NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'revoked', 'gone', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    error       text,
    done_at     timestamptz,
    PRIMARY KEY (action_id, token_id)
);
CREATE INDEX action_items_pending ON action_items (action_id) WHERE status = 'pending';
-- The next syncs flag a user who authorizes a revoked app again.
CREATE INDEX action_items_done ON action_items (app_key, user_id) WHERE status IN ('revoked', 'gone');
