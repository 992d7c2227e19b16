-- Digests (`cockpit_db::notify::make_digests`): a channel may take the
-- noisy types (`cockpit_domain::notify::EventKind::noisy`) as one message an
-- hour or a day instead of one each. Their deliveries are written `held`;
-- when the channel's period has passed since its last digest, the held ones
-- become `digested` and one `digest` notification is written for the
-- channel alone, in one transaction.
ALTER TABLE channels ADD COLUMN digest text CHECK (digest IN ('hourly', 'daily'));
ALTER TABLE channels ADD COLUMN digest_sent_at timestamptz NOT NULL DEFAULT now();

ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('pending', 'delivered', 'dead', 'held', 'digested'));
CREATE INDEX deliveries_held ON deliveries (channel_id) WHERE status = 'held';

ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN (
    'test', 'digest', 'app.new', 'app.outside_inventory', 'user.leaver_with_tokens', 'app.reauthorized',
    'block.removed', 'indicator.hit', 'source.new', 'sync.failing',
    'org.needs_reauth', 'org.budget_paused', 'action.failed',
    'approval.requested', 'approval.decided', 'incident.declared',
    'incident.contained', 'incident.closed'));
