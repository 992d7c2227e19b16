-- Since migration 0014 user search reads usernames and emails by their first
-- three characters and names through sf_users_name_c; these prefix indexes of
-- migration 0002 serve no query, and every sync that loads users maintains
-- them (a third of a first load's user merge).
DROP INDEX IF EXISTS sf_users_name;
DROP INDEX IF EXISTS sf_users_username;
DROP INDEX IF EXISTS sf_users_email;
