//! Every route of the cockpit, in one table, grouped by who may reach it.
//! Each group has its layers ([`Group`]); within a group, what a person may
//! see or change is decided by the handler's extractors
//! ([`crate::auth::scope`]), in the object's org.

use std::time::Duration;

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    handler::Handler,
    http::{HeaderValue, header},
    middleware,
    response::Response,
    routing::{MethodRouter, any, get, post},
};
use tower_http::{
    catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};
use tracing::Span;

use crate::{AppState, api, auth, input, pages};

/// Form bodies are small; anything larger is refused with 413.
pub(crate) const BODY_LIMIT: usize = 256 * 1024;
/// Indicator imports may be larger: 100,000 addresses fit.
pub(crate) const IMPORT_LIMIT: usize = 4 * 1024 * 1024;
/// The routes that take [`IMPORT_LIMIT`].
const IMPORT_PATHS: [&str; 2] = ["/indicators", "/api/v1/indicators"];

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

/// Who may reach a group's routes before the handler's extractors decide
/// the rest (the role, and in which org: see [`crate::auth::scope`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Anyone, and nothing read on the way in (no session, no database):
    /// the health probes, which must answer while the database is down.
    Probe,
    /// Anyone: sign-in, first setup, the stylesheet. A POST needs the
    /// pre-session anti-forgery token.
    Public,
    /// A live session: anyone else is sent to sign in. A POST needs the
    /// session's anti-forgery token.
    SignedIn,
    /// `/api/v1`: an API token (bearer), never a cookie.
    Api,
}

/// One route of the table: what [`table`] lists and the route × role × org
/// test walks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub group: Group,
    /// `GET`, `POST`, or `*` for a catch-all.
    pub method: &'static str,
    pub path: &'static str,
}

/// A group's routes being built, and the table of them.
pub(crate) struct Routes {
    group: Group,
    router: Router<AppState>,
    table: Vec<RouteInfo>,
}

impl Routes {
    pub(crate) fn new(group: Group) -> Routes {
        Routes {
            group,
            router: Router::new(),
            table: Vec::new(),
        }
    }

    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        route: MethodRouter<AppState>,
    ) -> Routes {
        self.router = self.router.route(path, route);
        self.table.push(RouteInfo {
            group: self.group,
            method,
            path,
        });
        self
    }

    pub(crate) fn get<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
    ) -> Routes {
        self.add("GET", path, get(h))
    }

    pub(crate) fn post<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
    ) -> Routes {
        self.add("POST", path, post(h))
    }

    pub(crate) fn any<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
    ) -> Routes {
        self.add("*", path, any(h))
    }

    /// The group's routes with its layers (`route_layer`: they run only
    /// for a route of the group, the last one added first).
    fn into_router(self) -> Router<AppState> {
        self.router
    }
}

/// Pages anyone may reach.
fn public() -> Routes {
    Routes::new(Group::Public)
        .get("/signin", pages::signin::signin_form)
        .post("/signin", pages::signin::signin_submit)
        .get("/setup", pages::signin::setup_form)
        .post("/setup", pages::signin::setup_submit)
        .post("/signin/sso", pages::sso::sso_start)
        .get("/signin/sso/callback", pages::sso::sso_callback)
        .get("/static/app.css", pages::assets::css)
}

/// Health probes and metrics: a cookie a browser sends along changes
/// nothing (metrics take their own bearer token).
fn probes() -> Routes {
    Routes::new(Group::Probe)
        .get("/healthz", pages::health::healthz)
        .get("/readyz", pages::health::readyz)
        .get("/metrics", crate::metrics::scrape)
        .get("/api/v1/openapi.json", api::openapi::document)
}

/// Pages for signed-in people; each handler's extractors say which role it
/// needs and where.
fn signed_in() -> Routes {
    Routes::new(Group::SignedIn)
        .get("/", pages::home::home)
        .get("/apps", pages::apps::apps_list)
        .get("/apps.csv", pages::apps::apps_csv)
        .get("/apps/where", pages::app_search::where_is)
        .get("/apps/{id}", pages::app_detail::app_show)
        .get("/users", pages::users::users_list)
        .get("/users/{uid}", pages::user_detail::user_show)
        .get("/reports", pages::reports::reports_index)
        .get("/reports/stale", pages::report_stale::stale_report)
        .get("/reports/stale.csv", pages::report_stale::stale_csv)
        .get(
            "/reports/offboarding",
            pages::report_offboarding::offboarding_report,
        )
        .get(
            "/reports/offboarding.csv",
            pages::report_offboarding::offboarding_csv,
        )
        .get("/reports/new-apps", pages::report_new_apps::new_apps_report)
        .get(
            "/reports/new-apps.csv",
            pages::report_new_apps::new_apps_csv,
        )
        .post("/signout", pages::signin::signout)
        .get("/reauth", pages::signin::reauth_form)
        .post("/reauth", pages::signin::reauth_submit)
        .post("/reauth/sso", pages::sso::reauth_sso)
        .get("/orgs", pages::orgs::orgs_list)
        .get("/orgs/connect", pages::orgs::org_connect_form)
        .post("/orgs/connect", pages::orgs::org_connect_start)
        .get("/orgs/callback", pages::orgs::org_connect_callback)
        .get("/orgs/{id}", pages::orgs::org_show)
        .post("/orgs/{id}/sync", pages::orgs::org_sync)
        .post("/orgs/{id}/disconnect", pages::orgs::org_disconnect)
        .get("/incidents", pages::incidents::incidents_list)
        .post("/incidents", pages::incidents::incident_create)
        .get("/incidents/new", pages::incidents::incident_new)
        .get("/incidents/{id}", pages::incidents::incident_show)
        .post(
            "/incidents/{id}/contain",
            pages::incidents::incident_contain,
        )
        .post(
            "/incidents/{id}/approve",
            pages::incidents::incident_approve,
        )
        .post("/incidents/{id}/reject", pages::incidents::incident_reject)
        .post(
            "/incidents/{id}/break-glass",
            pages::incidents::incident_break_glass,
        )
        .post("/incidents/{id}/close", pages::incidents::incident_close)
        .post("/incidents/{id}/tasks", pages::incidents::incident_task_add)
        .post(
            "/incidents/{id}/tasks/{task}",
            pages::incidents::incident_task_update,
        )
        .get(
            "/incidents/{id}/evidence",
            pages::incidents::incident_evidence,
        )
        .get(
            "/incidents/{id}/evidence.csv",
            pages::incidents::incident_evidence_csv,
        )
        .get(
            "/incidents/{id}/evidence.json",
            pages::incidents::incident_evidence_json,
        )
        .get("/hunts", pages::hunts::hunts_list)
        .post("/hunts", pages::hunts::hunt_create)
        .get("/hunts/{id}", pages::hunts::hunt_show)
        .get("/hunts/{id}/export.csv", pages::hunts::hunt_csv)
        .get("/hunts/{id}/export.json", pages::hunts::hunt_json_export)
        .post(
            "/hunts/hits/{id}/acknowledge",
            pages::hunts::hit_acknowledge,
        )
        .post(
            "/new-sources/{id}/acknowledge",
            pages::app_detail::new_source_acknowledge,
        )
        .get("/indicators", pages::hunts::indicators_list)
        .post("/indicators", pages::hunts::indicators_import)
        .get("/indicators/{id}", pages::hunts::indicator_set)
        .post(
            "/indicators/{id}/active",
            pages::hunts::indicator_set_active,
        )
        .post("/indicators/{id}/remove", pages::hunts::indicator_remove)
        .get("/actions", pages::action_show::actions_list)
        .post("/actions", pages::action_new::action_create)
        .get("/actions/new", pages::action_new::action_new)
        .get("/actions/{id}", pages::action_show::action_show)
        .post("/actions/{id}/retry", pages::action_show::action_retry)
        .post("/actions/{id}/approve", pages::action_show::action_approve)
        .post("/actions/{id}/reject", pages::action_show::action_reject)
        .post(
            "/actions/{id}/break-glass",
            pages::action_show::action_break_glass,
        )
        .get("/audit", pages::audit::audit_list)
        .get("/audit.csv", pages::audit::audit_csv)
        .get("/audit.json", pages::audit::audit_json)
        .get("/inventory", pages::inventory::inventory_list)
        .post("/inventory", pages::inventory::inventory_save)
        .get("/inventory.csv", pages::inventory::inventory_csv)
        .get("/inventory/new", pages::inventory::inventory_new)
        .post("/inventory/import", pages::inventory::inventory_import)
        .get("/inventory/{id}", pages::inventory::inventory_edit)
        .get("/reviews", pages::reviews::reviews_list)
        .post("/reviews", pages::reviews::review_start)
        .get("/reviews/{id}", pages::reviews::review_show)
        .post("/reviews/{id}/decide", pages::reviews::review_decide)
        .post("/reviews/{id}/send", pages::reviews::review_send)
        .post("/reviews/{id}/complete", pages::reviews::review_complete)
        .get("/reviews/{id}/evidence", pages::reviews::review_evidence)
        .get(
            "/reviews/{id}/evidence.csv",
            pages::reviews::review_evidence_csv,
        )
        .get("/admin/accounts", pages::admin_accounts::accounts_list)
        .post("/admin/accounts", pages::admin_accounts::account_create)
        .get("/admin/accounts/{id}", pages::admin_accounts::account_show)
        .post(
            "/admin/accounts/{id}/role",
            pages::admin_accounts::account_role,
        )
        .post(
            "/admin/accounts/{id}/org-roles",
            pages::admin_accounts::account_org_role,
        )
        .post(
            "/admin/accounts/{id}/access",
            pages::admin_accounts::account_access,
        )
        .get("/admin/api-tokens", pages::admin_tokens::tokens_list)
        .post("/admin/api-tokens", pages::admin_tokens::token_create)
        .post(
            "/admin/api-tokens/{id}/revoke",
            pages::admin_tokens::token_revoke,
        )
        .get("/admin/channels", pages::admin_channels::channels_list)
        .post("/admin/channels", pages::admin_channels::channel_create)
        .post(
            "/admin/channels/{id}/test",
            pages::admin_channels::channel_test,
        )
        .post(
            "/admin/channels/{id}/change",
            pages::admin_channels::channel_change,
        )
        .get("/admin/deliveries", pages::admin_channels::deliveries_list)
        .post(
            "/admin/deliveries/{id}/resend",
            pages::admin_channels::delivery_resend,
        )
}

/// Every route, by group, as the router serves them.
pub fn table() -> Vec<RouteInfo> {
    [probes(), public(), signed_in(), api::routes()]
        .into_iter()
        .flat_map(|g| g.table)
        .collect()
}

pub fn router(state: AppState) -> Router {
    let sso = state.sso.clone();
    let public = public()
        .into_router()
        .route_layer(middleware::from_fn(input::clean_text))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::session::public,
        ));
    let signed_in = signed_in()
        .into_router()
        .route_layer(middleware::from_fn(input::clean_text))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::session::signed_in,
        ));
    let api = api::routes()
        .into_router()
        .route_layer(middleware::from_fn(input::clean_text))
        .route_layer(middleware::from_fn_with_state(state.clone(), api::bearer))
        .route_layer(middleware::from_fn(api::json_errors));
    Router::new()
        .merge(probes().into_router())
        .merge(public)
        .merge(signed_in)
        .merge(api)
        .fallback(pages::assets::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), auth::session::hsts))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
        .layer(middleware::from_fn(body_limit))
        .layer(RequestBodyLimitLayer::new(IMPORT_LIMIT))
        .layer(DefaultBodyLimit::max(IMPORT_LIMIT))
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

/// Bodies over [`BODY_LIMIT`] are refused with 413 except on the import
/// routes, which [`IMPORT_LIMIT`] bounds (the layer outside this one).
async fn body_limit(req: Request, next: axum::middleware::Next) -> Response {
    let limit = if IMPORT_PATHS.contains(&req.uri().path()) {
        IMPORT_LIMIT
    } else {
        BODY_LIMIT
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return axum::response::IntoResponse::into_response(crate::AppError::TooLarge);
    }
    if limit == IMPORT_LIMIT || declared.is_some() {
        return next.run(req).await;
    }
    // No length given (chunked): read up to the limit here.
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(_) => axum::response::IntoResponse::into_response(crate::AppError::TooLarge),
    }
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
