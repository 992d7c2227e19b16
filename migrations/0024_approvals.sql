-- The two-person rule: a request that changes several orgs at once (an
-- incident's containment) waits for a second admin, not the requester, with
-- rights in every org concerned, who approves or rejects it with a reason.
-- A global admin may break glass instead, with a mandatory reason. Requests
-- expire; at most one waits per incident.
CREATE TABLE approvals (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('contain')),
    incident_id    bigint NOT NULL REFERENCES incidents ON DELETE CASCADE,
    requested_by   text NOT NULL,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    reason         text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    expires_at     timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'broken_glass')),
    decided_by     text,
    decided_at     timestamptz,
    decision_note  text CHECK (length(decision_note) <= 2000),
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
CREATE UNIQUE INDEX approvals_one_pending ON approvals (incident_id) WHERE status = 'pending';
CREATE INDEX approvals_incident ON approvals (incident_id, id);
