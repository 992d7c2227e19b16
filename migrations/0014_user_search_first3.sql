-- User search by the start of a username or email, in name order. A prefix
-- of three characters or more fixes the first three: an index on those,
-- then the name, walks that prefix's people in the page's order and stops
-- after a page, where a range of usernames had to be read whole (every
-- match of a common prefix) and sorted by name. A shorter prefix is a range
-- of the first three, read whole and sorted, as before. The included columns
-- are all a search row needs (expressions are computed from columns), so
-- the index alone answers.
-- Replaces sf_users_username_search and sf_users_email_search (0009): the
-- same number of indexes for a sync to maintain.
CREATE INDEX sf_users_username_first3 ON sf_users
    ((left(lower(username), 3)) COLLATE "C", (lower(name)) COLLATE "C", uid)
    INCLUDE (org_id, username, name) WHERE gone_at IS NULL;
CREATE INDEX sf_users_email_first3 ON sf_users
    ((left(lower(email), 3)) COLLATE "C", (lower(name)) COLLATE "C", uid)
    INCLUDE (org_id, email, name) WHERE gone_at IS NULL;
DROP INDEX sf_users_username_search;
DROP INDEX sf_users_email_search;
ANALYZE sf_users;
