-- Indexes for the pages: every list is read with keyset pagination in the
-- order of one of these, so no page reads more rows than it shows.

-- App detail: an app's authorizations, most recently used first (never used
-- last: their sort key is the epoch).
CREATE INDEX sf_tokens_app_used ON sf_tokens
    (org_id, app_key, coalesce(last_used_at, '1970-01-01 00:00:00+00'::timestamptz) DESC, id DESC)
    WHERE gone_at IS NULL;

-- Stale authorizations report: oldest activity first, across orgs or in one.
CREATE INDEX sf_tokens_idle ON sf_tokens
    (coalesce(last_used_at, created_at, first_seen_at), org_id, id)
    WHERE gone_at IS NULL;
CREATE INDEX sf_tokens_org_idle ON sf_tokens
    (org_id, coalesce(last_used_at, created_at, first_seen_at), id)
    WHERE gone_at IS NULL;

-- Offboarding report: deactivated users, most recent first.
CREATE INDEX sf_users_deactivated ON sf_users
    (coalesce(deactivated_at, '1970-01-01 00:00:00+00'::timestamptz) DESC, org_id DESC, id DESC)
    WHERE NOT is_active AND gone_at IS NULL;

-- User search across all orgs (the per-org indexes lead with org_id).
CREATE INDEX sf_users_name_all ON sf_users (lower(name) text_pattern_ops);
CREATE INDEX sf_users_username_all ON sf_users (lower(username) text_pattern_ops);
CREATE INDEX sf_users_email_all ON sf_users (lower(email) text_pattern_ops);
-- The user list in name order (keyset on lower(name), uid), across orgs and
-- in one; the text_pattern_ops indexes above sort differently.
CREATE INDEX sf_users_by_name ON sf_users (lower(name), uid);
CREATE INDEX sf_users_org_by_name ON sf_users (org_id, lower(name), uid);

-- New apps report and the "new" flag.
CREATE INDEX sf_apps_first_seen ON sf_apps (first_seen_at DESC, id DESC) WHERE gone_at IS NULL;

-- Overview trends: snapshots in time order across orgs.
CREATE INDEX org_snapshots_at ON org_snapshots (at);
