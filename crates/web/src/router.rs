//! Every route of the cockpit, in one table.

use std::time::Duration;

use axum::{
    Router,
    extract::{MatchedPath, Request},
    http::{HeaderValue, header},
    response::Response,
    routing::get,
};
use tower_http::{
    catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};
use tracing::Span;

use crate::{AppState, pages};

/// Form bodies are small; anything larger is refused with 413.
const BODY_LIMIT: usize = 256 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::home::home))
        .route("/apps", get(pages::apps::apps_list))
        .route("/apps.csv", get(pages::apps::apps_csv))
        .route("/apps/{id}", get(pages::app_detail::app_show))
        .route("/users", get(pages::users::users_list))
        .route("/users/{uid}", get(pages::user_detail::user_show))
        .route("/reports", get(pages::reports::reports_index))
        .route("/reports/stale", get(pages::report_stale::stale_report))
        .route("/reports/stale.csv", get(pages::report_stale::stale_csv))
        .route("/reports/offboarding", get(pages::report_offboarding::offboarding_report))
        .route("/reports/offboarding.csv", get(pages::report_offboarding::offboarding_csv))
        .route("/reports/new-apps", get(pages::report_new_apps::new_apps_report))
        .route("/reports/new-apps.csv", get(pages::report_new_apps::new_apps_csv))
        .route("/healthz", get(pages::health::healthz))
        .route("/readyz", get(pages::health::readyz))
        .route("/static/app.css", get(pages::assets::css))
        .fallback(pages::assets::not_found)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(pages::assets::panic_page))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        route = route.as_deref().unwrap_or("unmatched"),
                        status = tracing::field::Empty,
                        latency_ms = tracing::field::Empty,
                    )
                })
                .on_request(())
                .on_response(|res: &Response, latency: Duration, span: &Span| {
                    span.record("status", res.status().as_u16());
                    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
                    tracing::info!(parent: span, status = res.status().as_u16(), latency_ms = latency.as_secs_f64() * 1000.0, "response");
                }),
        )
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
}
