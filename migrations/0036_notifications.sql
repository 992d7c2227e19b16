-- Notifications: what the cockpit finds, sent to people and systems
-- (`cockpit_db::notify`, delivered by `cockpit_worker::deliver`).
--
-- A notification is written in the same transaction as the change that
-- causes it, together with one delivery row per channel whose rules take it:
-- the outbox. The worker claims due deliveries (`next_at` doubles as the
-- lease: a claimed row is due again if its worker dies), posts them with
-- the notification's `event_id` on every attempt, and on failure sets the
-- next attempt with capped exponential backoff. What still fails after the
-- give-up window is `dead`: listed on the delivery log, and re-sendable.

-- Where notifications go. The URL is sealed: a Slack or Teams webhook URL
-- is itself the credential, an SMTP URL carries the server's password.
-- `target_hint` (scheme, host and port) is what pages show. A deleted
-- channel stays so the delivery log keeps its name.
CREATE TABLE channels (
    id            uuid PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    kind          text NOT NULL CHECK (kind IN ('webhook', 'slack', 'teams', 'email')),
    target_sealed bytea NOT NULL,
    target_hint   text NOT NULL,
    -- Webhook channels: the signing secret (Standard Webhooks, `whsec_…`).
    secret_sealed bytea,
    -- Email channels (the target is an smtp:// or smtps:// URL, with the
    -- server's credentials): sender and recipients.
    email_from    text,
    email_to      text[] NOT NULL DEFAULT '{}',
    CHECK (kind <> 'email' OR (email_from IS NOT NULL AND cardinality(email_to) BETWEEN 1 AND 20)),
    -- Event kinds the channel takes; empty: every kind.
    events        text[] NOT NULL DEFAULT '{}',
    -- Orgs the channel takes; NULL: every org, and events of no org.
    org_ids       uuid[],
    min_severity  smallint NOT NULL DEFAULT 1 CHECK (min_severity BETWEEN 1 AND 5),
    enabled       boolean NOT NULL DEFAULT true,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz
);
CREATE UNIQUE INDEX channels_name ON channels (lower(name)) WHERE deleted_at IS NULL;

-- No foreign key to orgs: a notification about an org outlives the org.
CREATE TABLE notifications (
    id         bigserial PRIMARY KEY,
    event_id   uuid NOT NULL UNIQUE,
    kind       text NOT NULL CHECK (kind IN (
                   'test', 'app.new', 'user.leaver_with_tokens', 'app.reauthorized',
                   'block.removed', 'indicator.hit', 'source.new', 'sync.failing',
                   'org.needs_reauth', 'org.budget_paused', 'action.failed',
                   'approval.requested', 'approval.decided', 'incident.declared',
                   'incident.contained', 'incident.closed')),
    severity   smallint NOT NULL CHECK (severity BETWEEN 1 AND 5),
    org_id     uuid,
    org_name   text,
    title      text NOT NULL,
    detail     jsonb NOT NULL DEFAULT '{}',
    -- The cockpit page about it, a path (`/apps/12`).
    link       text,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- "Told once per streak" (`emit_once_per_streak`) looks for the org's last
-- notification of a kind.
CREATE INDEX notifications_org_kind ON notifications (org_id, kind, created_at);

CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES notifications ON DELETE CASCADE,
    channel_id      uuid NOT NULL REFERENCES channels ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_at         timestamptz NOT NULL DEFAULT now(),
    last_at         timestamptz,
    last_code       integer,
    last_error      text,
    delivered_at    timestamptz,
    -- Also the channel page's index of a channel's deliveries. Few indexes:
    -- every notification writes its deliveries inside the transaction that
    -- causes it.
    UNIQUE (channel_id, notification_id)
);
CREATE INDEX deliveries_due ON deliveries (next_at) WHERE status = 'pending';
CREATE INDEX deliveries_dead ON deliveries (id DESC) WHERE status = 'dead';
