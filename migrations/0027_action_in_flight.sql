-- How many calls an action kept in flight at its org (the adaptive window):
-- the most at once over all its runs, and the mean of its last run. Shown on
-- the action's page and printed by the containment benchmark.
ALTER TABLE actions
    ADD COLUMN peak_in_flight integer CHECK (peak_in_flight >= 0),
    ADD COLUMN mean_in_flight real CHECK (mean_in_flight >= 0);
