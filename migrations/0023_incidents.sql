-- Incidents: a vendor announces its integration's tokens were stolen. The
-- app is found in every org (incident_apps, each match confirmed by the
-- person who declared it), contained through the ordinary actions (which
-- name their incident), and every step is on the incident's timeline.
CREATE TABLE incidents (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    ticket       text CHECK (length(ticket) <= 100),
    severity     text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    owner        text CHECK (length(owner) <= 200),
    -- What was searched for ("Where is this app?").
    query        text NOT NULL CHECK (length(query) BETWEEN 1 AND 200),
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'contained', 'closed')),
    declared_by  text NOT NULL,
    declared_at  timestamptz NOT NULL DEFAULT now(),
    closed_by    text,
    closed_at    timestamptz,
    close_note   text CHECK (length(close_note) <= 2000)
);

CREATE TABLE incident_apps (
    incident_id  bigint NOT NULL REFERENCES incidents ON DELETE CASCADE,
    org_id       uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    app_key      text COLLATE "C" NOT NULL,
    -- consumer_key, app_id or name: how the app was matched in this org.
    matched_by   text NOT NULL CHECK (matched_by IN ('consumer_key', 'app_id', 'name')),
    PRIMARY KEY (incident_id, org_id, app_key)
);
CREATE INDEX incident_apps_org ON incident_apps (org_id);

-- The timeline: every step with its time, who and what.
CREATE TABLE incident_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES incidents ON DELETE CASCADE,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    kind         text NOT NULL,
    org_id       uuid REFERENCES orgs ON DELETE SET NULL,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, at, id);

ALTER TABLE actions ADD COLUMN incident_id bigint REFERENCES incidents ON DELETE SET NULL;
CREATE INDEX actions_incident ON actions (incident_id) WHERE incident_id IS NOT NULL;
