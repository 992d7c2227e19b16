//! Staging and reconciling one org's snapshot.
//!
//! A sync stages everything it pulls into TEMP tables on a connection of its
//! own (see the staging templates in `migrations/0002_sync.sql`), and only
//! after the whole snapshot is pulled and verified merges it into the real
//! tables in one short transaction. A sync that fails, or a process that dies
//! mid-way, leaves the previous snapshot exactly as it was: the temp tables
//! vanish with the connection, and so does the session advisory lock that
//! keeps two processes from syncing one org at the same time.

use std::{collections::BTreeSet, sync::Arc, time::Instant};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Connection, PgConnection, PgPool, postgres::PgConnectOptions};
use tokio::task::JoinHandle;
use uuid::Uuid;

use cockpit_domain::notify::EventKind;

use crate::{
    copy::{BinaryRows, CopyRow},
    notify::Notice,
    stored_tokens::StoredTokens,
};

/// What the merge judges by: the operator's settings.
#[derive(Debug, Clone, Copy)]
pub struct MergeRules {
    /// An authorization unused this many days is stale.
    pub stale_days: i32,
    /// An app outside the inventory is reported when it reaches this many
    /// people.
    pub outside_inventory_people: i64,
}

impl Default for MergeRules {
    fn default() -> Self {
        MergeRules {
            stale_days: 90,
            outside_inventory_people: cockpit_domain::notify::OUTSIDE_INVENTORY_PEOPLE,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StagedUser {
    pub id: String,
    pub username: String,
    pub name: String,
    pub email: Option<String>,
    pub is_active: bool,
    pub user_type: Option<String>,
    pub profile: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<String>,
    pub manager_name: Option<String>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    /// From SetupAuditTrail when Salesforce still has the entry.
    pub deactivated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct StagedApp {
    pub app_key: String,
    /// `connected_app`, `external_client_app` or `unknown`.
    pub kind: &'static str,
    pub sf_app_id: Option<String>,
    pub name: String,
    pub installed: bool,
    pub menu_item_id: Option<String>,
    pub consumer_key: Option<String>,
    pub admin_approved_only: Option<bool>,
    pub refresh_policy: Option<String>,
    pub ip_relaxation: Option<String>,
    pub permitted_users: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StagedToken {
    pub id: String,
    pub app_key: String,
    pub user_id: String,
    pub app_name: String,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub use_count: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct StagedUsage {
    pub app_key: String,
    pub day: NaiveDate,
    pub requests: i64,
    pub errors: i64,
    /// `{"200": n, "401": m, …}`
    pub by_status: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct StagedLogins {
    pub app_name: String,
    pub day: NaiveDate,
    pub successes: i64,
    pub failures: i64,
}

/// Rows written by a merge, per table (unchanged rows are not rewritten).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MergeCounts {
    pub users_written: u64,
    pub users_gone: u64,
    pub apps_written: u64,
    pub apps_gone: u64,
    pub tokens_written: u64,
    pub tokens_gone: u64,
    pub usage_written: u64,
    pub logins_written: u64,
    pub events: u64,
    /// Apps whose token counts the summary refresh made again: every live
    /// app, or only those the merge changed (see `refresh_summaries`).
    pub apps_recounted: u64,
}

impl MergeCounts {
    pub fn rows_written(&self) -> u64 {
        self.users_written
            + self.users_gone
            + self.apps_written
            + self.apps_gone
            + self.tokens_written
            + self.tokens_gone
            + self.usage_written
            + self.logins_written
    }
}

/// A sync's private connection, holding the org's sync lock.
pub struct SyncConn {
    conn: PgConnection,
    org: Uuid,
    buf: String,
    laps: Laps,
    /// The org's live tokens, read when the first tokens are staged.
    stored: Option<StoredTokens>,
    /// An org's first load: its tokens are copied straight into the table
    /// that the merge attaches as the org's partition (see [`SyncConn::open`]).
    first_load: Option<FirstLoad>,
    /// How to open another connection to the same database.
    opts: Arc<PgConnectOptions>,
}

/// The table a first load fills, and what it holds so far.
struct FirstLoad {
    table: String,
    /// When the sync began: the tokens' `first_seen_at`.
    seen_at: DateTime<Utc>,
    rows: u64,
    /// The build of the table's indexes, once every token is in (see
    /// [`index_first_load`]).
    indexing: Option<JoinHandle<sqlx::Result<()>>>,
}

/// Seconds each phase of a sync took, in order.
struct Laps {
    phases: Vec<(&'static str, f64)>,
    start: Instant,
}

impl Laps {
    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.phases.push((name, (now - self.start).as_secs_f64()));
        self.start = now;
    }
}

/// Stable advisory-lock key for an org's sync.
fn lock_key(org: Uuid) -> i64 {
    let b = org.as_bytes();
    i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) ^ 0x5359_4e43 // "SYNC"
}

impl SyncConn {
    /// Opens a dedicated connection and takes the org's sync lock; `None`
    /// when another process is syncing this org right now.
    pub async fn open(pool: &PgPool, org: Uuid) -> sqlx::Result<Option<SyncConn>> {
        let opts = pool.connect_options();
        let mut conn = PgConnection::connect_with(&opts).await?;
        let locked: bool = sqlx::query_scalar!(
            "SELECT pg_try_advisory_lock($1) AS \"locked!\"",
            lock_key(org)
        )
        .fetch_one(&mut conn)
        .await?;
        if !locked {
            let _ = conn.close().await;
            return Ok(None);
        }
        // The staging tables live in this backend's local buffers (8 MB by
        // default: a million staged tokens would spill to temp files before
        // the merge reads them back), and the merge's joins and index builds
        // sort and hash that many rows: room for them on this connection only.
        sqlx::raw_sql(
            "SET temp_buffers = '256MB'; SET work_mem = '64MB'; SET maintenance_work_mem = '256MB';
             CREATE TEMP TABLE stage_users (LIKE public.stage_users);
             CREATE TEMP TABLE stage_apps (LIKE public.stage_apps);
             CREATE TEMP TABLE stage_tokens_gone (LIKE public.stage_tokens_gone);
             CREATE TEMP TABLE stage_usage (LIKE public.stage_usage);
             CREATE TEMP TABLE stage_logins (LIKE public.stage_logins);",
        )
        .execute(&mut conn)
        .await?;
        // An org that holds no token and has no partition yet is loaded for
        // the first time: its tokens are copied straight into a new table of
        // their own (no index to maintain row by row, no second copy), which
        // the merge attaches as the org's partition, building its indexes
        // once. `stage_tokens` is then a view of that table, for the merge's
        // queries. The table is committed before the merge, so a sync that
        // fails drops it when it closes, and one that died (`kill -9`) leaves
        // it to the next sync of the org, which drops it here: it is never
        // attached, so never read.
        let table = partition_name(org);
        let (empty, exists, attached): (bool, bool, bool) = sqlx::query_as(
            "SELECT NOT EXISTS (SELECT 1 FROM sf_tokens WHERE org_id = $1),
                    to_regclass($2) IS NOT NULL,
                    EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($2))",
        )
        .bind(org)
        .bind(&table)
        .fetch_one(&mut conn)
        .await?;
        let first_load = if empty && !attached {
            // `table` is hex digits of the org id: safe to splice into DDL.
            if exists {
                tracing::info!(org = %org, "dropping the unattached tokens table an interrupted first load left");
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP TABLE IF EXISTS {table} CASCADE;
                 CREATE TABLE {table} (LIKE sf_tokens INCLUDING DEFAULTS);
                 CREATE TEMP VIEW stage_tokens AS
                   SELECT id, app_key, user_id, app_name, created_at, last_used_at, use_count FROM {table};"
            )))
            .execute(&mut conn)
            .await?;
            Some(FirstLoad {
                table,
                seen_at: Utc::now(),
                rows: 0,
                indexing: None,
            })
        } else {
            sqlx::raw_sql("CREATE TEMP TABLE stage_tokens (LIKE public.stage_tokens);")
                .execute(&mut conn)
                .await?;
            None
        };
        Ok(Some(SyncConn {
            conn,
            org,
            buf: String::with_capacity(1 << 20),
            laps: Laps {
                phases: Vec::new(),
                start: Instant::now(),
            },
            stored: None,
            first_load,
            opts,
        }))
    }

    /// Ends a phase of the sync: the time since the previous one ended is
    /// recorded under `name` (see [`SyncConn::phases`]).
    pub fn lap(&mut self, name: &'static str) {
        self.laps.lap(name);
    }

    /// Seconds each phase took, in order: what the benchmark prints to show
    /// where a sync's time goes.
    pub fn phases(&self) -> &[(&'static str, f64)] {
        &self.laps.phases
    }

    /// Sends the buffered rows with `statement` (a `COPY … FROM STDIN`).
    async fn copy(&mut self, statement: &str) -> sqlx::Result<u64> {
        let mut copy = self.conn.copy_in_raw(statement).await?;
        copy.send(self.buf.as_bytes()).await?;
        self.buf.clear();
        copy.finish().await
    }

    async fn copy_binary(&mut self, statement: &str, rows: BinaryRows) -> sqlx::Result<u64> {
        let mut copy = self.conn.copy_in_raw(statement).await?;
        copy.send(rows.finish()).await?;
        copy.finish().await
    }

    pub async fn stage_users(&mut self, rows: &[StagedUser]) -> sqlx::Result<u64> {
        for u in rows {
            CopyRow::new(&mut self.buf)
                .text(&u.id)
                .text(&u.username)
                .text(&u.name)
                .opt_text(u.email.as_deref())
                .bool(u.is_active)
                .opt_text(u.user_type.as_deref())
                .opt_text(u.profile.as_deref())
                .opt_text(u.department.as_deref())
                .opt_text(u.manager_id.as_deref())
                .opt_text(u.manager_name.as_deref())
                .opt_time(u.last_login_at)
                .opt_time(u.created_at)
                .opt_time(u.deactivated_at)
                .end();
        }
        self.copy("COPY stage_users FROM STDIN").await
    }

    pub async fn stage_apps(&mut self, rows: &[StagedApp]) -> sqlx::Result<u64> {
        for a in rows {
            CopyRow::new(&mut self.buf)
                .text(&a.app_key)
                .text(a.kind)
                .opt_text(a.sf_app_id.as_deref())
                .text(&a.name)
                .bool(a.installed)
                .opt_text(a.menu_item_id.as_deref())
                .opt_text(a.consumer_key.as_deref())
                .opt_bool(a.admin_approved_only)
                .opt_text(a.refresh_policy.as_deref())
                .opt_text(a.ip_relaxation.as_deref())
                .opt_text(a.permitted_users.as_deref())
                .end();
        }
        self.copy("COPY stage_apps FROM STDIN").await
    }

    /// The org's live tokens as stored, read once per sync.
    async fn stored(&mut self) -> sqlx::Result<&mut StoredTokens> {
        if self.stored.is_none() {
            self.stored = Some(StoredTokens::load(&mut self.conn, self.org).await?);
        }
        Ok(self.stored.as_mut().expect("loaded above"))
    }

    /// Stages the tokens of the snapshot that are new or differ from the
    /// stored ones (the others need no write); returns how many it was given.
    pub async fn stage_tokens(&mut self, rows: &[StagedToken]) -> sqlx::Result<u64> {
        let mut copy = BinaryRows::new();
        if let Some(load) = &mut self.first_load {
            if load.indexing.is_some() {
                return Err(sqlx::Error::Protocol(
                    "tokens staged after `tokens_staged`".into(),
                ));
            }
            for t in rows {
                token_values(copy.row(9).uuid(self.org), t).time(load.seen_at);
            }
            load.rows += rows.len() as u64;
            // `table` is hex digits of the org id: safe to splice.
            let statement = format!(
                "COPY {} (org_id, id, app_key, user_id, app_name, created_at, last_used_at, use_count, first_seen_at)
                 FROM STDIN (FORMAT binary)",
                load.table
            );
            self.copy_binary(&statement, copy).await?;
            return Ok(rows.len() as u64);
        }
        let stored = self.stored().await?;
        for t in rows.iter().filter(|t| !stored.seen_unchanged(t)) {
            token_values(copy.row(7), t);
        }
        if copy.rows() > 0 {
            self.copy_binary("COPY stage_tokens FROM STDIN (FORMAT binary)", copy)
                .await?;
        }
        Ok(rows.len() as u64)
    }

    /// Says every token of the snapshot is staged (the merge says it too, if
    /// no one did before). On a first load, the table the tokens were copied
    /// into gets its indexes from now on, built on a second connection while
    /// this one stages the rest and merges users and apps.
    pub fn tokens_staged(&mut self) {
        if let Some(load) = self
            .first_load
            .as_mut()
            .filter(|l| l.rows > 0 && l.indexing.is_none())
        {
            load.indexing = Some(tokio::spawn(index_first_load(
                self.opts.clone(),
                load.table.clone(),
            )));
        }
    }

    /// Stages the stored live tokens the snapshot did not contain.
    async fn stage_tokens_gone(&mut self) -> sqlx::Result<u64> {
        self.stored().await?;
        let stored = self.stored.as_ref().expect("loaded above");
        for id in stored.unseen() {
            CopyRow::new(&mut self.buf).text(id).end();
        }
        self.copy("COPY stage_tokens_gone FROM STDIN").await
    }

    pub async fn stage_usage(&mut self, rows: &[StagedUsage]) -> sqlx::Result<u64> {
        for u in rows {
            CopyRow::new(&mut self.buf)
                .text(&u.app_key)
                .date(u.day)
                .int(u.requests)
                .int(u.errors)
                .text(&u.by_status.to_string())
                .end();
        }
        self.copy("COPY stage_usage FROM STDIN").await
    }

    pub async fn stage_logins(&mut self, rows: &[StagedLogins]) -> sqlx::Result<u64> {
        for l in rows {
            CopyRow::new(&mut self.buf)
                .text(&l.app_name)
                .date(l.day)
                .int(l.successes)
                .int(l.failures)
                .end();
        }
        self.copy("COPY stage_logins FROM STDIN").await
    }

    /// Reconciles the staged snapshot with the stored one, records the
    /// changes as events, refreshes the summaries and marks the run
    /// succeeded — all in one transaction. Call only once the snapshot is
    /// complete and verified: whatever is not staged is marked gone.
    pub async fn merge(
        &mut self,
        run_id: i64,
        now: DateTime<Utc>,
        rules: &MergeRules,
    ) -> sqlx::Result<MergeCounts> {
        let stale_days = rules.stale_days;
        let org = self.org;
        self.tokens_staged();
        self.stage_tokens_gone().await?;
        // Temp tables are never analysed automatically; the planner needs
        // their sizes to pick hash joins over nested loops. (stage_tokens
        // holds only new and changed tokens, joined by hash or by the
        // primary key of sf_tokens: it needs no index.)
        sqlx::raw_sql(
            "CREATE INDEX ON stage_users (id); CREATE INDEX ON stage_apps (app_key);
             ANALYZE stage_users; ANALYZE stage_apps; ANALYZE stage_tokens_gone;
             ANALYZE stage_usage; ANALYZE stage_logins;",
        )
        .execute(&mut self.conn)
        .await?;
        // A first load's tokens sit in their future partition, analyzed once
        // attached.
        if self.first_load.is_none() {
            sqlx::raw_sql("ANALYZE stage_tokens;")
                .execute(&mut self.conn)
                .await?;
        }
        self.laps.lap("index staging");

        let mut tx = self.conn.begin().await?;
        let first_sync = sqlx::query_scalar!(
            "SELECT first_synced_at IS NULL AS \"first!\" FROM orgs WHERE id = $1",
            org
        )
        .fetch_one(&mut *tx)
        .await?;
        // Rows this org held before the merge. When it held no user, every
        // user after the upsert came from the snapshot and none can be gone:
        // the anti-join over the whole snapshot is skipped. When it held no
        // token, its tokens are loaded into a partition of their own.
        let held = sqlx::query!(
            "SELECT EXISTS (SELECT 1 FROM sf_users WHERE org_id = $1) AS \"users!\",
                    EXISTS (SELECT 1 FROM sf_tokens WHERE org_id = $1) AS \"tokens!\"",
            org
        )
        .fetch_one(&mut *tx)
        .await?;
        let mut c = MergeCounts::default();
        // Apps whose summary this merge's writes change (see
        // `refresh_summaries`); only collected when the org held tokens, as
        // otherwise every app's summary is computed anew.
        let mut changed_apps = BTreeSet::new();

        // Users. Whose tokens' apps count users that are active or not, and
        // deactivations, first, while the old state is still there.
        if held.tokens {
            changed_apps.extend(
                sqlx::query_scalar!(
                    "SELECT DISTINCT t.app_key AS \"app_key!\"
                     FROM stage_users s
                     LEFT JOIN sf_users u ON u.org_id = $1 AND u.id = s.id
                     JOIN sf_tokens t ON t.org_id = $1 AND t.user_id = s.id AND t.gone_at IS NULL
                     WHERE u.is_active IS DISTINCT FROM s.is_active",
                    org
                )
                .fetch_all(&mut *tx)
                .await?,
            );
        }
        c.events += sqlx::query!(
            "INSERT INTO events (org_id, at, sync_run_id, kind, user_id, detail)
             SELECT $1, coalesce(s.deactivated_at, $2), $3, 'user_deactivated', s.id,
                    jsonb_build_object('username', s.username, 'name', s.name)
             FROM stage_users s JOIN sf_users u ON u.org_id = $1 AND u.id = s.id
             WHERE u.is_active AND NOT s.is_active",
            org,
            now,
            run_id
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        c.users_written = sqlx::query!(
            "INSERT INTO sf_users AS t (org_id, id, username, name, email, is_active, user_type, profile, department,
                                  manager_id, manager_name, last_login_at, created_at, deactivated_at, first_seen_at)
             SELECT $1, s.id, s.username, s.name, s.email, s.is_active, s.user_type, s.profile, s.department,
                    s.manager_id, s.manager_name, s.last_login_at, s.created_at, n.deactivated_at, $2
             FROM stage_users s
             LEFT JOIN sf_users u ON u.org_id = $1 AND u.id = s.id
             CROSS JOIN LATERAL (SELECT CASE WHEN s.is_active THEN NULL
                                        ELSE coalesce(s.deactivated_at, u.deactivated_at,
                                                      CASE WHEN u.is_active THEN $2::timestamptz END) END
                                 AS deactivated_at) n
             WHERE u.id IS NULL OR u.gone_at IS NOT NULL
                OR (u.username, u.name, u.email, u.is_active, u.user_type, u.profile, u.department, u.manager_id,
                    u.manager_name, u.last_login_at, u.created_at, u.deactivated_at)
                   IS DISTINCT FROM
                   (s.username, s.name, s.email, s.is_active, s.user_type, s.profile, s.department, s.manager_id,
                    s.manager_name, s.last_login_at, s.created_at, n.deactivated_at)
             ON CONFLICT (org_id, id) DO UPDATE SET
                username = EXCLUDED.username, name = EXCLUDED.name, email = EXCLUDED.email,
                is_active = EXCLUDED.is_active, user_type = EXCLUDED.user_type, profile = EXCLUDED.profile,
                department = EXCLUDED.department, manager_id = EXCLUDED.manager_id,
                manager_name = EXCLUDED.manager_name, last_login_at = EXCLUDED.last_login_at,
                created_at = EXCLUDED.created_at, deactivated_at = EXCLUDED.deactivated_at, gone_at = NULL",
            org,
            now
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let gone = if !held.users {
            0
        } else {
            sqlx::query_scalar!(
            "WITH gone AS (
                UPDATE sf_users t SET gone_at = $2
                WHERE t.org_id = $1 AND t.gone_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM stage_users s WHERE s.id = t.id)
                RETURNING t.id, t.username),
             ev AS (
                INSERT INTO events (org_id, at, sync_run_id, kind, user_id, detail)
                SELECT $1, $2, $3, 'user_gone', id, jsonb_build_object('username', username) FROM gone)
             SELECT count(*) AS \"n!\" FROM gone",
            org,
            now,
            run_id
        )
        .fetch_one(&mut *tx)
        .await?
        };
        c.users_gone = gone as u64;
        c.events += gone as u64;
        self.laps.lap("merge users");

        // Apps: first sightings and policy changes become events.
        c.events += sqlx::query!(
            "INSERT INTO events (org_id, at, sync_run_id, kind, app_key, detail)
             SELECT $1, $2, $3, 'policy_changed', s.app_key,
                    jsonb_build_object(
                      'before', jsonb_build_object('admin_approved_only', a.admin_approved_only,
                                'refresh_policy', a.refresh_policy, 'ip_relaxation', a.ip_relaxation,
                                'permitted_users', a.permitted_users),
                      'after', jsonb_build_object('admin_approved_only', s.admin_approved_only,
                                'refresh_policy', s.refresh_policy, 'ip_relaxation', s.ip_relaxation,
                                'permitted_users', s.permitted_users))
             FROM stage_apps s JOIN sf_apps a ON a.org_id = $1 AND a.app_key = s.app_key AND a.gone_at IS NULL
             WHERE (a.admin_approved_only, a.refresh_policy, a.ip_relaxation, a.permitted_users)
                   IS DISTINCT FROM (s.admin_approved_only, s.refresh_policy, s.ip_relaxation, s.permitted_users)",
            org,
            now,
            run_id
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        c.events += sqlx::query!(
            "INSERT INTO events (org_id, at, sync_run_id, kind, app_key, detail)
             SELECT $1, $2, $3, 'app_first_seen', s.app_key, jsonb_build_object('name', s.name, 'kind', s.kind)
             FROM stage_apps s
             WHERE NOT EXISTS (SELECT 1 FROM sf_apps a WHERE a.org_id = $1 AND a.app_key = s.app_key AND a.gone_at IS NULL)",
            org,
            now,
            run_id
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        c.apps_written = sqlx::query!(
            "INSERT INTO sf_apps AS t (org_id, app_key, kind, sf_app_id, name, installed, menu_item_id, consumer_key,
                                 admin_approved_only, refresh_policy, ip_relaxation, permitted_users, first_seen_at)
             SELECT $1, s.app_key, s.kind, s.sf_app_id, s.name, s.installed, s.menu_item_id, s.consumer_key,
                    s.admin_approved_only, s.refresh_policy, s.ip_relaxation, s.permitted_users, $2
             FROM stage_apps s
             LEFT JOIN sf_apps a ON a.org_id = $1 AND a.app_key = s.app_key
             WHERE a.app_key IS NULL OR a.gone_at IS NOT NULL
                OR (a.kind, a.sf_app_id, a.name, a.installed, a.menu_item_id, a.consumer_key, a.admin_approved_only,
                    a.refresh_policy, a.ip_relaxation, a.permitted_users)
                   IS DISTINCT FROM
                   (s.kind, s.sf_app_id, s.name, s.installed, s.menu_item_id, coalesce(s.consumer_key, a.consumer_key), s.admin_approved_only,
                    s.refresh_policy, s.ip_relaxation, s.permitted_users)
             ON CONFLICT (org_id, app_key) DO UPDATE SET
                kind = EXCLUDED.kind, sf_app_id = EXCLUDED.sf_app_id, name = EXCLUDED.name,
                installed = EXCLUDED.installed, menu_item_id = EXCLUDED.menu_item_id,
                consumer_key = coalesce(EXCLUDED.consumer_key, t.consumer_key),
                admin_approved_only = EXCLUDED.admin_approved_only, refresh_policy = EXCLUDED.refresh_policy,
                ip_relaxation = EXCLUDED.ip_relaxation, permitted_users = EXCLUDED.permitted_users,
                first_seen_at = CASE WHEN t.gone_at IS NULL THEN t.first_seen_at ELSE EXCLUDED.first_seen_at END,
                gone_at = NULL",
            org,
            now
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let gone = sqlx::query_scalar!(
            "WITH gone AS (
                UPDATE sf_apps t SET gone_at = $2
                WHERE t.org_id = $1 AND t.gone_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM stage_apps s WHERE s.app_key = t.app_key)
                RETURNING t.app_key, t.name),
             ev AS (
                INSERT INTO events (org_id, at, sync_run_id, kind, app_key, detail)
                SELECT $1, $2, $3, 'app_gone', app_key, jsonb_build_object('name', name) FROM gone)
             SELECT count(*) AS \"n!\" FROM gone",
            org,
            now,
            run_id
        )
        .fetch_one(&mut *tx)
        .await?;
        c.apps_gone = gone as u64;
        c.events += gone as u64;
        self.laps.lap("merge apps");

        // Tokens. The first sync is the baseline: no event per token.
        let partition = partition_name(org);
        // A first load with tokens attaches the table they were copied into.
        let first_load_rows = self.first_load.as_ref().map_or(0, |l| l.rows);
        let fresh = !held.tokens && first_load_rows > 0;
        // Tokens never seen before are granted (after the baseline). Staged
        // are only new and changed tokens: this reads few rows on a resync.
        // (Counted before the upsert: RETURNING cannot tell an insert from an
        // update on a partitioned table, whose rows have no xmax there.)
        if !first_sync {
            c.events += sqlx::query!(
                "INSERT INTO events (org_id, at, sync_run_id, kind, app_key, user_id, token_id)
                 SELECT $1, coalesce(s.created_at, $2), $3, 'token_granted', s.app_key, s.user_id, s.id
                 FROM stage_tokens s
                 WHERE NOT EXISTS (SELECT 1 FROM sf_tokens x WHERE x.org_id = $1 AND x.id = s.id)",
                org,
                now,
                run_id
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        if fresh {
            // The org held no token and had no partition: its tokens were
            // copied into a new table (see `open`), with no index to maintain
            // row by row, whose indexes a second connection has been building
            // since the last token was staged (`tokens_staged`); once done,
            // the ATTACH makes the table the org's partition of sf_tokens. A
            // failed merge leaves it unattached, for `close` to drop.
            let indexing = self.first_load.as_mut().and_then(|l| l.indexing.take());
            if let Some(indexing) = indexing {
                indexing
                    .await
                    .map_err(|e| sqlx::Error::Protocol(format!("index build: {e}")))??;
            }
            attach_partition(&mut tx, org, &partition).await?;
            c.tokens_written = first_load_rows;
        } else {
            // The apps of new and changed tokens, and those the changed ones
            // were stored under.
            changed_apps.extend(
                sqlx::query_scalar!(
                    "SELECT s.app_key AS \"app_key!\" FROM stage_tokens s
                     UNION
                     SELECT x.app_key FROM stage_tokens s JOIN sf_tokens x ON x.org_id = $1 AND x.id = s.id",
                    org
                )
                .fetch_all(&mut *tx)
                .await?,
            );
            c.tokens_written = sqlx::query!(
                "INSERT INTO sf_tokens AS t (org_id, id, app_key, user_id, app_name, created_at, last_used_at,
                                            use_count, first_seen_at)
                 SELECT $1, s.id, s.app_key, s.user_id, s.app_name, s.created_at, s.last_used_at, s.use_count, $2
                 FROM stage_tokens s
                 LEFT JOIN sf_tokens x ON x.org_id = $1 AND x.id = s.id
                 WHERE x.id IS NULL OR x.gone_at IS NOT NULL
                    OR (x.app_key, x.user_id, x.app_name, x.created_at, x.last_used_at, x.use_count)
                       IS DISTINCT FROM (s.app_key, s.user_id, s.app_name, s.created_at, s.last_used_at, s.use_count)
                 ON CONFLICT (org_id, id) DO UPDATE SET
                    app_key = EXCLUDED.app_key, user_id = EXCLUDED.user_id, app_name = EXCLUDED.app_name,
                    created_at = EXCLUDED.created_at, last_used_at = EXCLUDED.last_used_at,
                    use_count = EXCLUDED.use_count, gone_at = NULL",
                org,
                now
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        self.laps.lap("upsert tokens");
        // A user who authorizes again an app whose access the cockpit revoked.
        c.events += sqlx::query!(
            "INSERT INTO events (org_id, at, sync_run_id, kind, app_key, user_id, token_id, detail)
             SELECT e.org_id, e.at, e.sync_run_id, 'reauthorized_after_revoke', e.app_key, e.user_id, e.token_id,
                    jsonb_build_object('revoked_by_action', max(a.id))
             FROM events e
             JOIN action_items i ON i.app_key = e.app_key AND i.user_id = e.user_id AND i.status IN ('revoked', 'gone')
             JOIN actions a ON a.id = i.action_id AND a.org_id = e.org_id
             WHERE e.org_id = $1 AND e.sync_run_id = $2 AND e.kind = 'token_granted'
             GROUP BY e.org_id, e.at, e.sync_run_id, e.app_key, e.user_id, e.token_id",
            org,
            run_id
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Gone: the live tokens the complete snapshot did not contain (read
        // when the sync began; see `stored_tokens`), unless staged.
        let gone = sqlx::query!(
            "WITH gone AS (
                UPDATE sf_tokens t SET gone_at = $2
                FROM stage_tokens_gone g
                WHERE t.org_id = $1 AND t.id = g.id AND t.gone_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM stage_tokens s WHERE s.id = t.id)
                RETURNING t.id, t.app_key, t.user_id),
             ev AS (
                INSERT INTO events (org_id, at, sync_run_id, kind, app_key, user_id, token_id)
                SELECT $1, $2, $3, 'token_gone', app_key, user_id, id FROM gone)
             SELECT count(*) AS \"n!\", coalesce(array_agg(DISTINCT app_key), '{}') AS \"apps!\" FROM gone",
            org,
            now,
            run_id
        )
        .fetch_one(&mut *tx)
        .await?;
        changed_apps.extend(gone.apps);
        let gone = gone.n;
        c.tokens_gone = gone as u64;
        c.events += gone as u64;
        self.laps.lap("tokens gone");

        // Usage history is kept: days Salesforce no longer has stay as they were.
        c.usage_written = sqlx::query!(
            "INSERT INTO app_usage_daily AS t (org_id, app_key, day, requests, errors, by_status)
             SELECT $1, app_key, day, requests, errors, by_status FROM stage_usage
             ON CONFLICT (org_id, app_key, day) DO UPDATE SET
                requests = EXCLUDED.requests, errors = EXCLUDED.errors, by_status = EXCLUDED.by_status
             WHERE (t.requests, t.errors, t.by_status) IS DISTINCT FROM (EXCLUDED.requests, EXCLUDED.errors, EXCLUDED.by_status)",
            org
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        c.logins_written = sqlx::query!(
            "INSERT INTO app_logins_daily AS t (org_id, app_name, day, successes, failures)
             SELECT $1, app_name, day, successes, failures FROM stage_logins
             ON CONFLICT (org_id, app_name, day) DO UPDATE SET
                successes = EXCLUDED.successes, failures = EXCLUDED.failures
             WHERE (t.successes, t.failures) IS DISTINCT FROM (EXCLUDED.successes, EXCLUDED.failures)",
            org
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();

        // After a bulk load the planner's statistics say these tables are
        // empty (a new partition has none at all); without fresh ones the
        // summary query runs nested loops over every token times every user
        // of the org (seconds for a few thousand of each). Cheap for a small
        // org, so always after a first load.
        if fresh || c.rows_written() > 1_000 {
            // The org's own partition, or the default one: ANALYZE of the
            // partitioned table would sample every org's tokens.
            // (A first load's partition was analyzed before it was attached.)
            let tokens = if fresh {
                String::new()
            } else if has_partition(&mut tx, &partition).await? {
                format!("ANALYZE {partition};")
            } else {
                "ANALYZE sf_tokens_default;".to_string()
            };
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "{tokens} ANALYZE sf_users; ANALYZE sf_apps;"
            )))
            .execute(&mut *tx)
            .await?;
        }
        self.laps.lap("usage, analyze");
        let changed = (held.tokens && !fresh).then_some(&changed_apps);
        c.apps_recounted = refresh_summaries(&mut tx, org, now, stale_days, changed).await?;
        self.laps.lap("summaries");

        if c.rows_written() > 0 || c.events > 0 {
            crate::audit::append(
                &mut tx,
                &crate::audit::NewEntry {
                    actor: "system:sync",
                    action: "sync.changes",
                    org_id: Some(org),
                    target: serde_json::json!({ "sync_run": run_id }),
                    reason: None,
                    outcome: Some("succeeded"),
                    detail: serde_json::to_value(&c).unwrap_or_default(),
                },
            )
            .await?;
        }
        // What people are told about, in the same transaction.
        crate::notify::emit_from_sync(&mut tx, org, run_id, rules.outside_inventory_people).await?;
        sqlx::query!(
            "UPDATE sync_runs SET status = 'succeeded', finished_at = now(), counts = $2 WHERE id = $1",
            run_id,
            serde_json::to_value(&c).unwrap_or_default()
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE orgs SET last_sync_at = $2, last_sync_status = 'succeeded', status_detail = NULL,
                    first_synced_at = coalesce(first_synced_at, $2), updated_at = now(),
                    next_sync_at = $2 + make_interval(mins => sync_interval_minutes)
             WHERE id = $1",
            org,
            now
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if fresh {
            // The org's partition now: nothing left for `close` to drop.
            self.first_load = None;
        }
        self.laps.lap("commit");
        Ok(c)
    }

    /// Ends the sync: the connection closes, dropping the staging tables and
    /// the lock. A first load's table that the merge did not attach (the
    /// sync failed, or found no token) is dropped first.
    pub async fn close(mut self) {
        if let Some(load) = &mut self.first_load {
            // A build still running holds a lock the DROP would wait for.
            if let Some(indexing) = load.indexing.take() {
                indexing.abort();
            }
            let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP TABLE IF EXISTS {} CASCADE",
                load.table
            )))
            .execute(&mut self.conn)
            .await;
            if let Err(e) = dropped {
                tracing::warn!(org = %self.org, error = %e, "the unattached tokens table is left to the next sync");
            }
        }
        let _ = self.conn.close().await;
    }
}

/// A token's values in the order of `stage_tokens`: id, app_key, user_id,
/// app_name, created_at, last_used_at, use_count.
fn token_values<'a>(row: &'a mut BinaryRows, t: &StagedToken) -> &'a mut BinaryRows {
    row.text(&t.id)
        .text(&t.app_key)
        .text(&t.user_id)
        .text(&t.app_name)
        .opt_time(t.created_at)
        .opt_time(t.last_used_at)
        .opt_int(t.use_count)
}

/// The name of an org's own partition of sf_tokens (hex digits only: safe
/// to splice into DDL).
fn partition_name(org: Uuid) -> String {
    format!("sf_tokens_{}", org.simple())
}

async fn has_partition(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    partition: &str,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        "SELECT to_regclass($1) IS NOT NULL AS \"exists!\"",
        partition
    )
    .fetch_one(&mut **tx)
    .await
}

/// Builds on a first load's table every index of sf_tokens, on a connection
/// of its own, so that the ATTACH finds them and only attaches them. The
/// statements come from the catalog (each partitioned index's definition,
/// and for the primary key its constraint, which the ATTACH requires), so
/// they match the migrations' indexes exactly: an index that did not match
/// would be built a second time by the ATTACH. The table is analyzed first:
/// the planner sizes an index build's parallel workers by the table's page
/// count, which a table that was only ever copied into does not have yet.
async fn index_first_load(opts: Arc<PgConnectOptions>, table: String) -> sqlx::Result<()> {
    let mut conn = PgConnection::connect_with(&opts).await?;
    let statements: Vec<String> = sqlx::query_scalar(
        r"SELECT CASE WHEN c.oid IS NOT NULL
                      THEN format('ALTER TABLE %I ADD %s', $1::text, pg_get_constraintdef(c.oid))
                      ELSE regexp_replace(pg_get_indexdef(i.indexrelid),
                                          '^(CREATE (UNIQUE )?INDEX) \S+ ON ONLY \S+ ',
                                          format('\1 ON %I ', $1::text)) END
          FROM pg_index i
          LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
          WHERE i.indrelid = 'sf_tokens'::regclass
          ORDER BY i.indexrelid",
    )
    .bind(&table)
    .fetch_all(&mut conn)
    .await?;
    // `table` is hex digits of the org id: safe to splice.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET maintenance_work_mem = '256MB'; ANALYZE {table};"
    )))
    .execute(&mut conn)
    .await?;
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await?;
    }
    conn.close().await
}

/// Drops the partition of sf_tokens (or the unattached table of a first
/// load) of an org that no longer exists; its rows went with the org. Apart
/// from the org's delete, because dropping a partition locks sf_tokens whole:
/// it waits at most a few seconds (rather than queue every page behind a
/// sync that holds the table), and an empty table left behind costs nothing.
pub async fn drop_partition(pool: &PgPool, org: Uuid) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let gone = sqlx::query_scalar!(
        "SELECT NOT EXISTS (SELECT 1 FROM orgs WHERE id = $1) AS \"gone!\"",
        org
    )
    .fetch_one(&mut *tx)
    .await?;
    if !gone {
        return Ok(false);
    }
    // `partition_name` is hex digits of the org id: safe to splice.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = '5s'; DROP TABLE IF EXISTS {}",
        partition_name(org)
    )))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Attaches the table a first load filled as the org's partition.
async fn attach_partition(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    org: Uuid,
    partition: &str,
) -> sqlx::Result<()> {
    // Attaches the indexes `index_first_load` built as the partitioned
    // indexes' partitions (the primary key among them: a duplicate id failed
    // that build, and so the merge, as the upsert would) and checks the rows
    // against the partition bound and the foreign key.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE sf_tokens ATTACH PARTITION {partition} FOR VALUES IN ('{org}')"
    )))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Brings the org's `app_summary` rows up to date with its tokens, users and
/// usage, and records a snapshot of its counts.
///
/// `changed` lists the apps whose tokens this merge wrote or marked gone, or
/// whose token holders became active or inactive; `None` when every app may
/// have changed (a first load). When those apps hold a small share of the
/// org's tokens, only they are counted again; the others' counts still hold,
/// except two: tokens that crossed the stale cutoff since the last refresh
/// (counted through the idle index, between the two cutoffs) and the usage
/// figures (a few rows per app). Otherwise every app is counted again, in one
/// pass over the org's tokens. The cutoff the counts were made with is kept
/// with the org (`orgs.summary_stale_before`); an action that marks tokens
/// gone counts their apps again with it ([`refresh_app_summaries`]).
async fn refresh_summaries(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    org: Uuid,
    now: DateTime<Utc>,
    stale_days: i32,
    changed: Option<&BTreeSet<String>>,
) -> sqlx::Result<u64> {
    let cutoff = now - chrono::Duration::days(i64::from(stale_days));
    let before = sqlx::query_scalar!("SELECT summary_stale_before FROM orgs WHERE id = $1", org)
        .fetch_one(&mut **tx)
        .await?;
    let apps: Vec<String> = changed
        .map(|c| c.iter().cloned().collect())
        .unwrap_or_default();
    let partial = match (changed, before) {
        (Some(_), Some(before)) if before <= cutoff => {
            let share = sqlx::query!(
                "SELECT coalesce(sum(tokens) FILTER (WHERE app_key = ANY($2)), 0)::bigint AS \"changed!\",
                        coalesce(sum(tokens), 0)::bigint AS \"all!\"
                 FROM app_summary WHERE org_id = $1",
                org,
                &apps
            )
            .fetch_one(&mut **tx)
            .await?;
            (share.changed * 4 <= share.all).then_some(before)
        }
        _ => None,
    };
    let recounted = if let Some(before) = partial {
        // Tokens that went stale since the last refresh, in the apps whose
        // tokens did not change.
        sqlx::query!(
            "UPDATE app_summary s SET stale_tokens = s.stale_tokens + d.n
             FROM (SELECT t.app_key, count(*) AS n FROM sf_tokens t
                   WHERE t.org_id = $1 AND t.gone_at IS NULL
                     AND coalesce(t.last_used_at, t.created_at, t.first_seen_at) >= $2
                     AND coalesce(t.last_used_at, t.created_at, t.first_seen_at) < $3
                     AND NOT (t.app_key = ANY($4))
                   GROUP BY t.app_key) d
             WHERE s.org_id = $1 AND s.app_key = d.app_key",
            org,
            before,
            cutoff,
            &apps
        )
        .execute(&mut **tx)
        .await?;
        // The changed apps, and the live apps that have no summary yet.
        let mut apps = apps;
        apps.extend(
            sqlx::query_scalar!(
                "SELECT a.app_key FROM sf_apps a
                 WHERE a.org_id = $1 AND a.gone_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM app_summary s WHERE s.org_id = $1 AND s.app_key = a.app_key)",
                org
            )
            .fetch_all(&mut **tx)
            .await?,
        );
        count_apps(tx, org, cutoff, &apps).await?;
        apps.len() as u64
    } else {
        // Every app: every live token of the org is read, grouped by app.
        // Once the tokens' pages are all-visible (after a vacuum), the
        // planner prefers walking the app index and looking each token's user
        // up in a memoized nested loop: 4.4 s for a million tokens, against
        // 1.7 s for a hash join and a sort (measured on the 1M-token bench
        // database). For this statement only.
        sqlx::raw_sql("SET LOCAL enable_nestloop = off")
            .execute(&mut **tx)
            .await?;
        let apps: Vec<String> = sqlx::query_scalar!(
            "SELECT app_key FROM sf_apps WHERE org_id = $1 AND gone_at IS NULL",
            org
        )
        .fetch_all(&mut **tx)
        .await?;
        count_apps(tx, org, cutoff, &apps).await?;
        sqlx::raw_sql("SET LOCAL enable_nestloop = DEFAULT")
            .execute(&mut **tx)
            .await?;
        apps.len() as u64
    };
    sqlx::query!(
        "DELETE FROM app_summary s WHERE s.org_id = $1
           AND NOT EXISTS (SELECT 1 FROM sf_apps a WHERE a.org_id = $1 AND a.app_key = s.app_key AND a.gone_at IS NULL)",
        org
    )
    .execute(&mut **tx)
    .await?;
    // Requests and errors of the latest day of usage and the 7 days to it:
    // a few rows per app, for every app.
    sqlx::query!(
        "WITH latest AS (SELECT max(day) AS day FROM app_usage_daily WHERE org_id = $1),
              use AS (
                SELECT s.app_key,
                       coalesce(sum(d.requests) FILTER (WHERE d.day = l.day), 0)::bigint AS r1,
                       coalesce(sum(d.errors) FILTER (WHERE d.day = l.day), 0)::bigint AS e1,
                       coalesce(sum(d.requests), 0)::bigint AS r7,
                       coalesce(sum(d.errors), 0)::bigint AS e7
                FROM app_summary s CROSS JOIN latest l
                LEFT JOIN app_usage_daily d ON d.org_id = $1 AND d.app_key = s.app_key AND d.day > l.day - 7
                WHERE s.org_id = $1
                GROUP BY s.app_key)
         UPDATE app_summary s SET requests_24h = u.r1, errors_24h = u.e1, requests_7d = u.r7, errors_7d = u.e7
         FROM use u
         WHERE s.org_id = $1 AND s.app_key = u.app_key
           AND (s.requests_24h, s.errors_24h, s.requests_7d, s.errors_7d) IS DISTINCT FROM (u.r1, u.e1, u.r7, u.e7)",
        org
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "UPDATE orgs SET summary_stale_before = $2 WHERE id = $1",
        org,
        cutoff
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "INSERT INTO org_snapshots (org_id, at, apps, users_with_tokens, tokens)
         SELECT $1, $2,
                (SELECT count(*) FROM sf_apps WHERE org_id = $1 AND gone_at IS NULL),
                -- GROUP BY rather than count(DISTINCT): a hash of the users, not a sort of every token.
                (SELECT count(*) FROM (SELECT user_id FROM sf_tokens WHERE org_id = $1 AND gone_at IS NULL
                                       GROUP BY user_id) d),
                (SELECT count(*) FROM sf_tokens WHERE org_id = $1 AND gone_at IS NULL)
         ON CONFLICT (org_id, at) DO NOTHING",
        org,
        now
    )
    .execute(&mut **tx)
    .await?;
    Ok(recounted)
}

/// Counts the tokens of the org's live `apps` into their summaries, a token
/// being stale when idle since before `cutoff` (as in the stale report).
/// Usage figures are left as they are (new rows start at zero).
async fn count_apps(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    org: Uuid,
    cutoff: DateTime<Utc>,
    apps: &[String],
) -> sqlx::Result<()> {
    if apps.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "WITH tok AS (
            SELECT t.app_key, count(DISTINCT t.user_id) AS users, count(*) AS tokens,
                   coalesce(sum(t.use_count), 0)::bigint AS total_use, max(t.last_used_at) AS last_used_at,
                   count(*) FILTER (WHERE coalesce(t.last_used_at, t.created_at, t.first_seen_at) < $2) AS stale,
                   count(DISTINCT t.user_id) FILTER (WHERE u.is_active IS FALSE) AS inactive_users
            FROM sf_tokens t LEFT JOIN sf_users u ON u.org_id = t.org_id AND u.id = t.user_id
            WHERE t.org_id = $1 AND t.gone_at IS NULL AND t.app_key = ANY($3)
            GROUP BY t.app_key)
         INSERT INTO app_summary AS s (org_id, app_key, users, tokens, total_use, last_used_at, stale_tokens,
                                       inactive_users)
         SELECT $1, a.app_key, coalesce(tok.users, 0), coalesce(tok.tokens, 0), coalesce(tok.total_use, 0),
                tok.last_used_at, coalesce(tok.stale, 0), coalesce(tok.inactive_users, 0)
         FROM sf_apps a LEFT JOIN tok ON tok.app_key = a.app_key
         WHERE a.org_id = $1 AND a.gone_at IS NULL AND a.app_key = ANY($3)
         ON CONFLICT (org_id, app_key) DO UPDATE SET
            users = EXCLUDED.users, tokens = EXCLUDED.tokens, total_use = EXCLUDED.total_use,
            last_used_at = EXCLUDED.last_used_at, stale_tokens = EXCLUDED.stale_tokens,
            inactive_users = EXCLUDED.inactive_users
         WHERE (s.users, s.tokens, s.total_use, s.last_used_at, s.stale_tokens, s.inactive_users)
               IS DISTINCT FROM
               (EXCLUDED.users, EXCLUDED.tokens, EXCLUDED.total_use, EXCLUDED.last_used_at,
                EXCLUDED.stale_tokens, EXCLUDED.inactive_users)",
        org,
        cutoff,
        apps
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// After tokens were marked gone outside a sync (an action's revocations):
/// counts their `apps` again, with the stale cutoff of the org's last
/// refresh, so that the overview agrees with the tokens at once and the next
/// sync can keep counting only what it changes.
pub async fn refresh_app_summaries(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    org: Uuid,
    apps: &[String],
) -> sqlx::Result<()> {
    let before = sqlx::query_scalar!("SELECT summary_stale_before FROM orgs WHERE id = $1", org)
        .fetch_optional(&mut **tx)
        .await?
        .flatten();
    // No summary yet: the org's first sync makes them all.
    let Some(cutoff) = before else {
        return Ok(());
    };
    count_apps(tx, org, cutoff, apps).await
}

/// Starts a run record, visible at once (its own transaction).
pub async fn start_run(pool: &PgPool, org: Uuid, trigger: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "INSERT INTO sync_runs (org_id, trigger) VALUES ($1, $2) RETURNING id",
        org,
        trigger
    )
    .fetch_one(pool)
    .await
}

/// Records a failed run and the org's status after it (`failed`,
/// `needs_reauth`, `paused_budget`); the stored snapshot is untouched. The
/// third failure in a row, and an org needing re-authorization or paused
/// by its API budget, are notified once until a sync succeeds again.
pub async fn fail_run(
    pool: &PgPool,
    run_id: i64,
    error: &str,
    api_calls: i64,
    org_status: &str,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    let org = sqlx::query_scalar!(
        "UPDATE sync_runs SET status = 'failed', finished_at = now(), error = $2, api_calls = $3
         WHERE id = $1 RETURNING org_id",
        run_id,
        error,
        api_calls
    )
    .fetch_one(&mut *tx)
    .await?;
    let name = sqlx::query_scalar!(
        "UPDATE orgs SET last_sync_status = 'failed', status = $3, status_detail = $2, updated_at = now()
         WHERE id = $1 RETURNING name",
        org,
        error,
        org_status
    )
    .fetch_one(&mut *tx)
    .await?;
    let streak = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM sync_runs
           WHERE org_id = $1 AND status = 'failed'
             AND started_at > coalesce((SELECT max(started_at) FROM sync_runs
                                        WHERE org_id = $1 AND status = 'succeeded'), '-infinity')"#,
        org
    )
    .fetch_one(&mut *tx)
    .await?;
    let bounded: String = error.chars().take(300).collect();
    let link = format!("/orgs/{org}");
    let status_notice = match org_status {
        "needs_reauth" => Some(Notice::new(
            EventKind::OrgNeedsReauth,
            Some(org),
            format!(
                "{name} needs to be connected again: the cockpit's authorization no longer works"
            ),
        )),
        "paused_budget" => Some(Notice::new(
            EventKind::OrgBudgetPaused,
            Some(org),
            format!("Syncing {name} is paused: the org's API budget is spent"),
        )),
        _ => None,
    };
    if let Some(n) = status_notice {
        let n = n
            .detail(serde_json::json!({ "error": bounded }))
            .link(&link);
        crate::notify::emit_once_per_streak(&mut tx, &n).await?;
    }
    if streak >= SYNC_FAILURES_NOTIFIED {
        let n = Notice::new(
            EventKind::SyncFailing,
            Some(org),
            format!("Syncing {name} failed {streak} times in a row"),
        )
        .detail(serde_json::json!({ "failures": streak, "error": bounded }))
        .link(&link);
        crate::notify::emit_once_per_streak(&mut tx, &n).await?;
    }
    tx.commit().await
}

/// Failed syncs in a row before "sync failing" is sent.
pub const SYNC_FAILURES_NOTIFIED: i64 = 3;

pub async fn set_run_api_calls(pool: &PgPool, run_id: i64, api_calls: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE sync_runs SET api_calls = $2 WHERE id = $1",
        run_id,
        api_calls
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// What an interrupted run's page says.
pub const INTERRUPTED: &str = "interrupted: the process running the sync stopped before it finished; nothing of it was applied";

/// Runs left `running` by a process that died are failed: their staging died
/// with them, so nothing of them was merged. Every living process checks
/// this on its schedule, not only at start-up, so a `kill -9` of a
/// command-line sync under a running `serve` is closed within a tick.
pub async fn fail_abandoned_runs(pool: &PgPool) -> sqlx::Result<u64> {
    let rows = sqlx::query!("SELECT r.id, r.org_id FROM sync_runs r WHERE r.status = 'running'")
        .fetch_all(pool)
        .await?;
    let mut n = 0;
    for r in rows {
        let mut conn = pool.acquire().await?;
        // The org's sync lock is held by the run's owner for as long as it
        // lives (it dies with its connection): free means nobody runs it.
        let free: bool = sqlx::query_scalar!(
            "SELECT pg_try_advisory_lock($1) AS \"free!\"",
            lock_key(r.org_id)
        )
        .fetch_one(&mut *conn)
        .await?;
        if !free {
            continue;
        }
        // Under the lock, and only if the run is still `running`: a run that
        // finished between the read above and the lock keeps its outcome.
        let closed = sqlx::query_scalar!(
            "WITH run AS (
                UPDATE sync_runs SET status = 'failed', finished_at = now(), error = $2
                WHERE id = $1 AND status = 'running' RETURNING org_id)
             UPDATE orgs o SET last_sync_status = 'failed', status_detail = $2, updated_at = now(),
                    status = CASE WHEN o.status = 'syncing' THEN 'failed' ELSE o.status END
             FROM run WHERE o.id = run.org_id RETURNING o.id",
            r.id,
            INTERRUPTED
        )
        .fetch_optional(&mut *conn)
        .await;
        sqlx::query_scalar!("SELECT pg_advisory_unlock($1)", lock_key(r.org_id))
            .fetch_one(&mut *conn)
            .await?;
        if closed?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, active: bool) -> StagedUser {
        StagedUser {
            id: id.into(),
            username: format!("{id}@acme.example"),
            name: format!("<b>{id}</b>"),
            email: None,
            is_active: active,
            user_type: Some("Standard".into()),
            profile: None,
            department: None,
            manager_id: None,
            manager_name: None,
            last_login_at: None,
            created_at: None,
            deactivated_at: None,
        }
    }

    fn app(key: &str) -> StagedApp {
        StagedApp {
            app_key: key.into(),
            kind: "connected_app",
            sf_app_id: Some(key.into()),
            name: format!("App {key}"),
            installed: true,
            menu_item_id: None,
            consumer_key: None,
            admin_approved_only: Some(false),
            refresh_policy: Some("until_revoked".into()),
            ip_relaxation: None,
            permitted_users: Some("all_self_authorized".into()),
        }
    }

    fn token(id: &str, app: &str, user: &str, uses: i64) -> StagedToken {
        StagedToken {
            id: id.into(),
            app_key: app.into(),
            user_id: user.into(),
            app_name: format!("App {app}"),
            created_at: Some(DateTime::from_timestamp(1_700_000_000, 0).unwrap()),
            last_used_at: None,
            use_count: Some(uses),
        }
    }

    async fn org(pool: &PgPool) -> Uuid {
        let id = Uuid::new_v4();
        sqlx::query!("INSERT INTO orgs (id, name, login_url) VALUES ($1, 'acme', 'https://login.salesforce.com')", id)
            .execute(pool)
            .await
            .unwrap();
        id
    }

    async fn try_sync(
        pool: &PgPool,
        org: Uuid,
        users: &[StagedUser],
        apps: &[StagedApp],
        tokens: &[StagedToken],
    ) -> sqlx::Result<MergeCounts> {
        try_sync_at(pool, org, users, apps, tokens, Utc::now()).await
    }

    async fn try_sync_at(
        pool: &PgPool,
        org: Uuid,
        users: &[StagedUser],
        apps: &[StagedApp],
        tokens: &[StagedToken],
        now: DateTime<Utc>,
    ) -> sqlx::Result<MergeCounts> {
        let run = start_run(pool, org, "cli").await.unwrap();
        let mut conn = SyncConn::open(pool, org).await.unwrap().expect("lock free");
        conn.stage_users(users).await.unwrap();
        conn.stage_apps(apps).await.unwrap();
        conn.stage_tokens(tokens).await.unwrap();
        let counts = conn.merge(run, now, &MergeRules::default()).await;
        conn.close().await;
        counts
    }

    async fn sync(
        pool: &PgPool,
        org: Uuid,
        users: &[StagedUser],
        apps: &[StagedApp],
        tokens: &[StagedToken],
    ) -> MergeCounts {
        try_sync(pool, org, users, apps, tokens).await.unwrap()
    }

    async fn live_tokens(pool: &PgPool, org: Uuid) -> i64 {
        sqlx::query_scalar!(
            "SELECT count(*) AS \"n!\" FROM sf_tokens WHERE org_id = $1 AND gone_at IS NULL",
            org
        )
        .fetch_one(pool)
        .await
        .unwrap()
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn resync_of_an_unchanged_org_rewrites_nothing(pool: PgPool) {
        let org = org(&pool).await;
        let users = [user("005A", true), user("005B", true)];
        let apps = [app("0H4A")];
        let tokens = [
            token("0CQ1", "0H4A", "005A", 3),
            token("0CQ2", "0H4A", "005B", 0),
        ];
        let first = sync(&pool, org, &users, &apps, &tokens).await;
        assert_eq!(
            (
                first.users_written,
                first.apps_written,
                first.tokens_written
            ),
            (2, 1, 2)
        );
        let again = sync(&pool, org, &users, &apps, &tokens).await;
        assert_eq!(again.rows_written(), 0, "{again:?}");
        assert_eq!(again.events, 0);
        let summary = sqlx::query!(
            "SELECT users, tokens, total_use FROM app_summary WHERE org_id = $1",
            org
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            (summary.users, summary.tokens, summary.total_use),
            (2, 2, 3)
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn changes_become_events(pool: PgPool) {
        let org = org(&pool).await;
        let apps = [app("0H4A")];
        sync(
            &pool,
            org,
            &[user("005A", true), user("005B", true)],
            &apps,
            &[token("0CQ1", "0H4A", "005A", 1)],
        )
        .await;

        let mut changed_app = app("0H4A");
        changed_app.admin_approved_only = Some(true);
        let c = sync(
            &pool,
            org,
            &[user("005A", false), user("005B", true)],
            &[changed_app],
            &[token("0CQ2", "0H4A", "005B", 1)],
        )
        .await;
        assert_eq!(
            (c.tokens_written, c.tokens_gone, c.users_written),
            (1, 1, 1)
        );
        let kinds: Vec<String> = sqlx::query_scalar!(
            "SELECT kind FROM events WHERE org_id = $1 AND kind <> 'app_first_seen' ORDER BY kind",
            org
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            kinds,
            [
                "policy_changed",
                "token_gone",
                "token_granted",
                "user_deactivated"
            ]
        );
        let deactivated = sqlx::query_scalar!(
            "SELECT deactivated_at FROM sf_users WHERE org_id = $1 AND id = '005A'",
            org
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(
            deactivated.is_some(),
            "the sync that saw the change bounds the deactivation date"
        );
        // The token is gone but remembered.
        let gone = sqlx::query_scalar!(
            "SELECT gone_at FROM sf_tokens WHERE org_id = $1 AND id = '0CQ1'",
            org
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(gone.is_some());
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_sync_that_never_merges_changes_nothing(pool: PgPool) {
        let org = org(&pool).await;
        sync(
            &pool,
            org,
            &[user("005A", true)],
            &[app("0H4A")],
            &[token("0CQ1", "0H4A", "005A", 1)],
        )
        .await;

        // Staged an empty snapshot, then failed before merging.
        let run = start_run(&pool, org, "cli").await.unwrap();
        let mut conn = SyncConn::open(&pool, org).await.unwrap().unwrap();
        conn.stage_tokens(&[]).await.unwrap();
        fail_run(&pool, run, "Salesforce answered 503", 7, "failed")
            .await
            .unwrap();
        conn.close().await;

        assert_eq!(live_tokens(&pool, org).await, 1);
        let status = sqlx::query_scalar!("SELECT last_sync_status FROM orgs WHERE id = $1", org)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(status.as_deref(), Some("failed"));
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn one_sync_per_org_at_a_time_and_nothing_staged_into_templates(pool: PgPool) {
        let org = org(&pool).await;
        let held = SyncConn::open(&pool, org).await.unwrap().unwrap();
        assert!(
            SyncConn::open(&pool, org).await.unwrap().is_none(),
            "second sync of the same org must wait"
        );
        held.close().await;
        assert!(
            SyncConn::open(&pool, org).await.unwrap().is_some(),
            "lock released when the connection closes"
        );
        let err = sqlx::query(
            "INSERT INTO stage_tokens (id, app_key, user_id, app_name) VALUES ('a','b','c','d')",
        )
        .execute(&pool)
        .await
        .unwrap_err();
        assert!(err.to_string().contains("template_only"), "{err}");
    }

    async fn partition_of(pool: &PgPool, org: Uuid) -> Option<String> {
        sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(partition_name(org))
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_first_load_fills_a_partition_and_a_failed_one_leaves_none(pool: PgPool) {
        let org = org(&pool).await;
        let users = [user("005A", true)];
        let apps = [app("0H4A")];
        // Two rows with one id: the primary key, built when the partition is
        // attached, refuses them and the whole merge rolls back.
        let twice = [
            token("0CQ1", "0H4A", "005A", 1),
            token("0CQ1", "0H4A", "005A", 2),
        ];
        assert!(try_sync(&pool, org, &users, &apps, &twice).await.is_err());
        assert_eq!(partition_of(&pool, org).await, None);
        assert_eq!(live_tokens(&pool, org).await, 0);
        let users_stored: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sf_users WHERE org_id = $1")
                .bind(org)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(users_stored, 0, "nothing of the failed merge is kept");

        let first = sync(
            &pool,
            org,
            &users,
            &apps,
            &[token("0CQ1", "0H4A", "005A", 1)],
        )
        .await;
        assert_eq!(first.tokens_written, 1);
        assert_eq!(
            partition_of(&pool, org).await.as_deref(),
            Some(partition_name(org).as_str())
        );
        // However small, a new partition gets statistics at once: without
        // them the summary query nests loops over tokens times users.
        let columns_with_stats: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stats WHERE tablename = $1")
                .bind(partition_name(org))
                .fetch_one(&pool)
                .await
                .unwrap();
        assert!(columns_with_stats > 0, "the new partition was analyzed");
        // Its indexes, built before the ATTACH, are the partitioned
        // indexes' partitions: none missing, none built twice.
        let (indexes, attached, parents): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM pg_index WHERE indrelid = to_regclass($1)),
                    (SELECT count(*) FROM pg_index i JOIN pg_inherits h ON h.inhrelid = i.indexrelid
                     WHERE i.indrelid = to_regclass($1)),
                    (SELECT count(*) FROM pg_index WHERE indrelid = 'sf_tokens'::regclass)",
        )
        .bind(partition_name(org))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((indexes, attached), (parents, parents));
        // Resyncs go through the partition's indexes like any other table.
        let again = sync(
            &pool,
            org,
            &users,
            &apps,
            &[
                token("0CQ1", "0H4A", "005A", 2),
                token("0CQ2", "0H4A", "005A", 0),
            ],
        )
        .await;
        assert_eq!((again.tokens_written, again.tokens_gone), (2, 0));
        let gone = sync(
            &pool,
            org,
            &users,
            &apps,
            &[token("0CQ2", "0H4A", "005A", 0)],
        )
        .await;
        assert_eq!((gone.tokens_written, gone.tokens_gone), (0, 1));
        assert_eq!(live_tokens(&pool, org).await, 1);
    }

    /// A first load copies tokens into a table of their own before the
    /// merge: a process that dies meanwhile leaves it behind, unattached
    /// (never read), and the org's next sync starts it again.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn an_interrupted_first_load_is_started_again(pool: PgPool) {
        let org = org(&pool).await;
        let users = [user("005A", true)];
        let apps = [app("0H4A")];
        let mut conn = SyncConn::open(&pool, org)
            .await
            .unwrap()
            .expect("lock free");
        conn.stage_tokens(&[token("0CQ9", "0H4A", "005A", 1)])
            .await
            .unwrap();
        drop(conn); // killed: no merge, no close
        assert_eq!(
            partition_of(&pool, org).await.as_deref(),
            Some(partition_name(org).as_str()),
            "the interrupted load's table is there"
        );
        assert_eq!(live_tokens(&pool, org).await, 0, "and not read");
        // The dead backend lets go of the org's lock when it notices.
        let mut conn = loop {
            if let Some(c) = SyncConn::open(&pool, org).await.unwrap() {
                break c;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        let run = start_run(&pool, org, "cli").await.unwrap();
        conn.stage_users(&users).await.unwrap();
        conn.stage_apps(&apps).await.unwrap();
        conn.stage_tokens(&[token("0CQ1", "0H4A", "005A", 1)])
            .await
            .unwrap();
        let counts = conn
            .merge(run, Utc::now(), &MergeRules::default())
            .await
            .unwrap();
        conn.close().await;
        assert_eq!(counts.tokens_written, 1);
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM sf_tokens WHERE org_id = $1")
            .bind(org)
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(ids, ["0CQ1"]);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn tokens_stored_outside_a_sync_are_reconciled_in_place(pool: PgPool) {
        let org = org(&pool).await;
        // Written by hand (as before partitions existed): the default partition.
        sqlx::query(
            "INSERT INTO sf_tokens (org_id, id, app_key, user_id, app_name, created_at, use_count, first_seen_at)
             VALUES ($1, '0CQ1', '0H4A', '005A', 'App 0H4A', to_timestamp(1700000000), 3, now()),
                    ($1, '0CQ2', '0H4A', '005A', 'App 0H4A', to_timestamp(1700000000), 0, now())",
        )
        .bind(org)
        .execute(&pool)
        .await
        .unwrap();
        let c = sync(
            &pool,
            org,
            &[user("005A", true)],
            &[app("0H4A")],
            &[token("0CQ1", "0H4A", "005A", 3)],
        )
        .await;
        assert_eq!((c.tokens_written, c.tokens_gone), (0, 1), "{c:?}");
        assert_eq!(partition_of(&pool, org).await, None);
        assert_eq!(live_tokens(&pool, org).await, 1);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn abandoned_runs_are_failed_at_start(pool: PgPool) {
        let org = org(&pool).await;
        let run = start_run(&pool, org, "schedule").await.unwrap();
        assert_eq!(fail_abandoned_runs(&pool).await.unwrap(), 1);
        let status = sqlx::query_scalar!("SELECT status FROM sync_runs WHERE id = $1", run)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(status, "failed");
    }

    type SummaryRow = (
        String,
        i64,
        i64,
        i64,
        Option<DateTime<Utc>>,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    );

    async fn summaries(db: impl sqlx::PgExecutor<'_>, org: Uuid) -> Vec<SummaryRow> {
        sqlx::query_as(
            "SELECT app_key, users, tokens, total_use, last_used_at, requests_24h, errors_24h, requests_7d,
                    errors_7d, stale_tokens, inactive_users
             FROM app_summary WHERE org_id = $1 ORDER BY app_key",
        )
        .bind(org)
        .fetch_all(db)
        .await
        .unwrap()
    }

    /// What a count of every app would make of the org's summaries now
    /// (made and rolled back).
    async fn counted_whole(pool: &PgPool, org: Uuid, now: DateTime<Utc>) -> Vec<SummaryRow> {
        let mut tx = pool.begin().await.unwrap();
        refresh_summaries(&mut tx, org, now, 90, None)
            .await
            .unwrap();
        let rows = summaries(&mut *tx, org).await;
        tx.rollback().await.unwrap();
        rows
    }

    /// A sync that changes a few apps counts only those again, and the
    /// others' stale counts follow the moving cutoff: the summaries are the
    /// ones a count of every app would make, through changes of every kind.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn summaries_counted_in_part_are_those_counted_whole(pool: PgPool) {
        let org = org(&pool).await;
        let t0 = Utc::now();
        let days = |d: f64| Some(t0 - chrono::Duration::seconds((d * 86_400.0) as i64));
        let used =
            |id: &str, app: &str, user: &str, uses: i64, idle: Option<DateTime<Utc>>| StagedToken {
                last_used_at: idle,
                ..token(id, app, user, uses)
            };
        let mut users: Vec<StagedUser> = (1..=6).map(|i| user(&format!("005U{i}"), true)).collect();
        let mut apps: Vec<StagedApp> = [
            "0H4A", "0H4B", "0H4C", "0H4D", "0H4F", "0H4G", "0H4H", "0H4Z",
        ]
        .iter()
        .map(|k| app(k))
        .collect();
        // Around the 90-day cutoff, and never used (created in 2023: stale).
        let mut tokens = vec![
            used("0CQA1", "0H4A", "005U1", 5, days(1.0)),
            used("0CQA2", "0H4A", "005U2", 1, days(89.99)),
            used("0CQB1", "0H4B", "005U1", 7, days(30.0)),
            used("0CQB2", "0H4B", "005U3", 0, None),
            used("0CQC1", "0H4C", "005U2", 2, days(85.0)),
            used("0CQD1", "0H4D", "005U2", 3, days(120.0)),
            used("0CQD2", "0H4D", "005U4", 3, days(2.0)),
            used("0CQF1", "0H4F", "005U5", 1, days(10.0)),
            used("0CQG1", "0H4G", "005U6", 9, days(89.97)),
            used("0CQG2", "0H4G", "005U5", 9, days(88.0)),
            used("0CQG3", "0H4G", "005U4", 9, days(200.0)),
            used("0CQH1", "0H4H", "005U1", 1, days(87.0)),
        ];
        // An app none of the changes below touch, the most of the tokens:
        // idle 80 to 100 days, so that ten days on half of them went stale.
        tokens.extend((0..40u32).map(|i| {
            let user = ["005U1", "005U3", "005U4", "005U5", "005U6"][i as usize % 5];
            used(
                &format!("0CQZ{i:02}"),
                "0H4Z",
                user,
                i64::from(i),
                days(80.0 + f64::from(i) * 0.5),
            )
        }));
        try_sync_at(&pool, org, &users, &apps, &tokens, t0)
            .await
            .unwrap();
        assert_eq!(
            summaries(&pool, org).await,
            counted_whole(&pool, org, t0).await
        );

        // Nothing changed, an hour on: 0CQA2 and 0CQG1 cross the cutoff.
        let t1 = t0 + chrono::Duration::hours(1);
        let quiet = try_sync_at(&pool, org, &users, &apps, &tokens, t1)
            .await
            .unwrap();
        assert_eq!(quiet.apps_recounted, 0);
        let after = summaries(&pool, org).await;
        assert_eq!(after, counted_whole(&pool, org, t1).await);
        let stale_g = after.iter().find(|r| r.0 == "0H4G").unwrap().9;
        assert_eq!(
            stale_g, 2,
            "0CQG1 went stale without its app being counted again"
        );

        // Ten days on, with changes of every kind.
        let t2 = t0 + chrono::Duration::days(10);
        tokens.retain(|t| t.id != "0CQB1" && t.app_key != "0H4F"); // gone; with their app
        apps.retain(|a| a.app_key != "0H4F");
        tokens[0].use_count = Some(6); // 0CQA1 used again
        tokens.push(used("0CQE1", "0H4E", "005U3", 1, days(0.0))); // a new app
        apps.push(app("0H4E"));
        users[1].is_active = false; // 005U2 leaves: 0H4A, 0H4C and 0H4D count them
        let busy = try_sync_at(&pool, org, &users, &apps, &tokens, t2)
            .await
            .unwrap();
        assert!(busy.tokens_written > 0 && busy.tokens_gone > 0 && busy.apps_gone > 0);
        assert!(
            busy.apps_recounted > 0 && busy.apps_recounted < apps.len() as u64,
            "counted in part: {busy:?}"
        );
        assert_eq!(
            summaries(&pool, org).await,
            counted_whole(&pool, org, t2).await
        );

        // Tokens revoked by an action: their app is counted again at once,
        // with the cutoff of the last sync.
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("UPDATE sf_tokens SET gone_at = now() WHERE org_id = $1 AND id = '0CQG2'")
            .bind(org)
            .execute(&mut *tx)
            .await
            .unwrap();
        refresh_app_summaries(&mut tx, org, &["0H4G".to_string()])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            summaries(&pool, org).await,
            counted_whole(&pool, org, t2).await
        );
        let g = summaries(&pool, org)
            .await
            .into_iter()
            .find(|r| r.0 == "0H4G")
            .unwrap();
        assert_eq!((g.2, g.9), (2, 2));

        // And the next quiet sync still agrees.
        let t3 = t2 + chrono::Duration::minutes(15);
        tokens.retain(|t| t.id != "0CQG2");
        try_sync_at(&pool, org, &users, &apps, &tokens, t3)
            .await
            .unwrap();
        assert_eq!(
            summaries(&pool, org).await,
            counted_whole(&pool, org, t3).await
        );
    }
}
