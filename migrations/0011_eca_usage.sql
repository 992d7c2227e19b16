-- External Client App usage as the Connect REST usage endpoints report it
-- (/apps/oauth/usage and /apps/oauth/usage/{appId}/users), one snapshot per
-- sync run. Pages read the org's latest succeeded run only, so the rows of a
-- failed or interrupted run are never shown; the next run drops them.
--
-- Every run lists the ECAs (a few calls). Their user lists cost a call per
-- 100 users each, so a run pulls only some of them within a call budget,
-- stalest first, and carries the others' last lists forward:
-- users_pulled_at says when Salesforce gave the figures (NULL, with users
-- and tokens NULL: listed, users not pulled yet).
CREATE TABLE eca_usage_apps (
    org_id          uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    sync_run_id     bigint NOT NULL REFERENCES sync_runs ON DELETE CASCADE,
    app_key         text COLLATE "C" NOT NULL,
    developer_name  text,
    users           integer,
    tokens          bigint,
    users_pulled_at timestamptz,
    PRIMARY KEY (org_id, sync_run_id, app_key)
);

CREATE TABLE eca_usage_users (
    org_id        uuid NOT NULL,
    sync_run_id   bigint NOT NULL,
    app_key       text COLLATE "C" NOT NULL,
    user_id       text COLLATE "C" NOT NULL,
    username      text,
    tokens        bigint,
    first_used_at timestamptz,
    last_used_at  timestamptz,
    use_count     bigint,
    PRIMARY KEY (org_id, sync_run_id, app_key, user_id),
    FOREIGN KEY (org_id, sync_run_id, app_key) REFERENCES eca_usage_apps ON DELETE CASCADE
);
