-- Revoke every stale authorization of an app: the tokens are chosen on the
-- server from (org, app, days idle) when the action is created, so a report
-- of any length can be acted on without carrying token ids through a URL.
ALTER TABLE actions DROP CONSTRAINT actions_kind_check;
ALTER TABLE actions ADD CONSTRAINT actions_kind_check CHECK (kind IN (
    'revoke_token', 'revoke_user_app', 'revoke_user_all', 'revoke_app_all',
    'block_app', 'unblock_app', 'bulk_revoke', 'revoke_app_stale'));

-- How long an authorization had to be unused to be taken (revoke_app_stale only).
ALTER TABLE actions ADD COLUMN idle_days integer CHECK (idle_days BETWEEN 1 AND 3650);
ALTER TABLE actions ADD CONSTRAINT actions_stale_has_days
    CHECK ((kind = 'revoke_app_stale') = (idle_days IS NOT NULL));
