//! One org's sync: pull users, apps, every token, usage and logins from
//! Salesforce into private staging, verify the snapshot is complete, then
//! merge it in one transaction (see `cockpit_db::sync`). Anything that fails
//! before the merge leaves the stored snapshot exactly as it was.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use chrono::{DateTime, NaiveDate, Utc};
use cockpit_db::log_archive::DayUsage;
use cockpit_db::{
    PgPool,
    sync::{MergeCounts, StagedApp, StagedLogins, StagedToken, StagedUsage, StagedUser, SyncConn},
};
use cockpit_domain::secret::Keyring;
use cockpit_salesforce::{
    AppMenuItem, ConnectedApplication, ExternalClientApplication, ExtlClntAppOauthPlcyCnfg,
    LoginHistory, OauthToken, SalesforceClient, SetupAuditTrail, User,
};
use futures::{StreamExt, TryStreamExt};
use tokio::{
    sync::{mpsc, watch},
    task::JoinSet,
};
use uuid::Uuid;

use crate::WorkerError;

/// Rows staged per COPY.
const BATCH: usize = 5_000;

#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// A token unused for this many days is stale.
    pub stale_days: i32,
    /// Days of event logs and login history to read.
    pub usage_days: u32,
    /// Where to report progress (the CLI and the demo draw it).
    pub progress: Option<watch::Sender<SyncProgress>>,
    /// API calls a sync may spend on External Client Apps' user lists (a
    /// call per 100 users of an ECA); the stalest lists go first and the
    /// rest are carried forward, so every ECA refreshes within a few syncs
    /// while a sync costs about one call per 500 tokens.
    pub eca_user_calls: u64,
    /// API calls a sync may spend learning connected apps' consumer keys
    /// from the Metadata API (one listing, then up to 10 apps per call), for
    /// apps whose key is not known yet; 0 turns it off.
    pub app_key_calls: u64,
    /// Days of the log archive kept; `None` keeps everything (the
    /// command-line sync: only `serve` applies the operator's retention).
    pub log_retention_days: Option<i32>,
    /// People holding an app outside the inventory at which it is reported
    /// when it reaches them.
    pub outside_inventory_people: i64,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            stale_days: 90,
            usage_days: 7,
            progress: None,
            eca_user_calls: 20,
            app_key_calls: 3,
            log_retention_days: None,
            outside_inventory_people: cockpit_domain::notify::OUTSIDE_INVENTORY_PEOPLE,
        }
    }
}

/// How far a sync has come.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncProgress {
    pub phase: &'static str,
    pub users: u64,
    pub tokens: u64,
    /// The org's token count, once Salesforce has told it.
    pub tokens_expected: Option<u64>,
}

fn report(settings: &SyncSettings, update: impl FnOnce(&mut SyncProgress)) {
    if let Some(tx) = &settings.progress {
        tx.send_modify(update);
    }
}

#[derive(Debug, Clone)]
pub struct SyncOutcome {
    pub run_id: i64,
    pub users: u64,
    pub apps: u64,
    pub tokens: u64,
    pub token_parts: u64,
    pub api_calls: u64,
    pub merged: MergeCounts,
    /// Seconds each phase took, in order (pulls, then the merge's steps).
    pub phases: Vec<(&'static str, f64)>,
}

/// Syncs one org now. `Err(WorkerError::Busy)` when another process holds
/// the org's sync lock.
pub async fn sync_org(
    pool: &PgPool,
    keyring: Arc<Keyring>,
    org_id: Uuid,
    trigger: &str,
    settings: &SyncSettings,
) -> Result<SyncOutcome, WorkerError> {
    let org = cockpit_db::orgs::get(pool, org_id)
        .await?
        .ok_or(WorkerError::NotFound)?;
    let Some(mut conn) = SyncConn::open(pool, org_id).await? else {
        return Err(WorkerError::Busy);
    };
    let run_id = cockpit_db::sync::start_run(pool, org_id, trigger).await?;
    let previous_status = org.status.clone();
    cockpit_db::orgs::set_status(pool, org_id, "syncing", None).await?;

    let result = async {
        let client = crate::provider::session(pool, keyring, &org)
            .await
            .map_err(WorkerError::during("opening a session with the org"))?;
        conn.lap("session");
        // The logs Salesforce keeps for a day, archived first: the daily
        // usage of each app is read from the archive. A file that cannot be
        // read is noted on the org page and tried again next sync; the days
        // it holds keep the counts they had.
        let archived = crate::log_archive::archive_files(pool, &client, org_id)
            .await
            .map_err(WorkerError::during("listing the event logs (EventLogFile)"))?;
        let since = Utc::now().date_naive() - chrono::Days::new(u64::from(settings.usage_days));
        let usage = cockpit_db::log_archive::usage_since(pool, org_id, since).await?;
        conn.lap("archive logs");
        let outcome = pull(
            &client,
            &mut conn,
            settings,
            org.integration_user_id.as_deref(),
            &usage,
        )
        .await;
        if let Some(usage) = client.api_usage() {
            cockpit_db::orgs::set_api_usage(pool, org_id, usage.used as i64, usage.max as i64)
                .await?;
        }
        let pulled = outcome?;
        let last_pulled = cockpit_db::eca_usage::last_pulled(pool, org_id).await?;
        let eca_usage = crate::eca_usage::pull(&client, &last_pulled, settings.eca_user_calls)
            .await
            .map_err(WorkerError::during("reading External Client App usage"))?;
        cockpit_db::eca_usage::store(pool, org_id, run_id, &eca_usage).await?;
        conn.lap("pull ECA usage");
        let merged = conn
            .merge(
                run_id,
                Utc::now(),
                &cockpit_db::sync::MergeRules {
                    stale_days: settings.stale_days,
                    outside_inventory_people: settings.outside_inventory_people,
                },
            )
            .await
            .map_err(|e| WorkerError::during("merging the snapshot")(e.into()))?;
        // What OauthToken holds per ECA, for the app page. The snapshot is
        // in: a failure here (or a crash) only leaves the count to the first
        // page that needs it.
        if let Err(e) = cockpit_db::eca_usage::count_oauth(pool, org_id, Some(run_id), None).await {
            tracing::warn!(org = %org_id, error = %e, "ECA token counts left to the app pages");
        }
        // After the snapshot is in, so the apps it found are read too; best
        // effort, its calls counted with the run's.
        match crate::app_keys::learn(pool, &client, org_id, settings.app_key_calls).await {
            Ok(n) if n > 0 => tracing::info!(org = %org_id, apps = n, "consumer keys learnt"),
            Ok(_) => {}
            Err(e) => tracing::warn!(org = %org_id, error = %e, "consumer keys not read this time"),
        }
        // Who holds an administrator's rights, for "Where is this app?".
        match crate::admin_grants::read(pool, &client, org_id).await {
            Ok(n) => tracing::debug!(org = %org_id, grants = n, "administrators' rights read"),
            Err(e) => {
                tracing::warn!(org = %org_id, error = %e,
                               "administrators' rights not read this time; the last ones kept");
                if let Err(e) = cockpit_db::admin_grants::recount(pool, org_id).await {
                    tracing::warn!(org = %org_id, error = %e, "administrators not counted this time");
                }
            }
        }
        // Contained incidents' apps in this org: back, or still stopped?
        // Best effort: the snapshot is in either way.
        match crate::watch::check(pool, &client, org_id).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(org = %org_id, findings = n, "a contained app was seen again"),
            Err(e) => {
                tracing::warn!(org = %org_id, error = %e, "contained apps not checked this time")
            }
        }
        // The logs Salesforce keeps for a day, archived, and the active
        // indicator sets matched against them. Best effort: a file that
        // could not be archived is noted on the org page and tried again.
        match crate::log_archive::archive_logins_and_match(
            pool,
            &client,
            org_id,
            org.integration_user_id.as_deref(),
            settings.log_retention_days,
            archived,
        )
        .await
        {
            Ok(r) => tracing::info!(org = %org_id, files = r.files, failed = r.failed, lines = r.lines,
                                    bad_lines = r.bad_lines, logins = r.logins, hits = r.hits, new_sources = r.new_sources, "logs archived"),
            Err(e) => tracing::warn!(org = %org_id, error = %e, "logs not archived this time"),
        }
        // Every call of the run, the consumer-key and watch reads included.
        let api_calls = client.request_count();
        cockpit_db::sync::set_run_api_calls(pool, run_id, api_calls as i64).await?;
        Ok::<_, WorkerError>(SyncOutcome {
            run_id,
            users: pulled.users,
            apps: pulled.apps,
            tokens: pulled.tokens,
            token_parts: pulled.token_parts,
            api_calls,
            merged,
            phases: conn.phases().to_vec(),
        })
    }
    .await;
    conn.close().await;

    match result {
        Ok(outcome) => {
            cockpit_db::orgs::set_status(pool, org_id, "connected", None).await?;
            tracing::info!(org = %org_id, run = run_id, tokens = outcome.tokens, api_calls = outcome.api_calls,
                           written = outcome.merged.rows_written(), "sync succeeded");
            Ok(outcome)
        }
        Err(err) => {
            let message = err.to_string();
            tracing::warn!(org = %org_id, run = run_id, error = %message, "sync failed; previous snapshot kept");
            let status = err
                .org_status()
                .unwrap_or(if previous_status == "needs_reauth" {
                    "needs_reauth"
                } else {
                    "failed"
                });
            cockpit_db::sync::fail_run(pool, run_id, &message, 0, status).await?;
            Err(err)
        }
    }
}

struct Pulled {
    users: u64,
    apps: u64,
    tokens: u64,
    token_parts: u64,
}

async fn pull(
    client: &SalesforceClient,
    conn: &mut SyncConn,
    settings: &SyncSettings,
    integration_user: Option<&str>,
    usage: &[DayUsage],
) -> Result<Pulled, WorkerError> {
    // Users are read while the tokens are (each is a chain of round trips,
    // so together they keep both ends busy); their batches wait in a small
    // channel and are staged on this connection between token batches.
    report(settings, |p| p.phase = "users and tokens");
    let (users_tx, mut users_rx) = mpsc::channel::<Vec<StagedUser>>(4);
    let mut users_task = JoinSet::new();
    let users_client = client.clone();
    users_task.spawn(async move {
        // Deactivation dates first: users are staged with them.
        let deactivations = deactivations(&users_client)
            .await
            .map_err(WorkerError::during(
                "reading deactivations (SetupAuditTrail)",
            ))?;
        fetch_users(&users_client, &deactivations, users_tx)
            .await
            .map_err(WorkerError::during("reading the users (User)"))
    });
    let mut apps = pull_apps(client)
        .await
        .map_err(WorkerError::during("reading the apps"))?;
    conn.lap("pull apps");
    let mut users = 0u64;
    let (tokens, token_parts) =
        pull_tokens(client, conn, &mut apps, settings, &mut users_rx, &mut users)
            .await
            .map_err(WorkerError::during(
                "reading the authorizations (OauthToken)",
            ))?;
    conn.tokens_staged();
    while let Some(batch) = users_rx.recv().await {
        users += conn.stage_users(&batch).await?;
    }
    match users_task.join_next().await {
        Some(Ok(result)) => result?,
        Some(Err(e)) => {
            return Err(WorkerError::Invalid(format!(
                "reading users ended abnormally: {e}"
            )));
        }
        None => {}
    }
    conn.lap("pull users and tokens");
    report(settings, |p| p.users = users);
    let app_count = apps.len() as u64;
    let staged: Vec<StagedApp> = apps.into_values().collect();
    conn.stage_apps(&staged).await?;
    report(settings, |p| p.phase = "usage");
    stage_usage(conn, &staged, usage).await?;
    pull_logins(client, conn, settings.usage_days, integration_user)
        .await
        .map_err(WorkerError::during("reading OAuth logins (LoginHistory)"))?;
    conn.lap("pull usage and logins");
    report(settings, |p| p.phase = "saving");
    Ok(Pulled {
        users,
        apps: app_count,
        tokens,
        token_parts,
    })
}

/// Usernames (lower case) to the time their deactivation was logged. The
/// Display text names the user; its exact wording is not documented, so any
/// word of it that is a username counts.
async fn deactivations(
    client: &SalesforceClient,
) -> Result<Vec<(String, DateTime<Utc>)>, WorkerError> {
    let soql = format!(
        "SELECT {} FROM SetupAuditTrail WHERE Action = 'deactivateduser' ORDER BY CreatedDate DESC",
        SetupAuditTrail::FIELDS
    );
    let rows: Vec<SetupAuditTrail> = client.query(&soql).try_collect().await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(display) = row.display.as_deref() else {
            continue;
        };
        for word in display.split_whitespace() {
            let word = word.trim_matches(|c: char| {
                matches!(c, '(' | ')' | '<' | '>' | ',' | ';' | '"' | '\'')
            });
            if word.contains('@') {
                out.push((word.to_lowercase(), row.created_date));
            }
        }
    }
    Ok(out)
}

/// Reads every user into batches for staging; ends when the receiver is
/// gone (the sync failed elsewhere).
async fn fetch_users(
    client: &SalesforceClient,
    deactivations: &[(String, DateTime<Utc>)],
    out: mpsc::Sender<Vec<StagedUser>>,
) -> Result<(), WorkerError> {
    // Newest entry per user wins (the trail is read newest first).
    let mut deactivated: HashMap<&str, DateTime<Utc>> = HashMap::new();
    for (username, at) in deactivations {
        deactivated.entry(username.as_str()).or_insert(*at);
    }
    let soql = format!("SELECT {} FROM User", User::FIELDS);
    let mut stream = client.query::<User>(&soql);
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(user) = stream.try_next().await? {
        let deactivated_at = if user.is_active {
            None
        } else {
            deactivated
                .get(user.username.to_lowercase().as_str())
                .copied()
        };
        batch.push(StagedUser {
            name: user.name.clone().unwrap_or_else(|| user.username.clone()),
            id: user.id,
            username: user.username,
            email: user.email,
            is_active: user.is_active,
            user_type: user.user_type,
            profile: user.profile.and_then(|p| p.name),
            department: user.department,
            manager_id: user.manager_id,
            manager_name: user.manager.and_then(|m| m.name),
            last_login_at: user.last_login_date,
            created_at: user.created_date,
            deactivated_at,
        });
        if batch.len() == BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if out.send(full).await.is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        let _ = out.send(batch).await;
    }
    Ok(())
}

fn refresh_policy(app: &ConnectedApplication) -> String {
    match app.refresh_token_validity_period {
        None | Some(0) => "valid_until_revoked".to_owned(),
        Some(n) => {
            let kind = if app.options_refresh_token_validity_metric == Some(true) {
                "inactive"
            } else {
                "after"
            };
            format!("expires_{kind}_{n}")
        }
    }
}

/// Every app the org knows, keyed by application id.
async fn pull_apps(client: &SalesforceClient) -> Result<BTreeMap<String, StagedApp>, WorkerError> {
    let mut apps = BTreeMap::new();
    let connected: Vec<ConnectedApplication> = client
        .query(&format!(
            "SELECT {} FROM ConnectedApplication",
            ConnectedApplication::FIELDS
        ))
        .try_collect()
        .await?;
    for app in connected {
        apps.insert(
            app.id.clone(),
            StagedApp {
                app_key: app.id.clone(),
                kind: "connected_app",
                sf_app_id: Some(app.id.clone()),
                name: app.name.clone(),
                installed: false,
                menu_item_id: None,
                consumer_key: None,
                admin_approved_only: app.options_allow_admin_approved_users_only,
                refresh_policy: Some(refresh_policy(&app)),
                ip_relaxation: None,
                permitted_users: Some(
                    if app.options_allow_admin_approved_users_only == Some(true) {
                        "admin_approved_pre_authorized"
                    } else {
                        "all_self_authorized"
                    }
                    .to_owned(),
                ),
            },
        );
    }
    let ecas: Vec<ExternalClientApplication> = client
        .query(&format!(
            "SELECT {} FROM ExternalClientApplication",
            ExternalClientApplication::FIELDS
        ))
        .try_collect()
        .await?;
    for eca in ecas {
        let name = eca
            .master_label
            .clone()
            .or(eca.developer_name.clone())
            .unwrap_or_else(|| eca.id.clone());
        apps.insert(
            eca.id.clone(),
            StagedApp {
                app_key: eca.id.clone(),
                kind: "external_client_app",
                sf_app_id: Some(eca.id.clone()),
                name,
                installed: false,
                menu_item_id: None,
                consumer_key: None,
                admin_approved_only: None,
                refresh_policy: None,
                ip_relaxation: None,
                permitted_users: None,
            },
        );
    }
    let policies: Vec<ExtlClntAppOauthPlcyCnfg> = client
        .query(&format!(
            "SELECT {} FROM ExtlClntAppOauthPlcyCnfg",
            ExtlClntAppOauthPlcyCnfg::FIELDS
        ))
        .try_collect()
        .await?;
    for policy in policies {
        if let Some(app) = apps.get_mut(&policy.external_client_application_id) {
            app.admin_approved_only = policy
                .permitted_users_policy_type
                .as_deref()
                .map(|p| p == "AdminApprovedPreAuthorized");
            app.permitted_users = policy.permitted_users_policy_type;
        }
    }
    let items: Vec<AppMenuItem> = client
        .query(&format!(
            "SELECT {} FROM AppMenuItem WHERE Type = 'ConnectedApplication'",
            AppMenuItem::FIELDS
        ))
        .try_collect()
        .await?;
    for item in items {
        if let Some(app) = item
            .application_id
            .as_deref()
            .and_then(|id| apps.get_mut(id))
        {
            app.installed = true;
            app.menu_item_id = Some(item.id);
        }
    }
    Ok(apps)
}

/// The app a token belongs to: its AppMenuItem's application when it has
/// one, else the app of that name, else an app known only by name (an
/// uninstalled app, whose tokens carry no AppMenuItem).
fn token_app_key(
    token: &OauthToken,
    apps: &mut BTreeMap<String, StagedApp>,
    by_name: &mut HashMap<String, String>,
) -> (String, String) {
    let app_name = token
        .app_name
        .clone()
        .or_else(|| token.app_menu_item.as_ref().and_then(|m| m.label.clone()))
        .unwrap_or_else(|| "(unnamed app)".to_owned());
    if let Some(app_id) = token
        .app_menu_item
        .as_ref()
        .and_then(|m| m.application_id.as_deref())
        && apps.contains_key(app_id)
    {
        return (app_id.to_owned(), app_name);
    }
    if by_name.is_empty() {
        for (key, app) in apps.iter() {
            by_name
                .entry(app.name.clone())
                .or_insert_with(|| key.clone());
        }
    }
    if let Some(key) = by_name.get(&app_name) {
        return (key.clone(), app_name);
    }
    let key = format!("name:{app_name}");
    apps.entry(key.clone()).or_insert_with(|| StagedApp {
        app_key: key.clone(),
        kind: "unknown",
        sf_app_id: None,
        name: app_name.clone(),
        installed: false,
        menu_item_id: None,
        consumer_key: None,
        admin_approved_only: None,
        refresh_policy: None,
        ip_relaxation: None,
        permitted_users: None,
    });
    by_name.insert(app_name.clone(), key.clone());
    (key, app_name)
}

/// Stages every token; the user batches that are ready by then are staged
/// between token batches (`users` counts them).
async fn pull_tokens(
    client: &SalesforceClient,
    conn: &mut SyncConn,
    apps: &mut BTreeMap<String, StagedApp>,
    settings: &SyncSettings,
    users_rx: &mut mpsc::Receiver<Vec<StagedUser>>,
    users: &mut u64,
) -> Result<(u64, u64), WorkerError> {
    let mut stream = client.oauth_tokens_complete_with(OauthToken::SYNC_FIELDS);
    let mut by_name = HashMap::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut n = 0;
    while let Some(token) = stream.try_next().await? {
        let (app_key, app_name) = token_app_key(&token, apps, &mut by_name);
        let Some(user_id) = token.user_id.clone() else {
            continue;
        };
        batch.push(StagedToken {
            id: token.id,
            app_key,
            user_id,
            app_name,
            created_at: Some(token.created_date),
            last_used_at: token.last_used_date,
            use_count: token.use_count,
        });
        if batch.len() == BATCH {
            n += conn.stage_tokens(&batch).await?;
            batch.clear();
            while let Ok(user_batch) = users_rx.try_recv() {
                *users += conn.stage_users(&user_batch).await?;
                report(settings, |p| p.users = *users);
            }
            let expected = stream.stats().expected;
            report(settings, |p| {
                p.tokens = n;
                p.tokens_expected = expected;
            });
        }
    }
    n += conn.stage_tokens(&batch).await?;
    report(settings, |p| p.tokens = n);
    let stats = stream.stats();
    if !stats.complete {
        return Err(WorkerError::Invalid(
            "the token list from Salesforce was not complete".into(),
        ));
    }
    Ok((n, stats.parts))
}

/// Requests, errors and requests by HTTP status of one app on one day.
type Totals = (i64, i64, BTreeMap<u16, i64>);

/// Each app's calls per day, from the archive (ApiTotalUsage), for the apps
/// of this snapshot: by the app's id, or its name where the log gave none.
async fn stage_usage(
    conn: &mut SyncConn,
    apps: &[StagedApp],
    usage: &[DayUsage],
) -> Result<(), WorkerError> {
    let keys: std::collections::HashSet<&str> = apps.iter().map(|a| a.app_key.as_str()).collect();
    let by_name: HashMap<&str, &str> = apps
        .iter()
        .map(|a| (a.name.as_str(), a.app_key.as_str()))
        .collect();
    let mut totals: BTreeMap<(String, NaiveDate), Totals> = BTreeMap::new();
    for u in usage {
        let key = match u.app_key.as_deref() {
            Some(k) if keys.contains(k) => k,
            _ => match u.app_name.as_deref().and_then(|n| by_name.get(n)) {
                Some(k) => *k,
                None => continue, // not an app's call (UI, Salesforce itself)
            },
        };
        let entry = totals.entry((key.to_owned(), u.day)).or_default();
        entry.0 += u.requests;
        entry.1 += u.errors;
        *entry.2.entry(u.status.unwrap_or(0) as u16).or_default() += u.requests;
    }
    let staged: Vec<StagedUsage> = totals
        .into_iter()
        .map(
            |((app_key, day), (requests, errors, by_status))| StagedUsage {
                app_key,
                day,
                requests,
                errors,
                by_status: serde_json::to_value(
                    by_status
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<BTreeMap<_, _>>(),
                )
                .unwrap_or_default(),
            },
        )
        .collect();
    conn.stage_usage(&staged).await?;
    Ok(())
}

async fn pull_logins(
    client: &SalesforceClient,
    conn: &mut SyncConn,
    days: u32,
    integration_user: Option<&str>,
) -> Result<(), WorkerError> {
    // Application and Status are not filterable: filter by login type and
    // count client-side. The window starts at a midnight so that its first
    // day is whole, and stays the same between syncs of the same day.
    let since = (Utc::now().date_naive() - chrono::Days::new(u64::from(days)))
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or_else(Utc::now);
    let soql = format!(
        "SELECT {} FROM LoginHistory WHERE LoginType = 'Remote Access 2.0' AND LoginTime >= {}",
        LoginHistory::FIELDS,
        cockpit_salesforce::records::soql_datetime(since)
    );
    let mut totals: BTreeMap<(String, NaiveDate), (i64, i64)> = BTreeMap::new();
    let mut stream = client.query::<LoginHistory>(&soql).boxed();
    while let Some(login) = stream.try_next().await? {
        let Some(app) = login.application else {
            continue;
        };
        if login.user_id.is_some() && login.user_id.as_deref() == integration_user {
            continue; // the cockpit's own sessions
        }
        let entry = totals
            .entry((app, login.login_time.date_naive()))
            .or_default();
        if login.status.as_deref() == Some("Success") {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    let staged: Vec<StagedLogins> = totals
        .into_iter()
        .map(|((app_name, day), (successes, failures))| StagedLogins {
            app_name,
            day,
            successes,
            failures,
        })
        .collect();
    conn.stage_logins(&staged).await?;
    Ok(())
}
