-- SIEM channels (`cockpit_domain::notify::ChannelKind::Siem`): each
-- notification as an RFC 5424 syslog message over TCP or UDP, or as a JSON
-- line over TCP, its fields in the Elastic Common Schema. The target is the
-- collector's address (`syslog+tcp://host:port`, `syslog+udp://…`,
-- `jsonl+tcp://…`), sealed like every channel's.
ALTER TABLE channels DROP CONSTRAINT channels_kind_check;
ALTER TABLE channels ADD CONSTRAINT channels_kind_check
    CHECK (kind IN ('webhook', 'slack', 'teams', 'email', 'siem'));
