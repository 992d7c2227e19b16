//! Every route of the cockpit, in one table.

use std::time::Duration;

use axum::{
    Router,
    extract::{MatchedPath, Request},
    http::{HeaderValue, header},
    middleware,
    response::Response,
    routing::{get, post},
};
use tower_http::{
    catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};
use tracing::Span;

use crate::{AppState, api, auth, pages};

/// Form bodies are small; anything larger is refused with 413.
pub(crate) const BODY_LIMIT: usize = 256 * 1024;

/// Forms post here only, and to the single sign-on provider: a browser
/// applies `form-action` to the redirect that follows a form, and the
/// "Sign in with …" form is redirected to the provider.
pub fn content_security_policy(sso: Option<&crate::oidc::Sso>) -> HeaderValue {
    let extra: String = sso
        .map(|s| s.form_action_sources())
        .unwrap_or_default()
        .iter()
        .map(|o| format!(" {o}"))
        .collect();
    HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'{extra}; \
         frame-ancestors 'none'; base-uri 'none'"
    ))
    .unwrap_or_else(|_| {
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        )
    })
}

pub fn router(state: AppState) -> Router {
    let sso = state.sso.clone();
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
        .route("/signin", get(pages::signin::signin_form).post(pages::signin::signin_submit))
        .route("/signout", post(pages::signin::signout))
        .route("/setup", get(pages::signin::setup_form).post(pages::signin::setup_submit))
        .route("/signin/sso", post(pages::sso::sso_start))
        .route("/signin/sso/callback", get(pages::sso::sso_callback))
        .route("/reauth", get(pages::signin::reauth_form).post(pages::signin::reauth_submit))
        .route("/reauth/sso", post(pages::sso::reauth_sso))
        .route("/orgs", get(pages::orgs::orgs_list))
        .route("/orgs/connect", get(pages::orgs::org_connect_form).post(pages::orgs::org_connect_start))
        .route("/orgs/callback", get(pages::orgs::org_connect_callback))
        .route("/orgs/{id}", get(pages::orgs::org_show))
        .route("/orgs/{id}/sync", post(pages::orgs::org_sync))
        .route("/orgs/{id}/disconnect", post(pages::orgs::org_disconnect))
        .route("/actions", get(pages::action_show::actions_list).post(pages::action_new::action_create))
        .route("/actions/new", get(pages::action_new::action_new))
        .route("/actions/{id}", get(pages::action_show::action_show))
        .route("/actions/{id}/retry", post(pages::action_show::action_retry))
        .route("/audit", get(pages::audit::audit_list))
        .route("/audit.csv", get(pages::audit::audit_csv))
        .route("/audit.json", get(pages::audit::audit_json))
        .route("/inventory", get(pages::inventory::inventory_list).post(pages::inventory::inventory_save))
        .route("/inventory.csv", get(pages::inventory::inventory_csv))
        .route("/inventory/new", get(pages::inventory::inventory_new))
        .route("/inventory/import", post(pages::inventory::inventory_import))
        .route("/inventory/{id}", get(pages::inventory::inventory_edit))
        .route("/reviews", get(pages::reviews::reviews_list).post(pages::reviews::review_start))
        .route("/reviews/{id}", get(pages::reviews::review_show))
        .route("/reviews/{id}/decide", post(pages::reviews::review_decide))
        .route("/reviews/{id}/send", post(pages::reviews::review_send))
        .route("/reviews/{id}/complete", post(pages::reviews::review_complete))
        .route("/reviews/{id}/evidence", get(pages::reviews::review_evidence))
        .route("/reviews/{id}/evidence.csv", get(pages::reviews::review_evidence_csv))
        .route("/healthz", get(pages::health::healthz))
        .route("/readyz", get(pages::health::readyz))
        .route("/static/app.css", get(pages::assets::css))
        .route("/admin/accounts", get(pages::admin_accounts::accounts_list).post(pages::admin_accounts::account_create))
        .route("/admin/accounts/{id}", get(pages::admin_accounts::account_show))
        .route("/admin/accounts/{id}/role", post(pages::admin_accounts::account_role))
        .route("/admin/accounts/{id}/org-roles", post(pages::admin_accounts::account_org_role))
        .route("/admin/accounts/{id}/access", post(pages::admin_accounts::account_access))
        .route("/admin/api-tokens", get(pages::admin_tokens::tokens_list).post(pages::admin_tokens::token_create))
        .route("/admin/api-tokens/{id}/revoke", post(pages::admin_tokens::token_revoke))
        .merge(api::router(state.clone()))
        .fallback(pages::assets::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), auth::session_layer))
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(middleware::from_fn(api_errors_are_json))
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
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, move |_: &Response| {
            Some(content_security_policy(sso.as_deref()))
        }))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
}

/// Answers the router's own refusals (413 over the body limit, before any
/// handler runs) in the API's JSON shape on `/api/` paths, as every other
/// API error is.
async fn api_errors_are_json(req: Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if api && !json && res.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return axum::response::IntoResponse::into_response(crate::ApiError(
            crate::AppError::TooLarge,
        ));
    }
    res
}
