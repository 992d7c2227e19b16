-- "New network" and "new user agent": a network (IPv4 /24, IPv6 /48) or
-- user agent an app had not used in its baseline window, found in the log
-- archive after each sync that archived anything (`cockpit_db::sources`).
-- Kept so that the overview, the app page and an open incident's timeline
-- show the same evidence, and so that a person can mark one as reviewed.
CREATE TABLE new_sources (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    app_key         text COLLATE "C" NOT NULL,
    app_name        text CHECK (length(app_name) <= 255),
    kind            text NOT NULL CHECK (kind IN ('network', 'user_agent')),
    -- The network in CIDR form, or the user agent as archived (bounded).
    value           text NOT NULL CHECK (length(value) <= 1024),
    first_day       date NOT NULL,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    -- People whose calls came with it on its first day.
    users           bigint NOT NULL CHECK (users >= 0),
    requests        bigint NOT NULL CHECK (requests >= 0),
    found_at        timestamptz NOT NULL DEFAULT now(),
    acknowledged_by text,
    acknowledged_at timestamptz,
    UNIQUE (org_id, app_key, kind, value)
);
CREATE INDEX new_sources_open ON new_sources (org_id, first_day) WHERE acknowledged_at IS NULL;
