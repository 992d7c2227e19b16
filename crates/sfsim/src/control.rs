//! Router assembly, fault injection, the `/_sim/` control API and simulated activity.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::Rng;
use serde::Deserialize;
use serde_json::json;

use crate::error::RestError;
use crate::model::*;
use crate::{Sim, base_url, connect, metadata, oauth, rest, soap};

/// Injected failures. `nth` counts requests from the moment the fault is set
/// (1 = the next request); each `nth` fault fires once.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Delay every response.
    Latency(Duration),
    /// Delay answers of the OAuth revoke endpoint only.
    RevokeLatency(Duration),
    /// Delay answers of every request whose path contains this text (a
    /// query endpoint, `deployRequest`, `/services/Soap/m/`…).
    LatencyOnPath(String, Duration),
    /// Metadata deploys complete no sooner than this after they were
    /// queued, however often they are polled, as Salesforce's run
    /// asynchronously for seconds to minutes.
    SlowDeploys(Duration),
    /// More than this many requests in flight at once: the next one is
    /// refused with 403 `REQUEST_LIMIT_EXCEEDED` ("ConcurrentRequests Limit
    /// exceeded"). [C] Salesforce limits concurrent long-running requests
    /// per org and answers REQUEST_LIMIT_EXCEEDED; the threshold and the
    /// wording here are the simulator's.
    MaxInFlight(u64),
    /// Answer every request whose path contains this text with 503.
    ServerErrorOnPath(String),
    /// Answer the Nth request with 503 SERVER_UNAVAILABLE.
    ServerErrorOnNth(u64),
    /// Answer a random fraction of requests with 503.
    ServerErrorRate(f64),
    /// Send half of the Nth response's body, then drop the connection.
    DropConnectionMidBody { nth: u64 },
    /// Cut the Nth response's body in half (valid HTTP, invalid JSON).
    TruncateJson { nth: u64 },
    /// Spend the daily API budget (REST calls get 403 REQUEST_LIMIT_EXCEEDED).
    ExhaustBudget,
    /// Expire every issued access token (401 INVALID_SESSION_ID).
    ExpireSessions,
}

pub fn router(sim: Sim) -> Router {
    let data = Router::new()
        .merge(rest::routes())
        .merge(metadata::routes())
        .merge(connect::routes())
        .route_layer(middleware::from_fn_with_state(sim.clone(), limit_info));
    let mut app = Router::new()
        .route("/services/data", get(rest::versions))
        .route("/services/data/", get(rest::versions))
        .merge(data)
        .merge(oauth::routes())
        .merge(soap::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(sim.clone(), faults))
        .with_state(sim.clone());
    if sim.inner.config.control {
        app = app.merge(control_routes().with_state(sim));
    }
    app
}

async fn method_not_allowed(method: http::Method) -> Response {
    RestError::method_not_allowed(method.as_str()).into_response()
}

async fn not_found() -> Response {
    RestError::not_found().into_response()
}

/// `Sforce-Limit-Info` on every REST response.
async fn limit_info(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&sim.limit_info()) {
        resp.headers_mut().insert("sforce-limit-info", v);
    }
    resp
}

#[derive(Default)]
struct Decision {
    latency: Duration,
    error: bool,
    drop: bool,
    truncate: bool,
    crowded: bool,
}

/// Counts a request in flight until dropped.
struct InFlight<'a>(&'a std::sync::atomic::AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn faults(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    let n = sim.inner.requests.fetch_add(1, Ordering::SeqCst) + 1;
    // Counted until the answer is produced (the guard drops with this call).
    let in_flight = sim.inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _in_flight = InFlight(&sim.inner.in_flight);
    let path = req.uri().path().to_owned();
    let revoke = path == "/services/oauth2/revoke";
    let mut d = Decision::default();
    {
        let mut faults = sim.inner.faults.lock().unwrap_or_else(|e| e.into_inner());
        for f in faults.iter_mut() {
            let nth_hit = |k: u64, fired: &mut bool| {
                let hit = !*fired && n == f.start.saturating_add(k.max(1));
                if hit {
                    *fired = true;
                }
                hit
            };
            match f.fault {
                Fault::Latency(l) => d.latency += l,
                Fault::RevokeLatency(l) if revoke => d.latency += l,
                Fault::RevokeLatency(_) => {}
                Fault::LatencyOnPath(ref p, l) if path.contains(p.as_str()) => d.latency += l,
                Fault::LatencyOnPath(..) | Fault::SlowDeploys(_) => {}
                Fault::MaxInFlight(max) => d.crowded |= in_flight > max,
                Fault::ServerErrorOnPath(ref p) => d.error |= path.contains(p.as_str()),
                Fault::ServerErrorOnNth(k) => d.error |= nth_hit(k, &mut f.fired),
                Fault::ServerErrorRate(p) => {
                    d.error |= sim.write().rng.random::<f64>() < p;
                }
                Fault::DropConnectionMidBody { nth } => d.drop |= nth_hit(nth, &mut f.fired),
                Fault::TruncateJson { nth } => d.truncate |= nth_hit(nth, &mut f.fired),
                Fault::ExhaustBudget | Fault::ExpireSessions => {}
            }
        }
    }
    if !d.latency.is_zero() {
        tokio::time::sleep(d.latency).await;
    }
    if d.crowded {
        return RestError::new(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "ConcurrentRequests Limit exceeded.",
        )
        .into_response();
    }
    if d.error {
        return RestError::server_unavailable().into_response();
    }
    let resp = next.run(req).await;
    if !(d.drop || d.truncate) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    if d.drop {
        let stream = futures::stream::iter(vec![
            Ok::<_, std::io::Error>(half),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "simulated connection drop",
            )),
        ]);
        parts
            .headers
            .insert(http::header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        return Response::from_parts(parts, Body::from_stream(stream));
    }
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(half))
}

fn control_routes() -> Router<Sim> {
    Router::new()
        .route("/_sim/status", get(status))
        .route("/_sim/faults", post(fault_add).delete(faults_clear))
        .route("/_sim/expire-access-tokens", post(expire))
        .route("/_sim/api-usage", post(api_usage))
        .route("/_sim/clock", get(clock_get).post(clock_set))
        .route("/_sim/activity", post(activity_run))
        .route("/_sim/grant", post(grant))
        .route("/_sim/credentials", get(credentials))
        .route("/_sim/apps", get(apps))
        .route("/_sim/tokens/{id}/refresh-token", get(refresh_token))
        .route("/_sim/revocations", get(revocations))
        .route("/_sim/attack", post(attack))
        .route("/_sim/traffic/{app}", get(traffic))
}

/// `POST /_sim/attack` with an [`crate::AttackSpec`]: the [`crate::AttackSummary`],
/// 404 for an unknown app, 400 otherwise.
async fn attack(State(sim): State<Sim>, body: axum::body::Bytes) -> Response {
    let spec: crate::AttackSpec = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": format!("invalid attack: {e}")})),
            )
                .into_response();
        }
    };
    match sim.stage_attack(spec) {
        Ok(summary) => axum::Json(summary).into_response(),
        Err(e) => {
            let code = if e.starts_with("unknown app") {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            };
            (code, axum::Json(json!({"error": e}))).into_response()
        }
    }
}

/// `GET /_sim/traffic/{app name}`: [`Sim::app_traffic`].
async fn traffic(State(sim): State<Sim>, Path(app): Path<String>) -> Response {
    match sim.app_traffic(&app) {
        Some(t) => axum::Json(t).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("unknown app: {app}")})),
        )
            .into_response(),
    }
}

fn status_json(sim: &Sim) -> serde_json::Value {
    json!({
        "requests": sim.request_count(),
        "api_usage": sim.api_usage(),
        "daily_api_limit": sim.inner.config.daily_api_limit,
        "tokens": sim.token_count(),
        "now": sim.now().to_rfc3339(),
        "faults": sim.inner.faults.lock().map(|f| f.iter().map(|f| format!("{:?}", f.fault)).collect::<Vec<_>>()).unwrap_or_default(),
    })
}

async fn status(State(sim): State<Sim>) -> Response {
    axum::Json(status_json(&sim)).into_response()
}

/// JSON form of a fault, e.g. `{"type":"latency","ms":200}` or `{"type":"truncate_json","nth":1}`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FaultDto {
    Latency { ms: u64 },
    RevokeLatency { ms: u64 },
    LatencyOnPath { path: String, ms: u64 },
    SlowDeploys { ms: u64 },
    MaxInFlight { max: u64 },
    ServerErrorOnPath { path: String },
    ServerErrorOnNth { nth: u64 },
    ServerErrorRate { rate: f64 },
    DropConnectionMidBody { nth: u64 },
    TruncateJson { nth: u64 },
    ExhaustBudget,
    ExpireSessions,
}

async fn fault_add(State(sim): State<Sim>, body: axum::body::Bytes) -> Response {
    let dto: FaultDto = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": format!("invalid fault: {e}")})),
            )
                .into_response();
        }
    };
    let fault = match dto {
        FaultDto::Latency { ms } => Fault::Latency(Duration::from_millis(ms)),
        FaultDto::RevokeLatency { ms } => Fault::RevokeLatency(Duration::from_millis(ms)),
        FaultDto::LatencyOnPath { path, ms } => {
            Fault::LatencyOnPath(path, Duration::from_millis(ms))
        }
        FaultDto::SlowDeploys { ms } => Fault::SlowDeploys(Duration::from_millis(ms)),
        FaultDto::MaxInFlight { max } => Fault::MaxInFlight(max),
        FaultDto::ServerErrorOnPath { path } => Fault::ServerErrorOnPath(path),
        FaultDto::ServerErrorOnNth { nth } => Fault::ServerErrorOnNth(nth),
        FaultDto::ServerErrorRate { rate } => Fault::ServerErrorRate(rate.clamp(0.0, 1.0)),
        FaultDto::DropConnectionMidBody { nth } => Fault::DropConnectionMidBody { nth },
        FaultDto::TruncateJson { nth } => Fault::TruncateJson { nth },
        FaultDto::ExhaustBudget => Fault::ExhaustBudget,
        FaultDto::ExpireSessions => Fault::ExpireSessions,
    };
    sim.set_fault(fault);
    axum::Json(status_json(&sim)).into_response()
}

async fn faults_clear(State(sim): State<Sim>) -> StatusCode {
    sim.clear_faults();
    StatusCode::NO_CONTENT
}

async fn expire(State(sim): State<Sim>) -> StatusCode {
    sim.expire_access_tokens();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct UsageDto {
    used: u64,
}

async fn api_usage(State(sim): State<Sim>, axum::Json(u): axum::Json<UsageDto>) -> Response {
    sim.set_api_usage(u.used);
    axum::Json(status_json(&sim)).into_response()
}

#[derive(Deserialize)]
struct ClockDto {
    advance_seconds: Option<i64>,
    set: Option<chrono::DateTime<chrono::Utc>>,
}

async fn clock_get(State(sim): State<Sim>) -> Response {
    axum::Json(json!({"now": sim.now().to_rfc3339()})).into_response()
}

async fn clock_set(State(sim): State<Sim>, axum::Json(c): axum::Json<ClockDto>) -> Response {
    if let Some(at) = c.set {
        sim.set_clock(at);
    }
    if let Some(s) = c.advance_seconds {
        let Some(d) = chrono::Duration::try_seconds(s).filter(|d| d.num_days().abs() < 36_500)
        else {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "advance_seconds out of range"})),
            )
                .into_response();
        };
        sim.advance_clock(d);
    }
    axum::Json(json!({"now": sim.now().to_rfc3339()})).into_response()
}

#[derive(Deserialize)]
struct ActivityDto {
    steps: usize,
}

async fn activity_run(State(sim): State<Sim>, axum::Json(a): axum::Json<ActivityDto>) -> Response {
    sim.simulate_activity(a.steps);
    axum::Json(status_json(&sim)).into_response()
}

#[derive(Deserialize)]
struct GrantDto {
    app: String,
    username: String,
}

/// A person authorizes an app again, as the consent page would record it
/// (the demo's "authorized again after a revoke"): the new authorization's
/// id, or 404 when the app or the person is unknown.
async fn grant(State(sim): State<Sim>, axum::Json(g): axum::Json<GrantDto>) -> Response {
    match sim.grant(&g.app, &g.username) {
        Some(id) => axum::Json(json!({ "id": id })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": "no such app or user" })),
        )
            .into_response(),
    }
}

async fn credentials(State(sim): State<Sim>, headers: HeaderMap) -> Response {
    axum::Json(sim.credentials(&base_url(&headers))).into_response()
}

async fn apps(State(sim): State<Sim>) -> Response {
    let st = sim.read();
    let list: Vec<_> = st
        .apps
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "id": a.sobject_id(i as u32), "name": a.name, "developer_name": a.dev_name,
                "kind": if a.kind == AppKind::External { "ExternalClientApp" } else { "ConnectedApp" },
                "consumer_key": a.consumer_key, "consumer_secret": a.consumer_secret,
                "installed": a.installed, "blocked": st.is_blocked_key(&a.consumer_key), "disabled": a.disabled,
                "callback_urls": a.callback_urls,
            })
        })
        .collect();
    axum::Json(list).into_response()
}

/// `{"calls": {"0CQ…": n}, "total": N}`: revoke calls per token, so a test
/// can tell that no authorization was revoked twice.
async fn revocations(State(sim): State<Sim>) -> Response {
    let calls = sim.revoke_calls();
    let total: u64 = calls.values().map(|n| u64::from(*n)).sum();
    axum::Json(json!({"calls": calls, "total": total})).into_response()
}

async fn refresh_token(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    match sim.refresh_token_of(&id) {
        Some(rt) => axum::Json(json!({"refresh_token": rt})).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no such live token"})),
        )
            .into_response(),
    }
}

/// One step of org life per iteration: grants, token use, deactivations, new apps.
pub fn activity(st: &mut OrgState, now: Ts, steps: usize) {
    let n_users = st.users.len() as u32;
    for _ in 0..steps {
        let r: f64 = st.rng.random();
        if r < 0.40 && st.apps.len() > 1 {
            let app = st.rng.random_range(1..st.apps.len() as u32);
            let user = st.rng.random_range(1..n_users);
            if st.users[user as usize].active && !st.app_blocked(app) && !st.app_disabled(app) {
                st.add_token(user, app, now);
                let ip = std::net::Ipv4Addr::from(st.rng.random::<u32>()).into();
                st.logins.push(Login {
                    user,
                    time: now,
                    app,
                    subtype: 1,
                    status: 0,
                    ip,
                });
            }
        } else if r < 0.75 && !st.tokens.is_empty() {
            let t = st.rng.random_range(0..st.tokens.len() as u32);
            if !st.tokens[t as usize].revoked {
                let bump = st.rng.random_range(1..20);
                st.mark_used(t, now);
                st.tokens[t as usize].use_count =
                    st.tokens[t as usize].use_count.saturating_add(bump);
            }
        } else if r < 0.85 && n_users > 2 {
            let user = st.rng.random_range(2..n_users);
            if st.users[user as usize].active {
                st.users[user as usize].active = false;
                st.users[user as usize].modified = now;
                st.audits.push(Audit {
                    action: AUDIT_DEACTIVATED,
                    target: user,
                    time: now,
                    by: 0,
                });
                // A deactivated user's sessions end; their grants stay (a realistic signal).
                st.sessions.retain(|_, s| s.user != user);
            }
        } else if r < 0.90 {
            let i = st.apps.len();
            let installed = st.rng.random::<f64>() < 0.5;
            let key = format!("3MVG9{}", random_string(&mut st.rng, 80));
            let secret = random_string(&mut st.rng, 64).to_ascii_uppercase();
            st.apps.push(App {
                name: format!("Shadow IT App {i}"),
                dev_name: format!("Shadow_IT_App_{i}"),
                kind: AppKind::Connected,
                consumer_key: key,
                consumer_secret: secret,
                installed,
                admin_approved_only: false,
                refresh_validity_days: None,
                refresh_inactivity: false,
                ip_relax: 2,
                created: now,
                usage: Usage::Normal,
                callback_urls: vec![format!("https://shadow{i}.example.com/callback")],
                run_as: NONE,
                jwt_cert: false,
                permitted_users: vec![],
                permitted_profiles: 0,
                rotate_refresh: false,
                managed_namespace: None,
                disabled: false,
            });
        } else {
            let user = st.rng.random_range(0..n_users);
            let ip = std::net::Ipv4Addr::from(st.rng.random::<u32>()).into();
            st.logins.push(Login {
                user,
                time: now,
                app: NONE,
                subtype: 0,
                status: 1,
                ip,
            });
        }
    }
}
