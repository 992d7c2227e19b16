-- The two-person rule for the single-org actions the operator names
-- (blocks, Revoke All, bulk revokes above a size): such an action is
-- recorded with its items and its audit entry but waits, with no job, until
-- a second admin of its org approves it (it is queued then) or rejects it.
-- Not decided in time, it expires. A global admin may break glass.
ALTER TABLE actions DROP CONSTRAINT actions_status_check;
ALTER TABLE actions ADD CONSTRAINT actions_status_check
    CHECK (status IN ('awaiting_approval', 'pending', 'running', 'succeeded', 'partially_failed',
                      'failed', 'rejected', 'expired'));

ALTER TABLE approvals ALTER COLUMN incident_id DROP NOT NULL;
ALTER TABLE approvals ADD COLUMN action_id bigint REFERENCES actions ON DELETE CASCADE;
ALTER TABLE approvals DROP CONSTRAINT approvals_kind_check;
ALTER TABLE approvals ADD CONSTRAINT approvals_kind_check CHECK (kind IN ('contain', 'action'));
ALTER TABLE approvals ADD CONSTRAINT approvals_subject
    CHECK ((kind = 'contain') = (incident_id IS NOT NULL) AND (kind = 'action') = (action_id IS NOT NULL));
CREATE UNIQUE INDEX approvals_one_pending_action ON approvals (action_id) WHERE status = 'pending';
CREATE INDEX approvals_pending_expiry ON approvals (expires_at) WHERE status = 'pending';
