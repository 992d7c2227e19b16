//! The audit history: filters, CSV and JSON export, and the chain head to
//! write down elsewhere.

use askama::Template;
use axum::{
    Json,
    extract::{Query, State},
    response::{Html, IntoResponse, Response},
};
use chrono::{DateTime, NaiveDate, Utc};
use cockpit_domain::role::Role;
use serde::Deserialize;
use uuid::Uuid;

use crate::filters;
use crate::{
    AppError, AppState,
    auth::CurrentUser,
    auth::scope::{Analyst, Anywhere, Viewer},
    layout::Layout,
};

pub const PAGE: i64 = 100;
/// Exports stop here; narrow the filters for more.
pub const EXPORT_MAX: i64 = 100_000;

#[derive(Debug, Default, Deserialize, Clone, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub org: Option<String>,
    pub app: Option<String>,
    pub user: Option<String>,
    pub action: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub before: Option<i64>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn day(s: &Option<String>) -> Result<Option<NaiveDate>, AppError> {
    match nonempty(s) {
        None => Ok(None),
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| AppError::BadRequest("Dates are written 2026-11-22.".into())),
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub org_id: Option<Uuid>,
    pub org_name: Option<String>,
    pub target: serde_json::Value,
    pub reason: Option<String>,
    pub outcome: Option<String>,
    pub detail: serde_json::Value,
    pub hash: String,
}

impl AuditRow {
    /// The target as short `key: value` text (values are escaped by the template).
    pub fn target_text(&self) -> String {
        match &self.target {
            serde_json::Value::Object(m) => m
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    format!(
                        "{k}: {}",
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        }
    }
}

/// The entries `user` may read with at least `min` (viewers read the
/// history, analysts export it): those of their orgs, and those about no
/// org (accounts, API tokens) for someone with `min` in every org.
pub(crate) async fn fetch(
    state: &AppState,
    user: &CurrentUser,
    min: Role,
    f: &AuditFilter,
    limit: i64,
) -> Result<Vec<AuditRow>, AppError> {
    let visible = user.orgs_with(min);
    let global = user.global_role.is_some_and(|r| r >= min);
    let org = crate::layout::parse_org(f.org.as_deref());
    let from = day(&f.from)?
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc());
    let to = day(&f.to)?
        .and_then(|d| d.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc());
    let action_prefix =
        nonempty(&f.action).map(|a| format!("{}%", a.replace('%', "").replace('_', "\\_")));
    let rows = sqlx::query!(
        "SELECT l.seq, l.at, l.actor, l.action, l.org_id, o.name AS \"org_name?\", l.target, l.reason, l.outcome,
                l.detail, l.hash
         FROM audit_log l LEFT JOIN orgs o ON o.id = l.org_id
         WHERE (l.org_id = ANY($1) OR (l.org_id IS NULL AND $2))
           AND ($3::uuid IS NULL OR l.org_id = $3)
           AND ($4::text IS NULL OR l.actor ILIKE '%' || $4 || '%')
           AND ($5::text IS NULL OR l.target->>'app_key' = $5 OR l.target->>'app' = $5)
           AND ($6::text IS NULL OR l.target->>'user_id' = $6)
           AND ($7::text IS NULL OR l.action LIKE $7)
           AND ($8::timestamptz IS NULL OR l.at >= $8)
           AND ($9::timestamptz IS NULL OR l.at < $9)
           AND ($10::bigint IS NULL OR l.seq < $10)
         ORDER BY l.seq DESC LIMIT $11",
        &visible,
        global,
        org,
        nonempty(&f.actor),
        nonempty(&f.app),
        nonempty(&f.user),
        action_prefix,
        from,
        to,
        f.before,
        limit
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditRow {
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            action: r.action,
            org_id: r.org_id,
            org_name: r.org_name,
            target: r.target,
            reason: r.reason,
            outcome: r.outcome,
            detail: r.detail,
            hash: hex::encode(r.hash),
        })
        .collect())
}

#[derive(Template)]
#[template(path = "pages/audit.html")]
pub struct AuditPage {
    pub layout: Layout,
    pub filter: AuditFilter,
    pub rows: Vec<AuditRow>,
    pub head: Option<(i64, String)>,
    /// The reader may see every org's entries (and so the chain head).
    pub whole_log: bool,
    pub next: Option<String>,
    pub query: String,
    pub now: DateTime<Utc>,
}

impl AuditPage {
    pub fn v<'a>(&self, o: &'a Option<String>) -> &'a str {
        o.as_deref().unwrap_or("")
    }
}

fn query_of(f: &AuditFilter) -> String {
    let mut q = crate::layout::Query::new();
    for (k, v) in [
        ("actor", &f.actor),
        ("org", &f.org),
        ("app", &f.app),
        ("user", &f.user),
        ("action", &f.action),
        ("from", &f.from),
        ("to", &f.to),
    ] {
        q = q.add(k, v.as_deref().unwrap_or(""));
    }
    q.finish()
}

/// The chain's head (sequence number and hash) verifies the whole log, so
/// only someone who may read the whole log sees it: its number counts the
/// entries of every org.
pub(crate) async fn chain_head(
    state: &AppState,
    user: &CurrentUser,
) -> Result<Option<(i64, String)>, AppError> {
    if user.global_role.is_none() {
        return Ok(None);
    }
    Ok(cockpit_db::audit::head(&state.pool).await?)
}

pub async fn audit_list(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Viewer>,
    Query(f): Query<AuditFilter>,
) -> Result<Html<String>, AppError> {
    let rows = fetch(&state, &user, Role::Viewer, &f, PAGE + 1).await?;
    let more = rows.len() as i64 > PAGE;
    let rows: Vec<AuditRow> = rows.into_iter().take(PAGE as usize).collect();
    let query = query_of(&f);
    let next = more.then(|| {
        let last = rows.last().map_or(0, |r| r.seq);
        if query.is_empty() {
            format!("?before={last}")
        } else {
            format!("{query}&before={last}")
        }
    });
    let head = chain_head(&state, &user).await?;
    let layout = Layout::load(
        &state.pool,
        &user,
        "audit",
        "/audit",
        crate::layout::parse_org(f.org.as_deref()),
    )
    .await?;
    Ok(Html(
        AuditPage {
            layout,
            filter: f,
            rows,
            head,
            whole_log: user.global_role.is_some(),
            next,
            query,
            now: Utc::now(),
        }
        .render()?,
    ))
}

pub async fn audit_csv(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    Query(f): Query<AuditFilter>,
) -> Result<Response, AppError> {
    let rows = fetch(&state, &user, Role::Analyst, &f, EXPORT_MAX).await?;
    let header = [
        "seq", "at", "actor", "action", "org", "target", "reason", "outcome", "detail", "hash",
    ]
    .map(String::from)
    .to_vec();
    let body =
        crate::csv_export::encode(std::iter::once(header).chain(rows.into_iter().map(|r| {
            vec![
                r.seq.to_string(),
                r.at.to_rfc3339(),
                r.actor,
                r.action,
                r.org_name.unwrap_or_default(),
                r.target.to_string(),
                r.reason.unwrap_or_default(),
                r.outcome.unwrap_or_default(),
                r.detail.to_string(),
                r.hash,
            ]
        })))?;
    Ok(crate::csv_export::attachment(
        &crate::csv_export::dated("audit"),
        body,
    ))
}

pub async fn audit_json(
    State(state): State<AppState>,
    Anywhere { user, .. }: Anywhere<Analyst>,
    Query(f): Query<AuditFilter>,
) -> Result<Response, AppError> {
    let rows = fetch(&state, &user, Role::Analyst, &f, EXPORT_MAX).await?;
    let head = chain_head(&state, &user).await?;
    let mut res = Json(serde_json::json!({
        "head": head.map(|(seq, hash)| serde_json::json!({ "seq": seq, "hash": hash })),
        "entries": rows,
    }))
    .into_response();
    res.headers_mut().insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_static("attachment; filename=\"audit.json\""),
    );
    Ok(res)
}
