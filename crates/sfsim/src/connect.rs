//! Connect REST "OAuth Usage" resources for External Client Apps (reference §6).

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde_json::{Value as J, json};

use crate::error::RestError;
use crate::model::*;
use crate::rest::json_response;
use crate::{Ctx, Sim, ids};

pub fn routes() -> Router<Sim> {
    Router::new()
        .route("/services/data/{v}/apps/oauth/usage", get(apps_list))
        .route(
            "/services/data/{v}/apps/oauth/usage/tokens/{token}",
            delete(token_delete),
        )
        .route(
            "/services/data/{v}/apps/oauth/usage/{app}/users",
            get(users_list),
        )
        .route(
            "/services/data/{v}/apps/oauth/usage/{app}/tokens",
            delete(app_tokens_delete),
        )
        .route(
            "/services/data/{v}/apps/oauth/usage/{app}/{user}/tokens",
            get(user_tokens_list).delete(user_tokens_delete),
        )
}

/// Connect API datetimes are ISO-8601 with a `Z`.
fn iso(ms: Ts) -> J {
    if ms == 0 {
        return J::Null;
    }
    let s = crate::query::sf_datetime(ms);
    json!(format!("{}Z", &s[..23]))
}

struct Paging {
    page: usize,
    size: usize,
}

fn paging(q: &HashMap<String, String>) -> Result<Paging, RestError> {
    let parse = |k: &str, d: usize| -> Result<usize, RestError> {
        match q.get(k) {
            None => Ok(d),
            Some(v) => v.parse().map_err(|_| {
                RestError::new(
                    400,
                    "INVALID_API_INPUT",
                    format!("Invalid value for {k}: {v}"),
                )
            }),
        }
    };
    let page = parse("page", 0)?;
    let size = parse("pageSize", 100)?;
    if size == 0 || size > 100 {
        // [C] Connect's usual page-size bounds.
        return Err(RestError::new(
            400,
            "INVALID_API_INPUT",
            "pageSize must be between 1 and 100",
        ));
    }
    Ok(Paging { page, size })
}

fn page_urls(path: &str, p: &Paging) -> (String, String) {
    (
        format!("{path}?page={}&pageSize={}", p.page, p.size),
        format!(
            "{path}?page={}&pageSize={}",
            p.page.saturating_add(1),
            p.size
        ),
    )
}

fn slice<T: Clone>(v: &[T], p: &Paging) -> Vec<T> {
    v.iter()
        .skip(p.page.saturating_mul(p.size))
        .take(p.size)
        .cloned()
        .collect()
}

fn begin(sim: &Sim, headers: &HeaderMap, v: &str) -> Result<Ctx, RestError> {
    let ctx = sim.rest_begin(headers, v)?;
    if sim.read().users[ctx.user as usize].perms() & perm::CUSTOMIZE_APP == 0 {
        return Err(RestError::new(
            403,
            "INSUFFICIENT_ACCESS",
            "You don't have permission to view OAuth usage for external client apps.",
        ));
    }
    Ok(ctx)
}

fn eca(st: &OrgState, id: &str) -> Result<u32, RestError> {
    ids::parse_id(ids::ECA, id)
        .map(|n| n as u32)
        .filter(|&a| {
            st.apps
                .get(a as usize)
                .is_some_and(|a| a.kind == AppKind::External)
        })
        .ok_or_else(RestError::not_found)
}

/// [C] "ECAs with usage" = ECAs holding at least one live token.
async fn apps_list(
    State(sim): State<Sim>,
    Path(v): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, RestError> {
    let ctx = begin(&sim, &headers, &v)?;
    let p = paging(&q)?;
    let st = sim.read();
    let mut used = vec![false; st.apps.len()];
    for t in st.tokens.iter().filter(|t| !t.revoked) {
        used[t.app as usize] = true;
    }
    let apps: Vec<J> = st
        .apps
        .iter()
        .enumerate()
        .filter(|(i, a)| a.kind == AppKind::External && used[*i])
        .map(|(i, a)| json!({"identifier": a.sobject_id(i as u32), "developerName": a.dev_name, "label": a.name}))
        .collect();
    let (cur, next) = page_urls(
        &format!("/services/data/v{}/apps/oauth/usage", ctx.version),
        &p,
    );
    Ok(json_response(
        StatusCode::OK,
        json!({"apps": slice(&apps, &p), "currentPageUrl": cur, "nextPageUrl": next}).to_string(),
    ))
}

async fn users_list(
    State(sim): State<Sim>,
    Path((v, app)): Path<(String, String)>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, RestError> {
    let ctx = begin(&sim, &headers, &v)?;
    let p = paging(&q)?;
    let st = sim.read();
    let a = eca(&st, &app)?;
    // user -> (first use, last use, use count, tokens)
    let mut per: BTreeMap<u32, (Ts, Ts, u64, usize)> = BTreeMap::new();
    for t in st.tokens.iter().filter(|t| !t.revoked && t.app == a) {
        let e = per.entry(t.user).or_insert((i64::MAX, 0, 0, 0));
        e.0 = e.0.min(t.created);
        e.1 = e.1.max(t.last_used);
        e.2 += t.use_count as u64;
        e.3 += 1;
    }
    // Only the page's users are rendered: an ECA may have tens of thousands.
    let users: Vec<J> = per
        .iter()
        .skip(p.page.saturating_mul(p.size))
        .take(p.size)
        .map(|(&u, &(first, last, count, n))| {
            json!({
                "userIdentifier": ids::make_id(ids::USER, u as u64), "username": st.users[u as usize].username,
                "initialConnectionAt": iso(first), "lastUsedAt": iso(last), "useCount": count, "tokenCount": n,
            })
        })
        .collect();
    let (cur, next) = page_urls(
        &format!(
            "/services/data/v{}/apps/oauth/usage/{app}/users",
            ctx.version
        ),
        &p,
    );
    Ok(json_response(
        StatusCode::OK,
        json!({"users": users, "currentPageUrl": cur, "nextPageUrl": next}).to_string(),
    ))
}

async fn user_tokens_list(
    State(sim): State<Sim>,
    Path((v, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, RestError> {
    let ctx = begin(&sim, &headers, &v)?;
    let p = paging(&q)?;
    let st = sim.read();
    let a = eca(&st, &app)?;
    let u = ids::parse_id(ids::USER, &user)
        .map(|n| n as u32)
        .filter(|&u| (u as usize) < st.users.len())
        .ok_or_else(RestError::not_found)?;
    let app_rec = &st.apps[a as usize];
    let tokens: Vec<J> = st
        .user_tokens(u)
        .filter(|&t| st.tokens[t as usize].app == a)
        .map(|t| {
            let tok = &st.tokens[t as usize];
            let tid = ids::make_id(ids::OAUTH_TOKEN, t as u64);
            json!({
                "accessTokenFormat": "Opaque", "appDeveloperName": app_rec.dev_name, "appIdentifier": app_rec.sobject_id(a),
                "initialConnectionAt": iso(tok.created), "lastUsedAt": iso(tok.last_used),
                "revocationUrl": format!("/services/data/v{}/apps/oauth/usage/tokens/{tid}", ctx.version),
                "useCount": tok.use_count, "userIdentifier": ids::make_id(ids::USER, u as u64), "username": st.users[u as usize].username,
            })
        })
        .collect();
    let (cur, next) = page_urls(
        &format!(
            "/services/data/v{}/apps/oauth/usage/{app}/{user}/tokens",
            ctx.version
        ),
        &p,
    );
    Ok(json_response(
        StatusCode::OK,
        json!({"tokens": slice(&tokens, &p), "currentPageUrl": cur, "nextPageUrl": next})
            .to_string(),
    ))
}

async fn user_tokens_delete(
    State(sim): State<Sim>,
    Path((v, app, user)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let _ctx = begin(&sim, &headers, &v)?;
    let mut st = sim.write();
    let a = eca(&st, &app)?;
    let u = ids::parse_id(ids::USER, &user)
        .map(|n| n as u32)
        .filter(|&u| (u as usize) < st.users.len())
        .ok_or_else(RestError::not_found)?;
    let list: Vec<u32> = st
        .user_tokens(u)
        .filter(|&t| st.tokens[t as usize].app == a)
        .collect();
    for t in list {
        st.revoke_token(t);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn app_tokens_delete(
    State(sim): State<Sim>,
    Path((v, app)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let _ctx = begin(&sim, &headers, &v)?;
    let mut st = sim.write();
    let a = eca(&st, &app)?;
    let list: Vec<u32> = (0..st.tokens.len() as u32)
        .filter(|&t| st.tokens[t as usize].app == a && !st.tokens[t as usize].revoked)
        .collect();
    for t in list {
        st.revoke_token(t);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn token_delete(
    State(sim): State<Sim>,
    Path((v, token)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let _ctx = begin(&sim, &headers, &v)?;
    let mut st = sim.write();
    let seq = ids::parse_id(ids::OAUTH_TOKEN, &token)
        .map(|n| n as u32)
        .ok_or_else(RestError::not_found)?;
    let is_eca = st
        .tokens
        .get(seq as usize)
        .is_some_and(|t| !t.revoked && st.apps[t.app as usize].kind == AppKind::External);
    if !is_eca {
        return Err(RestError::not_found());
    }
    st.revoke_token(seq);
    Ok(StatusCode::NO_CONTENT.into_response())
}
