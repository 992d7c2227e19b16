//! The read side of the API: the same queries the pages run, as JSON, in
//! keyset pages (`next` is the `after` of the following page; `null` on the
//! last one).

use axum::{Json, extract::State};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use cockpit_domain::role::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{ApiCaller, ApiQuery, bad_cursor, openapi::ErrorBody};
use crate::{
    ApiError, AppError, AppState,
    auth::scope::{Anywhere, AppId, In, PersonId, Viewer},
    pages::{
        app_detail, app_search, apps, audit as audit_page, report_new_apps, report_offboarding,
        report_stale, user_detail, users as users_page,
    },
};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The rows of a page and the `after` of the next one (`None` on the
/// last), from rows fetched with `limit + 1`.
fn paged<T>(
    mut rows: Vec<T>,
    limit: i64,
    cursor: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let next = (rows.len() as i64 > limit).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(&cursor)
    });
    (rows, next.flatten())
}

/// A page of apps (`GET /api/v1/apps`, `GET /api/v1/reports/unknown-apps`).
#[derive(Serialize, ToSchema)]
pub struct AppPage {
    items: Vec<AppItem>,
    /// The `after` of the next page; `null` on the last.
    next: Option<String>,
}

/// `GET /api/v1/apps/where`.
#[derive(Serialize, ToSchema)]
pub struct WhereAnswer {
    items: Vec<cockpit_db::app_search::Found>,
    /// More apps matched than the answer holds.
    truncated: bool,
}

/// `GET /api/v1/apps/{id}`.
#[derive(Serialize, ToSchema)]
pub struct AppAnswer {
    app: app_detail::AppInfo,
    /// Most recently used first.
    authorizations: Vec<app_detail::Authorization>,
    /// The `after` of the next page of authorizations.
    next: Option<String>,
}

/// `GET /api/v1/tokens`.
#[derive(Serialize, ToSchema)]
pub struct TokenPage {
    items: Vec<TokenRow>,
    next: Option<String>,
}

/// `GET /api/v1/users`.
#[derive(Serialize, ToSchema)]
pub struct UserPage {
    items: Vec<users_page::UserRow>,
    next: Option<String>,
}

/// `GET /api/v1/users/{uid}`.
#[derive(Serialize, ToSchema)]
pub struct UserAnswer {
    user: user_detail::UserInfo,
    authorizations: Vec<user_detail::UserToken>,
    /// The person holds more authorizations than the answer lists.
    truncated: bool,
}

/// `GET /api/v1/reports/stale`.
#[derive(Serialize, ToSchema)]
pub struct StalePage {
    items: Vec<report_stale::StaleRow>,
    next: Option<String>,
    /// Idle for at least this many days.
    days: i64,
}

/// `GET /api/v1/reports/offboarding`.
#[derive(Serialize, ToSchema)]
pub struct LeakPage {
    items: Vec<LeakItem>,
    next: Option<String>,
}

/// `GET /api/v1/reports/new-apps`.
#[derive(Serialize, ToSchema)]
pub struct NewAppPage {
    items: Vec<report_new_apps::NewAppRow>,
    next: Option<String>,
    /// First seen on or after this day.
    since: NaiveDate,
}

/// The newest audit entry the caller may see.
#[derive(Serialize, ToSchema)]
pub struct ChainHead {
    seq: i64,
    hash: String,
}

/// `GET /api/v1/audit`.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    items: Vec<audit_page::AuditRow>,
    /// The `before` of the next page (a sequence number).
    next: Option<i64>,
    head: Option<ChainHead>,
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

#[derive(Serialize, ToSchema)]
pub struct AppItem {
    #[serde(flatten)]
    row: apps::AppRow,
    /// Why the app stands out: `new`, `stale`, `unknown`, ….
    flags: Vec<&'static str>,
}

/// Apps in the apps page's filter and order; `after` must come from a
/// request with the same filter and sort.
async fn app_list(state: &AppState, filter: &apps::Filter) -> ApiResult<AppPage> {
    let rows = apps::fetch(&state.pool, filter, apps::PAGE + 1).await?;
    let items = rows
        .into_iter()
        .map(|row| AppItem {
            flags: row.flags().into_iter().map(|(k, _)| k).collect(),
            row,
        })
        .collect();
    let (items, next) = paged(items, apps::PAGE, |i: &AppItem| i.row.cursor().encode());
    Ok(Json(AppPage { items, next }))
}

/// `GET /api/v1/apps`: `org`, `q`, `kind`, `flag`, `since`, `sort`, `dir`,
/// `after`, as on the apps page.
#[utoipa::path(get, path = "/api/v1/apps", operation_id = "list_apps", tag = "apps", params(apps::AppsQuery),
    responses((status = 200, description = "A page of apps", body = AppPage), (status = 400, description = "A parameter is malformed", body = ErrorBody), (status = 404, description = "`org` names an org the token may not see", body = ErrorBody)))]
pub async fn apps(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<apps::AppsQuery>,
) -> ApiResult<AppPage> {
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
#[utoipa::path(get, path = "/api/v1/apps/where", operation_id = "where_is_app", tag = "apps", params(app_search::WhereQuery),
    responses((status = 200, description = "The app in each org", body = WhereAnswer), (status = 400, description = "A parameter is malformed", body = ErrorBody), (status = 404, description = "`org` names an org the token may not see", body = ErrorBody)))]
pub async fn apps_where(
    State(state): State<AppState>,
    caller: ApiCaller,
    _: Anywhere<Viewer>,
    ApiQuery(w): ApiQuery<app_search::WhereQuery>,
) -> ApiResult<WhereAnswer> {
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
    Ok(Json(WhereAnswer {
        items: rows,
        truncated,
    }))
}

/// `GET /api/v1/apps/{id}`: the app, and its authorizations most recently
/// used first (`after` pages them).
#[utoipa::path(get, path = "/api/v1/apps/{id}", operation_id = "get_app", tag = "apps",
    params(("id" = i64, Path, description = "The app's id"), app_detail::DetailQuery),
    responses((status = 200, description = "The app and a page of its authorizations", body = AppAnswer), (status = 400, description = "A parameter is malformed", body = ErrorBody), (status = 404, description = "No such object in the token's orgs", body = ErrorBody)))]
pub async fn app(
    State(state): State<AppState>,
    In {
        object: AppId(id), ..
    }: In<AppId, Viewer>,
    ApiQuery(q): ApiQuery<app_detail::DetailQuery>,
) -> ApiResult<AppAnswer> {
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
    let (authorizations, next) = paged(auths, app_detail::PAGE, app_detail::Authorization::cursor);
    Ok(Json(AppAnswer {
        app,
        authorizations,
        next,
    }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokensQuery {
    /// One org's id; absent, every org the token may see.
    pub org: Option<String>,
    /// An app id (as `/api/v1/apps` gives them).
    pub app: Option<String>,
    /// A user id (`uid`, as `/api/v1/users` gives them).
    pub user: Option<String>,
    /// `<org id>~<token id>` of the last row.
    pub after: Option<String>,
}

#[derive(Serialize, ToSchema)]
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
#[utoipa::path(get, path = "/api/v1/tokens", operation_id = "list_authorizations", tag = "authorizations", params(TokensQuery),
    responses((status = 200, description = "A page of live authorizations", body = TokenPage), (status = 400, description = "A parameter is malformed", body = ErrorBody), (status = 404, description = "No such object in the token's orgs", body = ErrorBody)))]
pub async fn tokens(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<TokensQuery>,
) -> ApiResult<TokenPage> {
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
    let (items, next) = paged(rows, TOKENS_PAGE, |r| {
        format!("{}~{}", r.org_id, r.token_id)
    });
    Ok(Json(TokenPage { items, next }))
}

/// `GET /api/v1/users`: people whose name, username or email starts with
/// `q`, in name order.
#[utoipa::path(get, path = "/api/v1/users", operation_id = "list_users", tag = "people", params(users_page::UsersQuery),
    responses((status = 200, description = "A page of people", body = UserPage), (status = 400, description = "A parameter is malformed", body = ErrorBody), (status = 404, description = "`org` names an org the token may not see", body = ErrorBody)))]
pub async fn users(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<users_page::UsersQuery>,
) -> ApiResult<UserPage> {
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
    let (items, next) = paged(rows, users_page::PAGE, |r| {
        format!("{}~{}", r.sort_name, r.uid)
    });
    Ok(Json(UserPage { items, next }))
}

/// `GET /api/v1/users/{uid}`: one person and every app they authorized.
#[utoipa::path(get, path = "/api/v1/users/{uid}", operation_id = "get_user", tag = "people",
    params(("uid" = i64, Path, description = "The person's id, as `/api/v1/users` gives it")),
    responses((status = 200, description = "The person and their authorizations", body = UserAnswer), (status = 404, description = "No such object in the token's orgs", body = ErrorBody)))]
pub async fn user(
    State(state): State<AppState>,
    In {
        object: PersonId(uid),
        ..
    }: In<PersonId, Viewer>,
) -> ApiResult<UserAnswer> {
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
    Ok(Json(UserAnswer {
        user,
        authorizations: tokens,
        truncated,
    }))
}

/// `GET /api/v1/reports/stale`: authorizations unused for `days` (90 unless
/// given), longest idle first.
#[utoipa::path(get, path = "/api/v1/reports/stale", operation_id = "report_stale", tag = "reports", params(report_stale::StaleQuery),
    responses((status = 200, description = "A page of idle authorizations", body = StalePage), (status = 400, description = "A parameter is malformed", body = ErrorBody), (status = 404, description = "`org` names an org the token may not see", body = ErrorBody)))]
pub async fn stale(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<report_stale::StaleQuery>,
) -> ApiResult<StalePage> {
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
    let (items, next) = paged(rows, report_stale::PAGE, |r| r.cursor().encode());
    Ok(Json(StalePage { items, next, days }))
}

#[derive(Serialize, ToSchema)]
pub struct LeakItem {
    #[serde(flatten)]
    row: report_offboarding::LeakRow,
    used_after_deactivation: bool,
}

/// `GET /api/v1/reports/offboarding`: deactivated users' authorizations that
/// still work, most recently deactivated first.
#[utoipa::path(get, path = "/api/v1/reports/offboarding", operation_id = "report_offboarding", tag = "reports", params(report_offboarding::LeakQuery),
    responses((status = 200, description = "A page of leavers' live authorizations", body = LeakPage), (status = 400, description = "A parameter is malformed", body = ErrorBody), (status = 404, description = "`org` names an org the token may not see", body = ErrorBody)))]
pub async fn offboarding(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<report_offboarding::LeakQuery>,
) -> ApiResult<LeakPage> {
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
    let (items, next) = paged(items, report_offboarding::PAGE, |i: &LeakItem| {
        i.row.cursor().encode()
    });
    Ok(Json(LeakPage { items, next }))
}

/// `GET /api/v1/reports/new-apps`: apps first seen since `since` (30 days
/// ago unless given), newest first.
#[utoipa::path(get, path = "/api/v1/reports/new-apps", operation_id = "report_new_apps", tag = "reports", params(report_new_apps::NewAppsQuery),
    responses((status = 200, description = "A page of new apps", body = NewAppPage), (status = 400, description = "A parameter is malformed", body = ErrorBody), (status = 404, description = "`org` names an org the token may not see", body = ErrorBody)))]
pub async fn new_apps(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<report_new_apps::NewAppsQuery>,
) -> ApiResult<NewAppPage> {
    let org = caller.list_org(q.org.as_deref())?;
    let since = date("since", q.since.as_deref())?
        .unwrap_or_else(|| (Utc::now() - Duration::days(30)).date_naive());
    let after = cursor(q.after.as_deref(), |s| {
        report_new_apps::parse_after(Some(s))
    })?;
    let rows =
        report_new_apps::fetch(&state.pool, org, since, after, report_new_apps::PAGE + 1).await?;
    let (items, next) = paged(rows, report_new_apps::PAGE, |r| {
        let (t, id) = r.cursor();
        format!("{}~{id}", t.timestamp_micros())
    });
    Ok(Json(NewAppPage { items, next, since }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrgAfter {
    /// One org's id; absent, every org the token may see.
    pub org: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

/// `GET /api/v1/reports/unknown-apps`: apps no inventory entry matches, by
/// name.
#[utoipa::path(get, path = "/api/v1/reports/unknown-apps", operation_id = "report_unknown_apps", tag = "reports", params(OrgAfter),
    responses((status = 200, description = "A page of apps outside the inventory", body = AppPage), (status = 400, description = "A parameter is malformed", body = ErrorBody), (status = 404, description = "`org` names an org the token may not see", body = ErrorBody)))]
pub async fn unknown_apps(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiQuery(q): ApiQuery<OrgAfter>,
) -> ApiResult<AppPage> {
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
#[utoipa::path(get, path = "/api/v1/audit", operation_id = "list_audit", tag = "audit", params(audit_page::AuditFilter),
    responses((status = 200, description = "A page of audit entries, newest first", body = AuditPage), (status = 400, description = "A parameter is malformed", body = ErrorBody), (status = 404, description = "`org` names an org the token may not see", body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    caller: ApiCaller,
    _: Anywhere<Viewer>,
    ApiQuery(mut f): ApiQuery<audit_page::AuditFilter>,
) -> ApiResult<AuditPage> {
    f.org = caller.list_org(f.org.as_deref())?.map(|o| o.to_string());
    let rows =
        audit_page::fetch(&state, &caller.user, Role::Viewer, &f, audit_page::PAGE + 1).await?;
    let (items, next) = paged(rows, audit_page::PAGE, |r| r.seq.to_string());
    let head = audit_page::chain_head(&state, &caller.user).await?;
    Ok(Json(AuditPage {
        items,
        next: next.and_then(|s| s.parse().ok()),
        head: head.map(|(seq, hash)| ChainHead { seq, hash }),
    }))
}
