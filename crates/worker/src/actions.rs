//! The action executor: works a requested action to the end, resuming after
//! a restart where it stopped. Each authorization is revoked at most once: an
//! item is marked right after Salesforce answers, and an item left pending by
//! a crash is re-queried first — if its token is gone, it is not sent again.

use std::{collections::HashSet, sync::Arc};

use cockpit_db::{
    PgPool,
    actions::{self, ActionRow},
};
use cockpit_domain::secret::Keyring;
use cockpit_salesforce::{
    BlockTarget, DeleteToken, Error as SfError, SalesforceClient, developer_name,
    records::OauthToken,
};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;

use crate::WorkerError;

/// The default ceiling of revokes in flight at once per action (and so per
/// org: one action of an org runs at a time); within it the number adapts
/// ([`crate::window`]).
pub const MAX_IN_FLIGHT: usize = 10;
/// Ids per re-query of OauthToken.
const BATCH: usize = 200;
/// Answers of revokes written to the database at once.
const RECORD_EVERY: usize = 25;
/// Re-queries in flight at once while verifying.
const VERIFY_IN_FLIGHT: usize = 4;
/// Revoke calls per authorization before it is reported failed.
pub const MAX_ATTEMPTS: i32 = 5;
/// Runs of an action's job that a transient error may end before the action
/// stops and reports what is left as failed (with backoff: about 15 minutes).
pub const MAX_RUNS: i32 = 8;

const ACTOR: &str = "system:executor";

/// What the runner should do with the action's job.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Done(String),
    /// Try again after this many seconds without counting an attempt
    /// (Salesforce said to slow down, or another action of the org is
    /// running).
    Later(String, i64),
    /// A transient error stopped the run (Salesforce unreachable, a 5xx, a
    /// cut-off answer): run the job again after a backoff. What was done is
    /// recorded; the rest is still pending.
    Retry {
        why: String,
        /// Whether the run recorded anything before it stopped: runs that
        /// make progress do not count towards [`MAX_RUNS`].
        progressed: bool,
    },
}

/// Errors worth another try after a pause: the same request may well succeed.
pub fn is_transient(e: &WorkerError) -> bool {
    match e {
        WorkerError::Db(_) => true,
        WorkerError::Salesforce(e) => matches!(
            e,
            SfError::Unreachable { .. }
                | SfError::Timeout { .. }
                | SfError::Network { .. }
                | SfError::Truncated { .. }
                | SfError::InvalidSession
                | SfError::DeployTimeout { .. }
                | SfError::Http {
                    status: 429 | 500..=599,
                    ..
                }
                | SfError::NotJson {
                    status: 429 | 500..=599,
                    ..
                }
        ),
        _ => false,
    }
}

/// The pause before run `attempt` (1-based) of a job that failed
/// transiently: doubling from 5 s, capped at 5 minutes, with jitter so that
/// many actions failing together do not come back together.
pub fn backoff(attempt: i32) -> std::time::Duration {
    let ceiling = 5u64
        .saturating_mul(1 << attempt.clamp(1, 16).saturating_sub(1))
        .min(300);
    let ms = rand::random_range(ceiling * 500..=ceiling * 1000);
    std::time::Duration::from_millis(ms)
}

/// Stops an action for good after its runs are spent: every item still
/// pending is failed with `reason`, and the action finishes.
pub async fn give_up(pool: &PgPool, id: i64, reason: &str) -> Result<String, WorkerError> {
    actions::fail_pending(pool, id, reason).await?;
    Ok(actions::finish(pool, id, ACTOR, Some(reason)).await?)
}

fn lock_key(org: uuid::Uuid) -> i64 {
    let b = org.as_bytes();
    i64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]) ^ 0x4143_5453 // "ACTS"
}

#[derive(Deserialize)]
struct TokenRow {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "DeleteToken")]
    delete_token: Option<DeleteToken>,
}

fn quoted(ids: &[String]) -> String {
    ids.iter()
        .filter(|id| id.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The tokens of `ids` that still exist, with their DeleteTokens.
async fn still_there(client: &SalesforceClient, ids: &[String]) -> Result<Vec<TokenRow>, SfError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let soql = format!(
        "SELECT Id, DeleteToken FROM OauthToken WHERE Id IN ({})",
        quoted(ids)
    );
    client.query::<TokenRow>(&soql).try_collect().await
}

fn is_invalid_token(e: &SfError) -> bool {
    matches!(e, SfError::OAuth { code, .. } if code == "invalid_token")
        || matches!(e, SfError::Http { status: 400, .. }) && e.to_string().contains("invalid_token")
}

fn slow_down(e: &SfError) -> bool {
    matches!(
        e,
        SfError::RequestLimitExceeded { .. } | SfError::BudgetPaused { .. }
    )
}

/// Runs one action as far as it can go, with the default ceiling of calls
/// in flight.
pub async fn execute(pool: &PgPool, keyring: Arc<Keyring>, id: i64) -> Result<Next, WorkerError> {
    execute_with(pool, keyring, id, MAX_IN_FLIGHT).await
}

/// Runs one action as far as it can go, never more than `ceiling` calls in
/// flight at its org.
pub async fn execute_with(
    pool: &PgPool,
    keyring: Arc<Keyring>,
    id: i64,
    ceiling: usize,
) -> Result<Next, WorkerError> {
    let action = actions::get(pool, id).await?.ok_or(WorkerError::NotFound)?;
    if !matches!(action.status.as_str(), "pending" | "running") {
        return Ok(Next::Done(action.status));
    }
    if actions::block_of_containment_open(pool, id).await? {
        // A containment blocks first, so that no token of the app can be
        // used while the revocation runs.
        return Ok(Next::Later(
            "the containment's block in this org goes first".into(),
            2,
        ));
    }
    let org = cockpit_db::orgs::get(pool, action.org_id)
        .await?
        .ok_or(WorkerError::NotFound)?;
    // One action per org at a time, across processes. The lock lives on a
    // connection of its own, closed (never returned to the pool) at the end,
    // so it is released whatever happens, a crash included.
    let mut lock = pool.acquire().await?;
    let got = sqlx::query_scalar!(
        "SELECT pg_try_advisory_lock($1) AS \"got!\"",
        lock_key(org.id)
    )
    .fetch_one(&mut *lock)
    .await?;
    if !got {
        return Ok(Next::Later(
            "another action of this org is running".into(),
            5,
        ));
    }
    let result = run_locked(pool, keyring, &action, &org, ceiling).await;
    drop(lock.detach());
    result
}

async fn run_locked(
    pool: &PgPool,
    keyring: Arc<Keyring>,
    action: &ActionRow,
    org: &cockpit_db::orgs::OrgRow,
    ceiling: usize,
) -> Result<Next, WorkerError> {
    let id = action.id;
    actions::mark_running(pool, id).await?;
    // Every error below, from opening the session to the verification, is
    // either transient (the job runs again after a backoff, the items stay
    // pending) or final (the items left are failed with the reason); none
    // leaves an item pending with no job to take it up.
    let attempts_before = actions::attempts_made(pool, id).await?;
    let outcome = async {
        let client = crate::provider::session(pool, keyring, org).await?;
        match action.kind.as_str() {
            "block_app" => block(pool, &client, action, true).await?,
            "unblock_app" => block(pool, &client, action, false).await?,
            kind => {
                if kind == "revoke_app_all" {
                    top_up(pool, &client, action).await?;
                }
                revoke_items(pool, &client, id, ceiling).await?
            }
        }
        verify(pool, &client, id).await
    }
    .await;
    match outcome {
        Ok(()) => Ok(Next::Done(actions::finish(pool, id, ACTOR, None).await?)),
        Err(WorkerError::Salesforce(e)) if slow_down(&e) => Ok(Next::Later(e.to_string(), 60)),
        Err(e) if is_transient(&e) => Ok(Next::Retry {
            why: e.to_string(),
            progressed: actions::attempts_made(pool, id).await? > attempts_before,
        }),
        Err(e) => Ok(Next::Done(give_up(pool, id, &e.to_string()).await?)),
    }
}

async fn revoke_items(
    pool: &PgPool,
    client: &SalesforceClient,
    id: i64,
    ceiling: usize,
) -> Result<(), WorkerError> {
    let mut window = crate::window::Window::new(ceiling);
    let mut pushbacks = client.pushback_count();
    let result = revoke_batches(pool, client, id, &mut window, &mut pushbacks).await;
    tracing::info!(
        action = id,
        peak_in_flight = window.peak,
        mean_in_flight = window.mean(),
        "revokes sent"
    );
    if window.peak > 0 {
        actions::note_in_flight(pool, id, window.peak, window.mean()).await?;
    }
    result
}

async fn revoke_batches(
    pool: &PgPool,
    client: &SalesforceClient,
    id: i64,
    window: &mut crate::window::Window,
    pushbacks: &mut u64,
) -> Result<(), WorkerError> {
    // Passes over the items to try until one finds none: items a pass left
    // pending (an answer worth another attempt) are taken by the next.
    while revoke_pass(pool, client, id, window, pushbacks).await? > 0 {}
    Ok(())
}

/// One pass over the action's items to try, in token order. A reader takes
/// them a batch at a time, re-queries each batch for the tokens still there
/// (and their DeleteTokens) and hands those on; the revokes run as they come,
/// so the next batch is read while this one's revokes are in flight and the
/// window stays full from the first batch to the last. Returns how many
/// items the pass took.
async fn revoke_pass(
    pool: &PgPool,
    client: &SalesforceClient,
    id: i64,
    window: &mut crate::window::Window,
    pushbacks: &mut u64,
) -> Result<usize, WorkerError> {
    // Room for one batch ahead of the revokes.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(TokenRow, i32)>(BATCH);
    let reader = async move {
        let mut after = String::new();
        let mut taken = 0;
        loop {
            let items = actions::items_to_try(pool, id, MAX_ATTEMPTS, &after, BATCH as i64).await?;
            let Some(last) = items.last() else {
                return Ok::<_, WorkerError>(taken);
            };
            after = last.token_id.clone();
            taken += items.len();
            let ids: Vec<String> = items.iter().map(|i| i.token_id.clone()).collect();
            let present = still_there(client, &ids).await?;
            let present_ids: HashSet<&str> = present.iter().map(|t| t.id.as_str()).collect();
            let gone: Vec<_> = ids
                .iter()
                .filter(|i| !present_ids.contains(i.as_str()))
                .map(|i| (i.clone(), "gone", None))
                .collect();
            actions::set_items(pool, id, &gone).await?;
            for t in present {
                let attempts = items
                    .iter()
                    .find(|i| i.token_id == t.id)
                    .map_or(0, |i| i.attempts);
                if tx.send((t, attempts)).await.is_err() {
                    // The revokes stopped (Salesforce pushed back, or an
                    // error): what is left stays pending for the next run.
                    return Ok(taken);
                }
            }
        }
    };
    let revokes = async move {
        let mut running = futures::stream::FuturesUnordered::new();
        let mut open = true;
        let mut limited = None;
        let mut transient = None;
        // Revokes started, and the most this run starts: after a transient
        // error, one batch more, so that every item of a failing org still
        // spends its attempts in a bounded number of runs without a burst
        // of the whole action against an org in trouble.
        let mut started = 0usize;
        let mut stop_at = usize::MAX;
        // Answers are recorded a few at a time: one write per answer would
        // hold up the next calls. A crash leaves at most the revokes in
        // flight and the answers not yet written unrecorded; the re-query
        // after a restart finds those tokens gone and does not resend.
        let mut answers: Vec<(String, &'static str, Option<String>)> = Vec::new();
        loop {
            if answers.len() >= RECORD_EVERY {
                actions::set_items(pool, id, &answers).await?;
                answers.clear();
            }
            let taking = open && limited.is_none() && started < stop_at;
            if running.is_empty() {
                if !taking {
                    break;
                }
                // Nothing in flight: what was answered shows while the next
                // batch is read.
                actions::set_items(pool, id, &answers).await?;
                answers.clear();
                match rx.recv().await {
                    Some((t, attempts)) => {
                        running.push(revoke_one(client, t, attempts));
                        started += 1;
                        window.sample(running.len());
                    }
                    None => open = false,
                }
                continue;
            }
            let room = taking && running.len() < window.allowed();
            tokio::select! {
                next = rx.recv(), if room => match next {
                    Some((t, attempts)) => {
                        running.push(revoke_one(client, t, attempts));
                        started += 1;
                        window.sample(running.len());
                    }
                    None => open = false,
                },
                Some((token, attempts, result, took)) = running.next() => {
                    let now = client.pushback_count();
                    if now > *pushbacks {
                        *pushbacks = now;
                        window.pushed_back();
                    } else if result.is_ok() {
                        window.answered(took);
                    }
                    match result {
                        Ok(()) => answers.push((token, "revoked", None)),
                        // Possibly revoked meanwhile: the verification re-query decides.
                        Err(e) if is_invalid_token(&e) => {
                            answers.push((token, "pending", Some("invalid_token".into())))
                        }
                        Err(e) if slow_down(&e) => {
                            answers.push((token, "pending", Some(e.to_string())));
                            limited = Some(e);
                        }
                        Err(e) => {
                            let status = if attempts + 1 >= MAX_ATTEMPTS {
                                "failed"
                            } else {
                                "pending"
                            };
                            answers.push((token, status, Some(e.to_string())));
                            let e = WorkerError::from(e);
                            if is_transient(&e) {
                                if transient.is_none() {
                                    stop_at = started + BATCH;
                                }
                                transient = Some(e);
                            }
                        }
                    }
                }
            }
        }
        actions::set_items(pool, id, &answers).await?;
        // Closing the channel stops the reader.
        drop(rx);
        Ok::<_, WorkerError>((limited, transient))
    };
    let (read, revoked) = tokio::join!(reader, revokes);
    let (limited, transient) = revoked?;
    if let Some(e) = limited {
        return Err(e.into());
    }
    let taken = read?;
    // The org is having trouble: back off before the next try rather than
    // spend the items' attempts in a burst.
    if let Some(e) = transient {
        return Err(e);
    }
    Ok(taken)
}

/// Revokes one authorization: its id, the attempts before this one, the
/// answer and how long it took.
async fn revoke_one(
    client: &SalesforceClient,
    t: TokenRow,
    attempts: i32,
) -> (String, i32, Result<(), SfError>, std::time::Duration) {
    let started = std::time::Instant::now();
    let r = match &t.delete_token {
        Some(dt) => client.revoke_delete_token(dt).await,
        None => Err(SfError::Protocol(
            "Salesforce returned no DeleteToken for this authorization".into(),
        )),
    };
    (t.id, attempts, r, started.elapsed())
}

/// A Revoke All is planned from the last sync's snapshot; when it runs,
/// the app's authorizations granted since that sync began are read from
/// Salesforce and added, so a grant made after the confirmation page is
/// revoked too (an incident's containment relies on it).
async fn top_up(
    pool: &PgPool,
    client: &SalesforceClient,
    action: &ActionRow,
) -> Result<u64, WorkerError> {
    let Some(app_key) = action.app_key.as_deref() else {
        return Ok(0);
    };
    let Some(app_name) = sqlx::query_scalar!(
        "SELECT name FROM sf_apps WHERE org_id = $1 AND app_key = $2",
        action.org_id,
        app_key
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(0);
    };
    let since = sqlx::query_scalar!(
        "SELECT max(started_at) FROM sync_runs WHERE org_id = $1 AND status = 'succeeded'",
        action.org_id
    )
    .fetch_one(pool)
    .await?
    .unwrap_or(action.requested_at)
        - chrono::Duration::minutes(1);
    let soql = format!(
        "SELECT {} FROM OauthToken WHERE CreatedDate >= {}",
        OauthToken::FIELDS,
        cockpit_salesforce::records::soql_datetime(since)
    );
    let fresh: Vec<(String, String)> = client
        .query::<OauthToken>(&soql)
        .try_collect::<Vec<_>>()
        .await?
        .into_iter()
        .filter(|t| {
            let by_app = t
                .app_menu_item
                .as_ref()
                .and_then(|m| m.application_id.as_deref())
                == Some(app_key);
            by_app || t.app_name.as_deref() == Some(app_name.as_str())
        })
        .map(|t| (t.id, t.user_id.unwrap_or_default()))
        .collect();
    let added = actions::add_items(pool, action.id, app_key, &fresh).await?;
    if added > 0 {
        tracing::info!(
            action = action.id,
            added,
            "authorizations granted since the plan added"
        );
    }
    Ok(added)
}

/// The ids of `chunk`'s tokens that are still there, with the chunk.
async fn present_in<'a>(
    client: &SalesforceClient,
    chunk: &'a [&'a actions::ItemRow],
) -> Result<(&'a [&'a actions::ItemRow], HashSet<String>), SfError> {
    let ids: Vec<String> = chunk.iter().map(|i| i.token_id.clone()).collect();
    let present = still_there(client, &ids).await?;
    Ok((chunk, present.into_iter().map(|t| t.id).collect()))
}

/// Re-queries Salesforce for every item not yet confirmed gone: the outcome
/// an admin sees is what Salesforce says after the action, not what it said
/// during it.
async fn verify(pool: &PgPool, client: &SalesforceClient, id: i64) -> Result<(), WorkerError> {
    let items = actions::items(pool, id, None, i64::MAX).await?;
    let check: Vec<_> = items.iter().filter(|i| i.status != "gone").collect();
    // A few re-queries at once: with Salesforce's latency, one at a time
    // would make verifying a large action take as long as a tenth of it.
    let mut chunks = check.chunks(BATCH);
    let mut answers = futures::stream::FuturesOrdered::new();
    loop {
        while answers.len() < VERIFY_IN_FLIGHT {
            let Some(chunk) = chunks.next() else { break };
            answers.push_back(present_in(client, chunk));
        }
        let Some(answer) = answers.next().await else {
            break;
        };
        let (chunk, present) = answer?;
        // The chunk's outcomes in one write.
        let outcomes: Vec<_> = chunk
            .iter()
            .filter_map(|item| {
                let outcome = match (present.contains(&item.token_id), item.status.as_str()) {
                    (false, "revoked") => return None,
                    (false, _) => ("gone", None),
                    (true, "revoked") => (
                        "failed",
                        Some("still present after Salesforce confirmed the revoke".to_owned()),
                    ),
                    (true, "pending") if item.attempts >= MAX_ATTEMPTS => {
                        ("failed", item.error.clone())
                    }
                    (true, _) => return None,
                };
                Some((item.token_id.clone(), outcome.0, outcome.1))
            })
            .collect();
        actions::set_items(pool, id, &outcomes).await?;
    }
    Ok(())
}

/// Blocks (or unblocks) a connected app org-wide with a BlacklistedConsumer
/// metadata deploy, which succeeds only once the deploy has. Salesforce then
/// ends the app's sessions and refuses it; its authorizations stay until
/// revoked.
async fn block(
    pool: &PgPool,
    client: &SalesforceClient,
    action: &ActionRow,
    block: bool,
) -> Result<(), WorkerError> {
    let app_key = action
        .app_key
        .as_deref()
        .ok_or_else(|| WorkerError::Invalid("the action names no app".into()))?;
    let app = sqlx::query!(
        "SELECT name, kind, sf_app_id, consumer_key FROM sf_apps WHERE org_id = $1 AND app_key = $2",
        action.org_id,
        app_key
    )
    .fetch_optional(pool)
    .await?
    .ok_or(WorkerError::NotFound)?;
    if app.kind == "external_client_app" {
        let eca = app
            .sf_app_id
            .as_deref()
            .ok_or_else(|| WorkerError::Invalid("the app has no id".into()))?;
        return set_eca_enabled(client, eca, !block).await;
    }
    let name = developer_name(&app.name);
    if !block {
        client.unblock_connected_app(&name).await?;
        return Ok(());
    }
    let consumer_key = match app.consumer_key {
        Some(k) => k,
        None => consumer_key_of(client, &app.name).await?,
    };
    client
        .block_connected_app(&BlockTarget {
            developer_name: name,
            consumer_key: consumer_key.clone(),
            label: app.name.clone(),
        })
        .await?;
    sqlx::query!(
        "UPDATE sf_apps SET consumer_key = $3 WHERE org_id = $1 AND app_key = $2",
        action.org_id,
        app_key,
        consumer_key
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Blocks (or unblocks) an External Client App by deploying its configurable
/// policies with `isEnabled` off (on), then reads the policies back: the
/// outcome is what the org says afterwards. Its authorizations are kept.
async fn set_eca_enabled(
    client: &SalesforceClient,
    eca_id: &str,
    enabled: bool,
) -> Result<(), WorkerError> {
    let dev = eca_developer_name(client, eca_id).await?;
    client.set_eca_enabled(&dev, enabled).await?;
    let read = client.read_eca_policies(&[&dev]).await?;
    match read.first().and_then(|p| p.is_enabled) {
        Some(now) if now == enabled => Ok(()),
        _ => Err(WorkerError::Invalid(format!(
            "Salesforce accepted the deploy but the app's policies do not read back isEnabled={enabled}"
        ))),
    }
}

/// The developer name of the External Client App `eca_id`, which its
/// metadata is named by.
pub(crate) async fn eca_developer_name(
    client: &SalesforceClient,
    eca_id: &str,
) -> Result<String, WorkerError> {
    #[derive(Deserialize)]
    struct Eca {
        #[serde(rename = "DeveloperName")]
        developer_name: Option<String>,
    }
    let soql = format!(
        "SELECT DeveloperName FROM ExternalClientApplication WHERE Id IN ({})",
        quoted(&[eca_id.to_owned()])
    );
    let found: Vec<Eca> = client.query::<Eca>(&soql).try_collect().await?;
    found
        .into_iter()
        .find_map(|e| e.developer_name)
        .ok_or_else(|| {
            WorkerError::Invalid("the External Client App is no longer in the org".into())
        })
}

/// The consumer key of a connected app, read from its metadata.
async fn consumer_key_of(client: &SalesforceClient, app_name: &str) -> Result<String, WorkerError> {
    let listed = client.list_metadata("ConnectedApp").await?;
    let wanted = developer_name(app_name);
    let mut names: Vec<&str> = listed
        .iter()
        .map(|m| m.full_name.as_str())
        .filter(|n| n.eq_ignore_ascii_case(&wanted))
        .collect();
    if names.is_empty() {
        names = listed.iter().map(|m| m.full_name.as_str()).collect();
    }
    let read = client.read_connected_apps(&names).await?;
    read.into_iter()
        .find(|m| m.label.as_deref() == Some(app_name) || m.full_name.eq_ignore_ascii_case(&wanted))
        .and_then(|m| m.consumer_key)
        .ok_or_else(|| {
            WorkerError::Invalid(format!(
                "the consumer key of {app_name:?} cannot be read from the org's metadata, so it cannot be blocked \
                 through the API; block it in Setup, or revoke all its authorizations instead"
            ))
        })
}
