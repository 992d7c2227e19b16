-- Tokens partitioned by org (LIST on org_id), so that an org's first load
-- fills a fresh table of its own with no index to maintain row by row: the
-- sync builds the indexes once the rows are in and attaches the table as the
-- org's partition, in the transaction that merges the snapshot (see
-- cockpit_db::sync). Orgs without a partition of their own (every org synced
-- before this migration, and rows written outside a sync) live in the
-- DEFAULT partition, which is the table as it was: nothing is rewritten, its
-- indexes become the partitions of the new partitioned indexes.

ALTER TABLE sf_tokens RENAME TO sf_tokens_default;
ALTER TABLE sf_tokens_default RENAME CONSTRAINT sf_tokens_pkey TO sf_tokens_default_pkey;
ALTER TABLE sf_tokens_default RENAME CONSTRAINT sf_tokens_org_id_fkey TO sf_tokens_default_org_id_fkey;
ALTER INDEX sf_tokens_app_used RENAME TO sf_tokens_default_app_used;
ALTER INDEX sf_tokens_idle RENAME TO sf_tokens_default_idle;
ALTER INDEX sf_tokens_org_idle RENAME TO sf_tokens_default_org_idle;
ALTER INDEX sf_tokens_user_apps RENAME TO sf_tokens_default_user_apps;

-- The same columns (collations and NOT NULLs with them) and keys.
CREATE TABLE sf_tokens (
    LIKE sf_tokens_default INCLUDING DEFAULTS,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id) REFERENCES orgs ON DELETE CASCADE
) PARTITION BY LIST (org_id);
-- The same indexes as before (0005, 0009), now partitioned.
CREATE INDEX sf_tokens_app_used ON sf_tokens
    (org_id, app_key, coalesce(last_used_at, '1970-01-01 00:00:00+00'::timestamptz) DESC, id DESC)
    WHERE gone_at IS NULL;
CREATE INDEX sf_tokens_idle ON sf_tokens
    (coalesce(last_used_at, created_at, first_seen_at), org_id, id)
    WHERE gone_at IS NULL;
CREATE INDEX sf_tokens_org_idle ON sf_tokens
    (org_id, coalesce(last_used_at, created_at, first_seen_at), id)
    WHERE gone_at IS NULL;
CREATE INDEX sf_tokens_user_apps ON sf_tokens (org_id, user_id) INCLUDE (app_key) WHERE gone_at IS NULL;
-- Its foreign key is merged with the parent's, its indexes become theirs.
ALTER TABLE sf_tokens ATTACH PARTITION sf_tokens_default DEFAULT;

-- Staging template (see 0002): the stored tokens a sync found missing from
-- a complete snapshot, to be marked gone by the merge.
CREATE UNLOGGED TABLE stage_tokens_gone (
    id text COLLATE "C" NOT NULL,
    CONSTRAINT template_only CHECK (false)
);
