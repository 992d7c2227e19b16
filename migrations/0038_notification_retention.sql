-- Notifications are kept for a number of days the operator sets
-- (`COCKPIT_NOTIFICATION_RETENTION_DAYS`; `cockpit_db::notify::prune`).
-- Removing a notification removes its deliveries (`ON DELETE CASCADE`),
-- which looks them up by notification: the unique key is turned around so
-- its leading column serves that lookup. The index count stays the same, so
-- writing a notification in the transaction that causes it costs no more.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_channel_id_notification_id_key;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_notification_channel UNIQUE (notification_id, channel_id);
