-- Short stable ids for page URLs (/apps/123, /users/456): an app key may be
-- 'name:' followed by any third-party text, which has no place in a URL.
ALTER TABLE sf_apps ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY UNIQUE;
ALTER TABLE sf_users ADD COLUMN uid bigint GENERATED ALWAYS AS IDENTITY UNIQUE;
