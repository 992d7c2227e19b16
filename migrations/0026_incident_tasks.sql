-- The follow-up checklist of an incident: what is left once the app is
-- contained (rotate credentials, hunt, notify, re-authorize the clean
-- integration), each task with an owner, a due date, done or not, and a
-- note. Declaring an incident fills in the published guidance; people
-- edit, add and tick tasks, each change on the timeline and in the audit log.
CREATE TABLE incident_tasks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES incidents ON DELETE CASCADE,
    position     int NOT NULL,
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    owner        text CHECK (length(owner) <= 200),
    due          date,
    note         text CHECK (length(note) <= 2000),
    done_at      timestamptz,
    done_by      text,
    updated_by   text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incident_tasks_incident ON incident_tasks (incident_id, position, id);
