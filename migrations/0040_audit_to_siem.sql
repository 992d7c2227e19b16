-- A SIEM channel may also stream the audit log
-- (`cockpit_worker::deliver::Deliverer::stream_audit`): `audit_after` is the
-- sequence number of the last entry the collector took (0: none yet; NULL:
-- the channel does not take the audit log). The deliverer sends the entries
-- after it in order and moves it forward only once they were taken, so
-- every entry arrives at least once, each under its chain hash as event id.
ALTER TABLE channels ADD COLUMN audit_after bigint
    CHECK (audit_after IS NULL OR (kind = 'siem' AND audit_after >= 0));
-- The last attempt's failure, shown on the channel page until one succeeds.
ALTER TABLE channels ADD COLUMN audit_error text;
