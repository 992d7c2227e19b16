-- Salesforce ids and the keys made of them are ASCII, compared for equality
-- and sorted only to keep keyset pages stable. Under the database's default
-- collation (a libc locale) every btree comparison goes through strcoll and
-- sorts run without abbreviated keys; under "C" they are memcmp. The order is
-- the same (C.UTF-8 sorts by code point, as "C" does on UTF-8), so no page
-- changes. Applied to every column joined on these ids, so that joins keep
-- one collation and use the indexes. Works on a populated database: only the
-- indexes on these columns are rebuilt, the tables are not rewritten.

ALTER TABLE orgs ALTER COLUMN integration_user_id TYPE text COLLATE "C";

ALTER TABLE sf_users
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN manager_id TYPE text COLLATE "C";
ALTER TABLE sf_apps
    ALTER COLUMN app_key TYPE text COLLATE "C",
    ALTER COLUMN sf_app_id TYPE text COLLATE "C",
    ALTER COLUMN menu_item_id TYPE text COLLATE "C";
ALTER TABLE sf_tokens
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN app_key TYPE text COLLATE "C",
    ALTER COLUMN user_id TYPE text COLLATE "C";
ALTER TABLE app_usage_daily ALTER COLUMN app_key TYPE text COLLATE "C";
ALTER TABLE app_summary ALTER COLUMN app_key TYPE text COLLATE "C";
ALTER TABLE events
    ALTER COLUMN app_key TYPE text COLLATE "C",
    ALTER COLUMN user_id TYPE text COLLATE "C",
    ALTER COLUMN token_id TYPE text COLLATE "C";
ALTER TABLE actions
    ALTER COLUMN app_key TYPE text COLLATE "C",
    ALTER COLUMN user_id TYPE text COLLATE "C";
ALTER TABLE action_items
    ALTER COLUMN token_id TYPE text COLLATE "C",
    ALTER COLUMN app_key TYPE text COLLATE "C",
    ALTER COLUMN user_id TYPE text COLLATE "C";
ALTER TABLE review_items
    ALTER COLUMN app_key TYPE text COLLATE "C",
    ALTER COLUMN user_id TYPE text COLLATE "C",
    ALTER COLUMN token_id TYPE text COLLATE "C";

-- The staging templates: a sync's TEMP tables are made `LIKE` these and
-- inherit their collations.
ALTER TABLE stage_users
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN manager_id TYPE text COLLATE "C";
ALTER TABLE stage_apps
    ALTER COLUMN app_key TYPE text COLLATE "C",
    ALTER COLUMN sf_app_id TYPE text COLLATE "C",
    ALTER COLUMN menu_item_id TYPE text COLLATE "C";
ALTER TABLE stage_tokens
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN app_key TYPE text COLLATE "C",
    ALTER COLUMN user_id TYPE text COLLATE "C";
ALTER TABLE stage_usage ALTER COLUMN app_key TYPE text COLLATE "C";

-- User search. Names starting with a prefix are a range of this index, in
-- the page's order (code point order, as the default collation sorts), so a
-- page of them is read and no more, from the index alone. Usernames and
-- emails starting with it are ranges of the next two, also read from the
-- index alone (their included columns are all a search row needs), then
-- sorted by name. They replace the text_pattern_ops indexes of the same keys.
CREATE INDEX sf_users_name_c ON sf_users ((lower(name)) COLLATE "C", uid)
    INCLUDE (org_id, name) WHERE gone_at IS NULL;
CREATE INDEX sf_users_username_search ON sf_users (lower(username) text_pattern_ops)
    INCLUDE (org_id, username, name, uid) WHERE gone_at IS NULL;
CREATE INDEX sf_users_email_search ON sf_users (lower(email) text_pattern_ops)
    INCLUDE (org_id, email, name, uid) WHERE gone_at IS NULL;
DROP INDEX sf_users_name_all;
DROP INDEX sf_users_username_all;
DROP INDEX sf_users_email_all;

-- A person's tokens; with the app key included, the apps a person holds are
-- counted from the index (the user search counts them for every row shown).
CREATE INDEX sf_tokens_user_apps ON sf_tokens (org_id, user_id) INCLUDE (app_key) WHERE gone_at IS NULL;
DROP INDEX sf_tokens_user;

-- A prefix of sf_tokens_app_used (same leading columns, same predicate),
-- which serves every query it served; one index less to maintain per token
-- written by a sync.
DROP INDEX sf_tokens_app;

-- A column's new type drops its statistics: gather them again, or the
-- planner guesses at the largest tables until autovacuum comes by.
ANALYZE sf_users, sf_apps, sf_tokens, events, app_usage_daily, app_summary;
