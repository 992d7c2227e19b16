//! The read side of the API: the same queries the pages run, as JSON, in
//! keyset pages (`next` is the `after` of the following page; `null` on the
//! last one).

use axum::{Json, extract::State};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use cockpit_domain::role::Role;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ApiCaller, ApiQuery, bad_cursor};
use crate::{
    ApiError, AppError, AppState,
    auth::scope::{Anywhere, AppId, In, PersonId, Viewer},
    pages::{
        app_detail, app_search, apps, audit as audit_page, report_new_apps, report_offboarding,
        report_stale, user_detail, users as users_page,
    },
};

type ApiResult = Result<Json<Value>, ApiError>;

/// `{"items": [...], "next": ...}` from rows fetched with `limit + 1`.
fn paged<T: Serialize>(mut rows: Vec<T>, limit: i64, cursor: impl Fn(&T) -> String) -> Value {
    let next = (rows.len() as i64 > limit).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(&cursor)
    });
    json!({ "items": rows, "next": next.flatten() })
}

/// A value that must be one of `allowed` when given.
fn one_of(name: &str, value: Option<&str>, allowed: &[&str]) -> Result<(), AppError> {
    match value.filter(|v| !v.is_empty()) {
        Some(v) if !allowed.contains(&v) => Err(AppError::BadRequest(format!(
            "{name} must be one of: {}.",
            allowed.join(", ")
        ))),
        _ => Ok(()),
    }
}

fn date(name: &str, value: Option<&str>) -> Result<Option<NaiveDate>, AppError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| AppError::BadRequest(format!("{name} is a date written 2026-11-22."))),
    }
}

fn cursor<T>(
    value: Option<&str>,
    decode: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, AppError> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => decode(v).map(Some).ok_or_else(|| bad_cursor("after")),
    }
}

#[derive(Serialize)]
struct AppItem {
    #[serde(flatten)]
    row: apps::AppRow,
    flags: Vec<&'static str>,
}

/// Apps in the apps page's filter and order; `after` must come from a
/// request with the same filter and sort.
async fn app_list(state: &AppState, filter: &apps::Filter) -> ApiResult {
    let rows = apps::fetch(&state.pool, filter, apps::PAGE + 1).await?;
    let items = rows
        .into_iter()
        .map(|row| AppItem {
            flags: row.flags().into_iter().map(|(k, _)| k).collect(),
            row,
        })
        .collect();
    Ok(Json(paged(items, apps::PAGE, |i: &AppItem| {
        i.row.cursor().encode()
    })))
}

/// `GET /api/v1/apps`: `org`, `q`, `kind`, `flag`, `since`, `sort`, `dir`,
/// `after`, as on the apps page.
pub async fn apps(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<apps::AppsQuery>,
) -> ApiResult {
    let org = caller.list_org(q.org.as_deref())?;
    let sorts: Vec<&str> = apps::COLUMNS
        .iter()
        .map(|(k, _, _)| *k)
        .filter(|k| *k != "flags")
        .collect();
    one_of("sort", q.sort.as_deref(), &sorts)?;
    one_of("dir", q.dir.as_deref(), &["asc", "desc"])?;
    one_of("kind", q.kind.as_deref(), &apps::KINDS.map(|(k, _)| k))?;
    one_of("flag", q.flag.as_deref(), &apps::FLAGS.map(|(k, _)| k))?;
    date("since", q.since.as_deref())?;
    cursor(q.after.as_deref(), apps::Cursor::decode)?;
    let mut filter = apps::Filter::parse(q);
    filter.org = org;
    app_list(&state, &filter).await
}

/// `GET /api/v1/apps/where?q=`: "Where is this app?" across the token's
/// orgs (or the one `org`): by name (contains, any case), consumer key or
/// app id.
pub async fn apps_where(
    State(state): State<AppState>,
    caller: ApiCaller,
    _: Anywhere<Viewer>,
    ApiQuery(w): ApiQuery<app_search::WhereQuery>,
) -> ApiResult {
    let orgs = match caller.list_org(w.org.as_deref())? {
        Some(org) => vec![org],
        None => caller.user.visible_orgs(),
    };
    let q = app_search::search_text(&w.q)?.ok_or_else(|| {
        AppError::BadRequest("q is required: an app name, consumer key or app id.".into())
    })?;
    let mut rows =
        cockpit_db::app_search::find(&state.pool, &orgs, q, app_search::LIMIT + 1).await?;
    let truncated = rows.len() as i64 > app_search::LIMIT;
    rows.truncate(app_search::LIMIT as usize);
    Ok(Json(json!({ "items": rows, "truncated": truncated })))
}

/// `GET /api/v1/apps/{id}`: the app, and its authorizations most recently
/// used first (`after` pages them).
pub async fn app(
    State(state): State<AppState>,
    In {
        object: AppId(id), ..
    }: In<AppId, Viewer>,
    ApiQuery(q): ApiQuery<app_detail::DetailQuery>,
) -> ApiResult {
    let app = app_detail::app_info(&state.pool, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let after = cursor(q.after.as_deref(), app_detail::parse_after)?;
    let auths = app_detail::authorizations(
        &state.pool,
        app.org_id,
        &app.app_key,
        after.as_ref(),
        app_detail::PAGE + 1,
    )
    .await?;
    let page = paged(auths, app_detail::PAGE, app_detail::Authorization::cursor);
    Ok(Json(json!({
        "app": app,
        "authorizations": page["items"],
        "next": page["next"],
    })))
}

#[derive(Debug, Default, Deserialize)]
pub struct TokensQuery {
    pub org: Option<String>,
    /// An app id (as `/api/v1/apps` gives them).
    pub app: Option<String>,
    /// A user id (`uid`, as `/api/v1/users` gives them).
    pub user: Option<String>,
    /// `<org id>~<token id>` of the last row.
    pub after: Option<String>,
}

#[derive(Serialize)]
pub struct TokenRow {
    pub org_id: Uuid,
    pub org_name: String,
    pub token_id: String,
    pub app_id: Option<i64>,
    pub app_key: String,
    pub app_name: String,
    pub uid: Option<i64>,
    pub user_id: String,
    pub user_name: Option<String>,
    pub username: Option<String>,
    pub is_active: Option<bool>,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub use_count: Option<i64>,
    pub first_seen_at: DateTime<Utc>,
}

pub const TOKENS_PAGE: i64 = 200;

/// `(org, key)` of an object the caller may see, by its numeric id.
async fn visible_object(
    state: &AppState,
    caller: &ApiCaller,
    name: &str,
    raw: Option<&str>,
    sql_app: bool,
) -> Result<Option<(Uuid, String)>, AppError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let id: i64 = raw
        .parse()
        .map_err(|_| AppError::BadRequest(format!("{name} must be a numeric id.")))?;
    let found = if sql_app {
        sqlx::query!(
            "SELECT org_id, app_key AS key FROM sf_apps WHERE id = $1",
            id
        )
        .fetch_optional(&state.pool)
        .await?
        .map(|r| (r.org_id, r.key))
    } else {
        sqlx::query!("SELECT org_id, id AS key FROM sf_users WHERE uid = $1", id)
            .fetch_optional(&state.pool)
            .await?
            .map(|r| (r.org_id, r.key))
    };
    let (org, key) = found.ok_or(AppError::NotFound)?;
    caller.user.grant::<Viewer>(org)?;
    Ok(Some((org, key)))
}

fn token_cursor(s: &str) -> Option<(Uuid, String)> {
    let (org, id) = s.split_once('~')?;
    Some((Uuid::parse_str(org).ok()?, id.to_owned()))
}

/// `GET /api/v1/tokens`: authorizations, by org and token id, filtered by
/// `org`, `app` and `user`.
pub async fn tokens(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<TokensQuery>,
) -> ApiResult {
    let orgs = match caller.list_org(q.org.as_deref())? {
        Some(org) => vec![org],
        None => caller.user.visible_orgs(),
    };
    let app = visible_object(&state, &caller, "app", q.app.as_deref(), true).await?;
    let user = visible_object(&state, &caller, "user", q.user.as_deref(), false).await?;
    // The first page starts after the nil org (no `IS NULL OR` in the keyset).
    let (c_org, c_id) =
        cursor(q.after.as_deref(), token_cursor)?.unwrap_or((Uuid::nil(), String::new()));
    let rows = sqlx::query_as!(
        TokenRow,
        r#"SELECT t.org_id, o.name AS org_name, t.id AS token_id, a.id AS "app_id?", t.app_key,
                  coalesce(a.name, t.app_name) AS "app_name!", u.uid AS "uid?", t.user_id,
                  u.name AS "user_name?", u.username AS "username?", u.is_active AS "is_active?",
                  t.created_at, t.last_used_at, t.use_count, t.first_seen_at
           FROM sf_tokens t
           JOIN orgs o ON o.id = t.org_id
           LEFT JOIN sf_apps a ON a.org_id = t.org_id AND a.app_key = t.app_key
           LEFT JOIN sf_users u ON u.org_id = t.org_id AND u.id = t.user_id
           WHERE t.gone_at IS NULL AND t.org_id = ANY($1)
             AND ($2::uuid IS NULL OR (t.org_id = $2 AND t.app_key = $3))
             AND ($4::uuid IS NULL OR (t.org_id = $4 AND t.user_id = $5))
             AND (t.org_id, t.id) > ($6, $7)
           ORDER BY t.org_id, t.id
           LIMIT $8"#,
        &orgs,
        app.as_ref().map(|a| a.0),
        app.as_ref().map(|a| a.1.as_str()),
        user.as_ref().map(|u| u.0),
        user.as_ref().map(|u| u.1.as_str()),
        c_org,
        c_id,
        TOKENS_PAGE + 1
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(paged(rows, TOKENS_PAGE, |r| {
        format!("{}~{}", r.org_id, r.token_id)
    })))
}

/// `GET /api/v1/users`: people whose name, username or email starts with
/// `q`, in name order.
pub async fn users(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<users_page::UsersQuery>,
) -> ApiResult {
    let org = caller.list_org(q.org.as_deref())?;
    let prefix: String =
        q.q.unwrap_or_default()
            .trim()
            .chars()
            .take(200)
            .collect::<String>()
            .to_lowercase();
    let after = cursor(q.after.as_deref(), users_page::parse_after)?;
    let rows = users_page::search(
        &state.pool,
        org,
        &prefix,
        after.as_ref(),
        users_page::PAGE + 1,
    )
    .await?;
    Ok(Json(paged(rows, users_page::PAGE, |r| {
        format!("{}~{}", r.sort_name, r.uid)
    })))
}

/// `GET /api/v1/users/{uid}`: one person and every app they authorized.
pub async fn user(
    State(state): State<AppState>,
    In {
        object: PersonId(uid),
        ..
    }: In<PersonId, Viewer>,
) -> ApiResult {
    let user = user_detail::user_info(&state.pool, uid)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut tokens = user_detail::user_tokens(
        &state.pool,
        user.org_id,
        &user.id,
        user_detail::MAX_TOKENS + 1,
    )
    .await?;
    let truncated = tokens.len() as i64 > user_detail::MAX_TOKENS;
    tokens.truncate(user_detail::MAX_TOKENS as usize);
    Ok(Json(json!({
        "user": user,
        "authorizations": tokens,
        "truncated": truncated,
    })))
}

/// `GET /api/v1/reports/stale`: authorizations unused for `days` (90 unless
/// given), longest idle first.
pub async fn stale(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<report_stale::StaleQuery>,
) -> ApiResult {
    let org = caller.list_org(q.org.as_deref())?;
    let days = match q.days.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => report_stale::DEFAULT_DAYS,
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .ok_or_else(|| AppError::BadRequest("days must be a number from 1 to 3650.".into()))?,
    };
    let after = cursor(q.after.as_deref(), report_stale::StaleCursor::decode)?;
    let rows = report_stale::fetch(
        &state.pool,
        org,
        days,
        after.as_ref(),
        report_stale::PAGE + 1,
    )
    .await?;
    let mut page = paged(rows, report_stale::PAGE, |r| r.cursor().encode());
    page["days"] = json!(days);
    Ok(Json(page))
}

#[derive(Serialize)]
struct LeakItem {
    #[serde(flatten)]
    row: report_offboarding::LeakRow,
    used_after_deactivation: bool,
}

/// `GET /api/v1/reports/offboarding`: deactivated users' authorizations that
/// still work, most recently deactivated first.
pub async fn offboarding(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<report_offboarding::LeakQuery>,
) -> ApiResult {
    let org = caller.list_org(q.org.as_deref())?;
    let after = cursor(q.after.as_deref(), report_offboarding::LeakCursor::decode)?;
    let rows = report_offboarding::fetch(
        &state.pool,
        org,
        after.as_ref(),
        report_offboarding::PAGE + 1,
    )
    .await?;
    let items = rows
        .into_iter()
        .map(|row| LeakItem {
            used_after_deactivation: row.used_after(),
            row,
        })
        .collect();
    Ok(Json(paged(
        items,
        report_offboarding::PAGE,
        |i: &LeakItem| i.row.cursor().encode(),
    )))
}

/// `GET /api/v1/reports/new-apps`: apps first seen since `since` (30 days
/// ago unless given), newest first.
pub async fn new_apps(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<report_new_apps::NewAppsQuery>,
) -> ApiResult {
    let org = caller.list_org(q.org.as_deref())?;
    let since = date("since", q.since.as_deref())?
        .unwrap_or_else(|| (Utc::now() - Duration::days(30)).date_naive());
    let after = cursor(q.after.as_deref(), |s| {
        report_new_apps::parse_after(Some(s))
    })?;
    let rows =
        report_new_apps::fetch(&state.pool, org, since, after, report_new_apps::PAGE + 1).await?;
    let mut page = paged(rows, report_new_apps::PAGE, |r| {
        let (t, id) = r.cursor();
        format!("{}~{id}", t.timestamp_micros())
    });
    page["since"] = json!(since);
    Ok(Json(page))
}

#[derive(Debug, Default, Deserialize)]
pub struct OrgAfter {
    pub org: Option<String>,
    pub after: Option<String>,
}

/// `GET /api/v1/reports/unknown-apps`: apps no inventory entry matches, by
/// name.
pub async fn unknown_apps(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<OrgAfter>,
) -> ApiResult {
    let org = caller.list_org(q.org.as_deref())?;
    cursor(q.after.as_deref(), apps::Cursor::decode)?;
    let mut filter = apps::Filter::parse(apps::AppsQuery {
        flag: Some("unknown".into()),
        sort: Some("name".into()),
        dir: Some("asc".into()),
        after: q.after,
        ..apps::AppsQuery::default()
    });
    filter.org = org;
    app_list(&state, &filter).await
}

/// `GET /api/v1/audit`: the audit history with the audit page's filters
/// (`actor`, `org`, `app`, `user`, `action`, `from`, `to`), newest first,
/// `before` a sequence number for the next page; and the chain head.
pub async fn audit(
    State(state): State<AppState>,
    caller: ApiCaller,
    _: Anywhere<Viewer>,
    ApiQuery(mut f): ApiQuery<audit_page::AuditFilter>,
) -> ApiResult {
    f.org = caller.list_org(f.org.as_deref())?.map(|o| o.to_string());
    let rows =
        audit_page::fetch(&state, &caller.user, Role::Viewer, &f, audit_page::PAGE + 1).await?;
    let mut page = paged(rows, audit_page::PAGE, |r| r.seq.to_string());
    page["next"] = page["next"]
        .as_str()
        .and_then(|s| s.parse::<i64>().ok())
        .map_or(Value::Null, |n| json!(n));
    let head = audit_page::chain_head(&state, &caller.user).await?;
    page["head"] = json!(head.map(|(seq, hash)| json!({ "seq": seq, "hash": hash })));
    Ok(Json(page))
}
