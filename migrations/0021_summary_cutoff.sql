-- The stale cutoff an org's app_summary counts were made with (see
-- cockpit_db::sync::refresh_summaries): a sync that changed few apps counts
-- only those again, and adds to the others the tokens that went stale
-- between this cutoff and its own. NULL until the next sync counts every app.
ALTER TABLE orgs ADD COLUMN summary_stale_before timestamptz;
