-- Watch: once an incident is contained, every sync of its orgs looks for
-- the app coming back: a live authorization, failed OAuth logins (someone
-- replaying its tokens), API calls on days after the block, the block
-- removed outside the cockpit. One row per finding (per token, per day for
-- daily counts, per day for the block), so each reaches the timeline once;
-- `count` grows with a day's count and each growth is a new entry.
ALTER TABLE incidents ADD COLUMN contained_at timestamptz;
UPDATE incidents i SET contained_at = (
    SELECT min(e.at) FROM incident_events e WHERE e.incident_id = i.id AND e.kind = 'contain_requested')
WHERE i.status <> 'open';

CREATE TABLE incident_watch (
    incident_id  bigint NOT NULL REFERENCES incidents ON DELETE CASCADE,
    org_id       uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    app_key      text COLLATE "C" NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('live_token', 'failed_logins', 'api_calls', 'block_removed')),
    ref          text COLLATE "C" NOT NULL,
    count        bigint NOT NULL,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_id, org_id, app_key, kind, ref)
);
CREATE INDEX incident_watch_org ON incident_watch (org_id);
