-- "Where is this app?" looks an app up by any part of its name, by consumer
-- key or by Salesforce app id, across every org at once: with thousands of
-- apps per org, a scan of them all is the whole cost of the page. Trigram
-- indexes (pg_trgm, shipped with PostgreSQL) serve "name contains, any
-- case"; the other two serve the exact lookups.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX sf_apps_name_trgm ON sf_apps USING gin (name gin_trgm_ops) WHERE gone_at IS NULL;
CREATE INDEX sf_apps_consumer_key ON sf_apps (consumer_key) WHERE gone_at IS NULL;
CREATE INDEX sf_apps_sf_app_id15 ON sf_apps (left(sf_app_id, 15)) WHERE gone_at IS NULL;
