-- The archive's rows carry no foreign keys. Each key cost a trigger and a
-- lookup per inserted row: on the bench machine the checks were about two
-- fifths of the database's time while a million-line log file was archived.
-- What the keys guarded is kept by the code that writes and deletes these
-- rows, in one module (`cockpit_db::log_archive`): a file's rows are written
-- in the transaction that marks it archived; retention deletes rows, calls
-- and files of the old days together; `cockpit_db::orgs::delete` deletes an
-- org's rows with the org; user agents are never deleted.
ALTER TABLE log_activity DROP CONSTRAINT log_activity_org_id_fkey;
ALTER TABLE log_activity DROP CONSTRAINT log_activity_file_id_fkey;
ALTER TABLE log_activity DROP CONSTRAINT log_activity_ua_id_fkey;
ALTER TABLE log_api_calls DROP CONSTRAINT log_api_calls_org_id_fkey;
ALTER TABLE log_api_calls DROP CONSTRAINT log_api_calls_file_id_fkey;
