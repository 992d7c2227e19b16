//! `/metrics`: Prometheus metrics, for the operator's monitoring. Off
//! unless the operator sets a bearer token (`COCKPIT_METRICS_TOKEN`):
//! without it the route answers 404, with a wrong or missing token 401.
//!
//! HTTP request durations are counted in this process as requests pass
//! ([`track`]); everything else is read from the database at scrape time,
//! so every `serve` process reports the same figures for the shared state
//! (sync runs, tokens, API budget, jobs, actions, deliveries). Built with
//! `prometheus-client`, the Prometheus project's own Rust client; names
//! follow Prometheus conventions (`oauth_cockpit_` prefix, base units,
//! `_total` for counters).

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use sha2::{Digest, Sha256};

use crate::{AppError, AppState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    /// The route's pattern (`/apps/{id}`), never the path a client sent.
    pub route: String,
    pub status: u16,
}

type DurationFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The metrics this process keeps between scrapes.
#[derive(Clone)]
pub struct HttpMetrics {
    durations: DurationFamily,
}

fn duration_histogram() -> Histogram {
    // 1 ms to about 4 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 13))
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            durations: Family::new_with_constructor(duration_histogram),
        }
    }
}

/// Times every routed request.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let res = next.run(req).await;
    state
        .http_metrics
        .durations
        .get_or_create(&RouteLabels {
            method,
            route,
            status: res.status().as_u16(),
        })
        .observe(started.elapsed().as_secs_f64());
    res
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OrgLabels {
    org: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OrgOutcome {
    org: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OrgStatus {
    org: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindStatus {
    kind: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelStatus {
    channel: String,
    status: String,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Registers a family and returns it to fill.
fn family<L, M>(registry: &mut Registry, name: &str, help: &str) -> Family<L, M>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
    M: prometheus_client::metrics::TypedMetric
        + prometheus_client::encoding::EncodeMetric
        + Default
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let f = Family::<L, M>::default();
    registry.register(name, help, f.clone());
    f
}

/// Reads the shared state into a fresh registry (with this process's
/// request durations) and renders it in the OpenMetrics text format.
async fn render(state: &AppState) -> Result<String, AppError> {
    let mut r = Registry::with_prefix("oauth_cockpit");
    let pool = &state.pool;

    let orgs = sqlx::query!(
        r#"SELECT o.name, o.status, o.api_usage_used, o.api_usage_max,
                  extract(epoch FROM o.last_sync_at)::float8 AS last_sync,
                  (SELECT coalesce(sum(s.tokens), 0) FROM app_summary s WHERE s.org_id = o.id)::int8 AS "tokens!",
                  (SELECT extract(epoch FROM r.finished_at - r.started_at)::float8 FROM sync_runs r
                   WHERE r.org_id = o.id AND r.finished_at IS NOT NULL
                   ORDER BY r.started_at DESC LIMIT 1) AS last_duration
           FROM orgs o ORDER BY o.name"#
    )
    .fetch_all(pool)
    .await?;
    let tokens: Family<OrgLabels, Gauge> = family(
        &mut r,
        "org_live_authorizations",
        "Live OAuth authorizations (refresh tokens) in the org's last snapshot",
    );
    let used: Family<OrgLabels, Gauge> = family(
        &mut r,
        "org_api_requests_used",
        "API requests the org had used of its daily allowance at the last reading",
    );
    let max: Family<OrgLabels, Gauge> = family(
        &mut r,
        "org_api_requests_max",
        "The org's daily API request allowance at the last reading",
    );
    let last_duration: Family<OrgLabels, FloatGauge> = family(
        &mut r,
        "org_last_sync_duration_seconds",
        "How long the org's last finished sync took",
    );
    let last_success: Family<OrgLabels, FloatGauge> = family(
        &mut r,
        "org_last_successful_sync_timestamp_seconds",
        "When the org's last successful sync finished",
    );
    let status: Family<OrgStatus, Gauge> = family(
        &mut r,
        "org_status",
        "1 for the org's current status (connected, syncing, failed, needs_reauth, paused_budget, …)",
    );
    for o in orgs {
        let org = OrgLabels {
            org: o.name.clone(),
        };
        tokens.get_or_create(&org).set(o.tokens);
        used.get_or_create(&org)
            .set(o.api_usage_used.unwrap_or_default());
        max.get_or_create(&org)
            .set(o.api_usage_max.unwrap_or_default());
        if let Some(d) = o.last_duration {
            last_duration.get_or_create(&org).set(d);
        }
        if let Some(t) = o.last_sync {
            last_success.get_or_create(&org).set(t);
        }
        status
            .get_or_create(&OrgStatus {
                org: o.name,
                status: o.status,
            })
            .set(1);
    }

    let runs: Family<OrgOutcome, Counter> = family(
        &mut r,
        "sync_runs",
        "Syncs run, by org and outcome (succeeded, failed, running)",
    );
    for s in sqlx::query!(
        r#"SELECT o.name, r.status, count(*) AS "n!" FROM sync_runs r JOIN orgs o ON o.id = r.org_id
           GROUP BY o.name, r.status"#
    )
    .fetch_all(pool)
    .await?
    {
        runs.get_or_create(&OrgOutcome {
            org: s.name,
            outcome: s.status,
        })
        .inc_by(s.n as u64);
    }

    let queued: Family<KindLabels, Gauge> = family(
        &mut r,
        "jobs_queued",
        "Background jobs waiting or running, by kind",
    );
    let oldest: Family<KindLabels, FloatGauge> = family(
        &mut r,
        "jobs_oldest_age_seconds",
        "Age of the oldest job due, by kind",
    );
    for j in sqlx::query!(
        r#"SELECT kind, count(*) AS "n!",
                  extract(epoch FROM now() - min(run_after) FILTER (WHERE run_after <= now()))::float8 AS age
           FROM jobs GROUP BY kind"#
    )
    .fetch_all(pool)
    .await?
    {
        let kind = KindLabels { kind: j.kind };
        queued.get_or_create(&kind).set(j.n);
        oldest.get_or_create(&kind).set(j.age.unwrap_or(0.0));
    }

    let actions: Family<KindStatus, Counter> = family(
        &mut r,
        "actions",
        "Revoke and block actions, by kind and status",
    );
    for a in
        sqlx::query!(r#"SELECT kind, status, count(*) AS "n!" FROM actions GROUP BY kind, status"#)
            .fetch_all(pool)
            .await?
    {
        actions
            .get_or_create(&KindStatus {
                kind: a.kind,
                status: a.status,
            })
            .inc_by(a.n as u64);
    }

    let deliveries: Family<ChannelStatus, Counter> = family(
        &mut r,
        "notification_deliveries",
        "Notification deliveries, by channel and outcome (delivered, pending, dead)",
    );
    for d in sqlx::query!(
        r#"SELECT c.name, d.status, count(*) AS "n!" FROM deliveries d JOIN channels c ON c.id = d.channel_id
           GROUP BY c.name, d.status"#
    )
    .fetch_all(pool)
    .await?
    {
        deliveries
            .get_or_create(&ChannelStatus {
                channel: d.name,
                status: d.status,
            })
            .inc_by(d.n as u64);
    }

    r.register(
        "http_request_duration_seconds",
        "HTTP requests this process answered, by method, route and status",
        state.http_metrics.durations.clone(),
    );
    let mut out = String::new();
    encode(&mut out, &r).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(out)
}

/// `GET /metrics`, with `Authorization: Bearer <COCKPIT_METRICS_TOKEN>`.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = &state.metrics_token else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Digests compared, so the comparison's time says nothing of the token.
    if Sha256::digest(given.as_bytes()) != Sha256::digest(expected.as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
        )
            .into_response();
    }
    match render(&state).await {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics could not be read");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::{Request, header};
    use tower::ServiceExt as _;

    use crate::testutil::*;

    async fn scrape(state: &crate::AppState, token: Option<&str>) -> (u16, String) {
        let mut req = Request::get("/metrics");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let res = crate::router(state.clone())
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn metrics_scrape_in_the_prometheus_text_format(pool: sqlx::PgPool) {
        let (org, _) = seeded(&pool, "Acme").await;
        let live: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sf_tokens WHERE org_id = $1 AND gone_at IS NULL",
        )
        .bind(org)
        .fetch_one(&pool)
        .await
        .unwrap();
        let mut state = state(&pool);
        assert_eq!(scrape(&state, None).await.0, 404, "off without a token");
        state.metrics_token = Some("scrape-me".into());
        assert_eq!(scrape(&state, None).await.0, 401);
        assert_eq!(scrape(&state, Some("wrong")).await.0, 401);
        // A page first, so its duration is there.
        let cookie = admin_cookie(&pool).await;
        send_to(
            &state,
            &cookie,
            Request::get("/apps").body(Body::empty()).unwrap(),
        )
        .await;
        let (status, text) = scrape(&state, Some("scrape-me")).await;
        assert_eq!(status, 200);
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scraped = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
        let value = |name: &str, label: (&str, &str)| -> Option<f64> {
            scraped
                .samples
                .iter()
                .find(|s| s.metric == name && s.labels.get(label.0) == Some(label.1))
                .map(|s| match s.value {
                    prometheus_parse::Value::Gauge(v)
                    | prometheus_parse::Value::Counter(v)
                    | prometheus_parse::Value::Untyped(v) => v,
                    _ => f64::NAN,
                })
        };
        assert_eq!(
            value("oauth_cockpit_org_live_authorizations", ("org", "Acme")),
            Some(live as f64)
        );
        assert_eq!(
            value("oauth_cockpit_sync_runs_total", ("outcome", "succeeded")),
            Some(1.0)
        );
        assert_eq!(
            value("oauth_cockpit_org_status", ("status", "connected")),
            Some(1.0)
        );
        assert!(
            scraped.samples.iter().any(|s| s.metric
                == "oauth_cockpit_http_request_duration_seconds_count"
                && s.labels.get("route") == Some("/apps")),
            "{text}"
        );
        assert!(!text.contains("scrape-me"));
    }
}
