-- The one rule that matches an app seen in an org to its inventory entry,
-- used by every page, report and review: by consumer key when the entry has
-- one and the app's key is known (an app that merely borrows an approved
-- app's name is not matched), otherwise by name, case-insensitively.
-- Each branch is a lookup in a unique index (inventory_consumer_key,
-- inventory_name); LANGUAGE sql, STABLE and not STRICT so the planner
-- inlines it into a LATERAL join instead of calling it row by row.
CREATE FUNCTION inventory_match(app_consumer_key text, app_name text)
RETURNS TABLE (id bigint, status text, expected_users integer)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT m.id, m.status, m.expected_users FROM (
        SELECT i.id, i.status, i.expected_users, 0 AS pri
        FROM inventory i
        WHERE i.consumer_key = app_consumer_key
        UNION ALL
        SELECT i.id, i.status, i.expected_users, 1 AS pri
        FROM inventory i
        WHERE lower(i.name) = lower(app_name)
          AND (i.consumer_key IS NULL OR app_consumer_key IS NULL)
    ) m
    ORDER BY m.pri
    LIMIT 1
$$;
