-- Indicators a person removed from a set (a false positive, an address
-- that is also a legitimate egress). The indicator row goes; this row
-- keeps a shipped set's update (`cockpit_db::hunts::install_shipped`) from
-- adding it back. Importing the same indicator into the set by hand adds
-- it again and drops this row.
CREATE TABLE indicator_removals (
    set_id      bigint NOT NULL REFERENCES indicator_sets ON DELETE CASCADE,
    kind        text NOT NULL,
    value       text NOT NULL,
    removed_by  text NOT NULL,
    removed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (set_id, kind, value)
);
