-- Every org's tokens have a partition of their own since 0013, in which
-- sf_tokens_idle (idle since, org, id) is in org order already: the stale
-- report and the stale revoke of one org read it as they read this index.
-- This one only cost its build at every first load (an uuid leading every
-- key: the slowest of the five to sort) and its upkeep on every write.
DROP INDEX IF EXISTS sf_tokens_org_idle;
