-- The archive of the free logs Salesforce keeps for a day (EventLogFile
-- Login and ApiTotalUsage) and of OAuth logins (LoginHistory): who called,
-- with which app, from which address, with which client, so indicators
-- published weeks later can still be matched.

-- Each log file the sync has archived, or tried to. A file's rows go in
-- with its 'archived' row in one transaction, so a file is archived once,
-- completely, even across crashes; a failed try ('failed', with the reason)
-- is tried again by the next sync.
CREATE TABLE log_files (
    id          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    org_id      uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    sf_id       text COLLATE "C" NOT NULL,
    event_type  text NOT NULL CHECK (event_type IN ('Login', 'ApiTotalUsage')),
    log_date    date NOT NULL,
    status      text NOT NULL CHECK (status IN ('archived', 'failed')),
    attempts    integer NOT NULL DEFAULT 1,
    -- Lines read, lines that could not be read (counted, not stored), bytes.
    lines       bigint NOT NULL DEFAULT 0,
    bad_lines   bigint NOT NULL DEFAULT 0,
    bytes       bigint NOT NULL DEFAULT 0,
    error       text,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, sf_id)
);

-- User agents, each once: a hunt matches its patterns against these few
-- thousand instead of every row.
CREATE TABLE log_user_agents (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_agent  text NOT NULL UNIQUE CHECK (length(user_agent) <= 512)
);

-- Activity per org, day, app, person, address, client and kind of call or
-- login: counts (errors: HTTP 4xx and 5xx, failed logins) and the first and
-- last time seen. `source`: 'api'
-- (ApiTotalUsage), 'login' (the Login log; the app is the one the same
-- person called from the same address that day, when there is one) or
-- 'login_history' (OAuth logins, which carry the app but no user agent).
CREATE TABLE log_activity (
    org_id      uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    file_id     bigint REFERENCES log_files (id) ON DELETE CASCADE,
    day         date NOT NULL,
    source      text NOT NULL CHECK (source IN ('api', 'login', 'login_history')),
    app_key     text COLLATE "C",
    app_name    text CHECK (length(app_name) <= 255),
    -- The 15-character form, as the logs write it.
    user_id     text COLLATE "C" CHECK (length(user_id) <= 18),
    user_name   text CHECK (length(user_name) <= 255),
    ip          inet,
    ua_id       bigint REFERENCES log_user_agents,
    -- The login's sub type (OauthRefreshToken, OauthUsernamePassword…) or
    -- the API family (REST, Bulk, SOAP).
    subtype     text CHECK (length(subtype) <= 64),
    requests    bigint NOT NULL CHECK (requests >= 0),
    errors      bigint NOT NULL CHECK (errors >= 0),
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);
CREATE INDEX log_activity_org_day ON log_activity (org_id, day);
CREATE INDEX log_activity_app ON log_activity (org_id, app_key, day);
-- A btree serves "within this network" too (PostgreSQL turns `<<=` into a
-- range of the index), and costs less to keep up than GiST as rows arrive.
CREATE INDEX log_activity_ip ON log_activity (ip);
CREATE INDEX log_activity_ua ON log_activity (ua_id);
CREATE INDEX log_activity_file ON log_activity (file_id);

-- API calls per file, day, app and HTTP status: each app's daily usage
-- (requests, errors by status) is read from here.
CREATE TABLE log_api_calls (
    org_id      uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    file_id     bigint NOT NULL REFERENCES log_files (id) ON DELETE CASCADE,
    day         date NOT NULL,
    app_key     text COLLATE "C",
    app_name    text CHECK (length(app_name) <= 255),
    status      smallint,
    requests    bigint NOT NULL CHECK (requests >= 0)
);
CREATE INDEX log_api_calls_org_day ON log_api_calls (org_id, day);
CREATE INDEX log_api_calls_file ON log_api_calls (file_id);

-- OAuth logins are archived up to this time (LoginHistory is read from it).
ALTER TABLE orgs ADD COLUMN login_history_archived_to timestamptz;

-- Indicators of compromise, in sets (a published advisory, or one an
-- operator keeps). Sets shipped with the cockpit are `builtin` and updated
-- from its files at start.
CREATE TABLE indicator_sets (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    source_label  text NOT NULL CHECK (length(source_label) <= 200),
    source_url    text CHECK (length(source_url) <= 2000),
    published     date,
    description   text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    builtin       boolean NOT NULL DEFAULT false,
    -- Active sets are matched against new archive data as it arrives.
    active        boolean NOT NULL DEFAULT true,
    created_by    text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE indicators (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    set_id      bigint NOT NULL REFERENCES indicator_sets ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('ip', 'cidr', 'user_agent', 'user_agent_contains',
                                              'app_name', 'consumer_key')),
    value       text NOT NULL CHECK (length(value) BETWEEN 1 AND 512),
    -- The network of an 'ip' or 'cidr' indicator.
    net         cidr,
    valid_from  timestamptz,
    valid_to    timestamptz,
    note        text CHECK (length(note) <= 1000),
    CHECK ((kind IN ('ip', 'cidr')) = (net IS NOT NULL))
);
CREATE UNIQUE INDEX indicators_unique ON indicators
    (set_id, kind, value, coalesce(valid_from, '-infinity'), coalesce(valid_to, 'infinity'));

-- Hunts: indicator sets matched against the archive of the orgs the person
-- who ran it could see, with the answer kept as it was.
CREATE TABLE hunts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    set_ids     bigint[] NOT NULL,
    set_names   text[] NOT NULL,
    org_ids     uuid[] NOT NULL,
    -- The archive it searched: log lines archived, first and last day.
    rows_searched bigint NOT NULL DEFAULT 0,
    first_day   date,
    last_day    date,
    millis      bigint NOT NULL DEFAULT 0
);

-- A hunt's answer, per org, app, person and indicator; also what new
-- archive data matched (`hunt_id` NULL: the continuous match).
CREATE TABLE hunt_hits (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hunt_id       bigint REFERENCES hunts ON DELETE CASCADE,
    org_id        uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    app_key       text COLLATE "C",
    app_name      text,
    user_name     text,
    indicator_id  bigint REFERENCES indicators ON DELETE SET NULL,
    set_name      text NOT NULL,
    kind          text NOT NULL,
    value         text NOT NULL,
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    requests      bigint NOT NULL,
    errors        bigint NOT NULL,
    subtypes      text[] NOT NULL,
    ips           text[] NOT NULL,
    user_agents   text[] NOT NULL,
    -- When the continuous match found it; acknowledged hits leave the
    -- overview's red signals.
    found_at      timestamptz NOT NULL DEFAULT now(),
    acknowledged_by text,
    acknowledged_at timestamptz
);
CREATE INDEX hunt_hits_hunt ON hunt_hits (hunt_id) WHERE hunt_id IS NOT NULL;
CREATE UNIQUE INDEX hunt_hits_live ON hunt_hits
    (org_id, coalesce(app_key, ''), coalesce(user_name, ''), indicator_id) WHERE hunt_id IS NULL;

-- Matches indicator sets against the archive of some orgs: one row per
-- org, app, person and indicator, with what was seen. Hunts keep its rows;
-- each sync matches the active sets with it.
CREATE FUNCTION hunt_match(p_sets bigint[], p_orgs uuid[])
RETURNS TABLE (org_id uuid, app_key text, app_name text, user_name text, indicator_id bigint,
               set_name text, kind text, value text, first_seen timestamptz,
               last_seen timestamptz, requests bigint, errors bigint, subtypes text[],
               ips text[], user_agents text[])
-- JIT off: compiling the plan of a query over millions of rows costs more
-- (about 0.7 s) than running it.
LANGUAGE sql STABLE SET jit = off AS $$
    WITH ind AS MATERIALIZED (
        SELECT i.id, i.kind, i.value, lower(i.value) AS lvalue, i.net, i.valid_from, i.valid_to,
               s.name AS set_name,
               -- A network's first and last address: the btree on addresses
               -- finds what lies between them.
               set_masklen(network(i.net)::inet, CASE WHEN family(i.net) = 4 THEN 32 ELSE 128 END) AS lo,
               set_masklen(broadcast(i.net), CASE WHEN family(i.net) = 4 THEN 32 ELSE 128 END) AS hi
        FROM indicators i JOIN indicator_sets s ON s.id = i.set_id
        WHERE i.set_id = ANY (p_sets)
    ), uas AS MATERIALIZED (
        SELECT id, lower(user_agent) AS lua FROM log_user_agents
    ), m AS (
        SELECT ind.id AS indicator_id, a.org_id, a.app_key, a.app_name, a.user_name, a.ip, a.ua_id,
               a.subtype, a.requests, a.errors, a.first_seen, a.last_seen
        FROM ind JOIN log_activity a ON a.ip BETWEEN ind.lo AND ind.hi
        WHERE ind.net IS NOT NULL AND a.org_id = ANY (p_orgs)
        UNION ALL
        SELECT ind.id, a.org_id, a.app_key, a.app_name, a.user_name, a.ip, a.ua_id,
               a.subtype, a.requests, a.errors, a.first_seen, a.last_seen
        FROM ind
        JOIN uas u
          ON (ind.kind = 'user_agent' AND u.lua = ind.lvalue)
          OR (ind.kind = 'user_agent_contains' AND strpos(u.lua, ind.lvalue) > 0)
        JOIN log_activity a ON a.ua_id = u.id AND a.org_id = ANY (p_orgs)
        UNION ALL
        -- App names and consumer keys through the org's apps, then each
        -- app's rows by its index.
        SELECT ind.id, a.org_id, a.app_key, a.app_name, a.user_name, a.ip, a.ua_id,
               a.subtype, a.requests, a.errors, a.first_seen, a.last_seen
        FROM ind JOIN sf_apps s
          ON s.org_id = ANY (p_orgs)
         AND ((ind.kind = 'consumer_key' AND s.consumer_key = ind.value)
              OR (ind.kind = 'app_name' AND lower(s.name) = ind.lvalue))
        JOIN log_activity a ON a.org_id = s.org_id AND a.app_key = s.app_key
    )
    SELECT m.org_id, m.app_key, max(m.app_name), m.user_name, m.indicator_id, max(ind.set_name),
           max(ind.kind), max(ind.value), min(m.first_seen), max(m.last_seen),
           sum(m.requests)::bigint, sum(m.errors)::bigint,
           coalesce((array_agg(DISTINCT m.subtype) FILTER (WHERE m.subtype IS NOT NULL))[1:10], '{}'),
           coalesce((array_agg(DISTINCT host(m.ip)) FILTER (WHERE m.ip IS NOT NULL))[1:20], '{}'),
           coalesce((array_agg(DISTINCT u.user_agent) FILTER (WHERE u.user_agent IS NOT NULL))[1:10], '{}')
    FROM m JOIN ind ON ind.id = m.indicator_id
    LEFT JOIN log_user_agents u ON u.id = m.ua_id
    WHERE (ind.valid_from IS NULL OR m.last_seen >= ind.valid_from)
      AND (ind.valid_to IS NULL OR m.first_seen <= ind.valid_to)
    GROUP BY m.org_id, m.app_key, m.user_name, m.indicator_id
$$;
