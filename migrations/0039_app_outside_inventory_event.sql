-- A notification for an app outside the inventory that reaches many people
-- (`cockpit_domain::notify::EventKind::AppOutsideInventory`, written by
-- `cockpit_db::notify::emit_from_sync`): a shadow integration spreading
-- through an org is what an attacker's consent phishing looks like.
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN (
    'test', 'app.new', 'app.outside_inventory', 'user.leaver_with_tokens', 'app.reauthorized',
    'block.removed', 'indicator.hit', 'source.new', 'sync.failing',
    'org.needs_reauth', 'org.budget_paused', 'action.failed',
    'approval.requested', 'approval.decided', 'incident.declared',
    'incident.contained', 'incident.closed'));
