-- Every statement that writes what the cached pages read (see
-- crates/web/src/page_cache.rs) notifies the channel cockpit_data. PostgreSQL
-- delivers a notification only when the writing transaction commits, and
-- folds the same notification sent many times in one transaction into one:
-- a sync's merge is one notification, whatever it wrote.
CREATE FUNCTION notify_data_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cockpit_data', '');
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'orgs', 'sf_apps', 'sf_tokens', 'sf_users', 'app_summary', 'app_usage_daily',
        'app_logins_daily', 'events', 'org_snapshots', 'actions', 'action_items', 'inventory',
        'eca_usage_apps', 'eca_usage_users', 'reviews', 'review_items'
    ] LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I
             FOR EACH STATEMENT EXECUTE FUNCTION notify_data_changed()',
            t || '_notify', t);
    END LOOP;
END
$$;
