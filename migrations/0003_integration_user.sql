-- The integration user's id: its own logins (one per cockpit session) are
-- the cockpit's activity, not the org's, and stay out of the login figures.
ALTER TABLE orgs ADD COLUMN integration_user_id text;
