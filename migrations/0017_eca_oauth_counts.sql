-- What OauthToken holds for each External Client App, counted when a sync's
-- snapshot is in and again when an action marks tokens gone, so the app page
-- compares it with Salesforce's usage figures without counting the app's
-- tokens per request (tens of thousands for a big app). NULL: not counted yet
-- (the page then counts, as before).
ALTER TABLE eca_usage_apps
    ADD COLUMN oauth_tokens bigint,
    ADD COLUMN oauth_users bigint,
    ADD COLUMN only_in_oauth_token bigint;
