//! Who is asking, and may they. Server-side sessions in a `__Host-` cookie,
//! roles per org, and the anti-forgery check every state change goes through.
//!
//! - [`session_layer`] runs before every route: it turns the session cookie
//!   into a [`CurrentUser`] in the request's extensions, sends people without
//!   one to the sign-in page (pages) or answers 401 (API), and refuses any
//!   POST that lacks the anti-forgery token or comes from a foreign origin.
//! - Handlers take `CurrentUser` as an extractor and ask it
//!   [`CurrentUser::require`] for the role an action needs in an org; an org
//!   they have no role in answers 404, as if it did not exist.

use std::{collections::HashMap, time::Duration};

use axum::{
    body::{Body, Bytes},
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use cockpit_domain::role::Role;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{AppError, AppState};

/// Session lifetimes and where the cockpit is reached.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `scheme://host[:port]` people use; POSTs must come from it.
    pub public_origin: String,
    /// `__Host-` cookies need HTTPS (browsers also accept them on localhost).
    pub secure_cookies: bool,
    pub idle: Duration,
    pub absolute: Duration,
    /// Block, Revoke All and account changes ask for the password again
    /// when the last proof is older than this.
    pub reauth_after: Duration,
}

impl AuthConfig {
    pub fn for_public_url(public_url: &str) -> AuthConfig {
        let url = url::Url::parse(public_url).ok();
        let origin = url
            .as_ref()
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        let loopback = url
            .as_ref()
            .and_then(|u| u.host_str().map(str::to_owned))
            .is_some_and(|h| h == "localhost" || h == "127.0.0.1" || h == "[::1]");
        let https = url.as_ref().is_some_and(|u| u.scheme() == "https");
        AuthConfig {
            public_origin: origin,
            secure_cookies: https || loopback,
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
            reauth_after: Duration::from_secs(5 * 60),
        }
    }

    pub fn session_cookie(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-cockpit_session"
        } else {
            "cockpit_session"
        }
    }

    pub fn presession_cookie(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-cockpit_form"
        } else {
            "cockpit_form"
        }
    }

    /// `Set-Cookie` for a value; `None` clears it.
    pub fn cookie(&self, name: &str, value: Option<&str>) -> HeaderValue {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        let text = match value {
            Some(v) => format!("{name}={v}; Path=/; HttpOnly; SameSite=Lax{secure}"),
            None => format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
        };
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Comparison that takes as long whatever the inputs share.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The signed-in person, as the session layer found them.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub account_id: Uuid,
    pub email: String,
    pub display_name: Option<String>,
    pub global_role: Option<Role>,
    pub org_roles: HashMap<Uuid, Role>,
    pub csrf: String,
    pub session_hash: Vec<u8>,
    pub reauth_at: DateTime<Utc>,
    /// The orgs of `org_roles` with their names, as the org switcher lists
    /// them, when the session query brought them (`None`: not loaded).
    pub org_names: Option<Vec<(Uuid, String)>>,
}

impl CurrentUser {
    /// Orgs this person may see.
    pub fn visible_orgs(&self) -> Vec<Uuid> {
        self.org_roles.keys().copied().collect()
    }

    pub fn role_in(&self, org: Uuid) -> Option<Role> {
        self.org_roles.get(&org).copied()
    }

    /// The highest role held anywhere (decides what the navigation offers).
    pub fn max_role(&self) -> Option<Role> {
        self.org_roles
            .values()
            .copied()
            .chain(self.global_role)
            .max()
    }

    /// At least `min` in `org`; an org without any role is "not found".
    pub fn require(&self, org: Uuid, min: Role) -> Result<Role, AppError> {
        match self.role_in(org) {
            None => Err(AppError::NotFound),
            Some(r) if r < min => Err(AppError::Forbidden),
            Some(r) => Ok(r),
        }
    }

    /// At least `min` somewhere (for pages that are not about one org).
    pub fn require_any(&self, min: Role) -> Result<(), AppError> {
        if self.max_role().is_some_and(|r| r >= min) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Whether the password (or SSO) was confirmed recently enough for a
    /// dangerous action.
    pub fn recently_authenticated(&self, within: Duration) -> bool {
        Utc::now()
            .signed_duration_since(self.reauth_at)
            .to_std()
            .is_ok_and(|age| age <= within)
    }

    pub fn actor(&self) -> String {
        format!("user:{}", self.email)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or(AppError::Unauthenticated)
    }
}

tokio::task_local! {
    /// The signed-in person for the request being handled, so the page frame
    /// can show who is signed in and only the orgs they may see.
    static CURRENT: Option<CurrentUser>;
}

/// The signed-in person of the request being handled, if any.
pub fn current() -> Option<CurrentUser> {
    CURRENT.try_with(|u| u.clone()).ok().flatten()
}

/// The app or person a page path is about, by id, when it names one.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathObject {
    pub app: Option<i64>,
    pub user: Option<i64>,
    /// `/apps/{id}` or `/users/{uid}` with an id that is not a number.
    pub malformed: bool,
}

impl PathObject {
    pub fn of(path: &str) -> PathObject {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (app, raw) = match segments.as_slice() {
            ["apps", id] if !id.ends_with(".csv") => (true, *id),
            ["users", uid] => (false, *uid),
            _ => return PathObject::default(),
        };
        match raw.parse::<i64>() {
            Ok(id) => PathObject {
                app: app.then_some(id),
                user: (!app).then_some(id),
                malformed: false,
            },
            Err(_) => PathObject {
                malformed: true,
                ..PathObject::default()
            },
        }
    }
}

/// The org of the app or person a path names, as the session query found
/// it: `Ok(None)`: the path names none; `Err(NotFound)`: no such object.
fn object_org(asked: PathObject, found: ObjectOrgs) -> Result<Option<Uuid>, AppError> {
    if asked.malformed {
        return Err(AppError::NotFound);
    }
    match (asked.app, asked.user) {
        (Some(_), _) => found.app.map(Some).ok_or(AppError::NotFound),
        (None, Some(_)) => found.user.map(Some).ok_or(AppError::NotFound),
        (None, None) => Ok(None),
    }
}

/// What the session query found for a [`PathObject`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ObjectOrgs {
    pub app: Option<Uuid>,
    pub user: Option<Uuid>,
}

/// Pages written for every org (lists, reports, their exports) may only
/// show orgs the person has a role in. An org named in `?org=` or an app or
/// user id from an org they have no role in answers 404; someone with roles
/// in some orgs only is shown one of them rather than "all orgs".
fn scope_guard(
    user: &CurrentUser,
    uri: &axum::http::Uri,
    object: Option<Uuid>,
) -> Result<Option<Response>, AppError> {
    let path = uri.path();
    let org_param = uri
        .query()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "org")
                .map(|(_, v)| v.into_owned())
        })
        .filter(|v| !v.trim().is_empty());
    if let Some(org) = &org_param {
        let visible = Uuid::parse_str(org.trim()).is_ok_and(|id| user.role_in(id).is_some());
        if !visible {
            return Err(AppError::NotFound);
        }
    }
    if let Some(org) = object
        && user.role_in(org).is_none()
    {
        return Err(AppError::NotFound);
    }
    let first_segment = path.trim_matches('/').split('/').next();
    let cross_org_page = matches!(
        first_segment,
        Some("" | "apps" | "apps.csv" | "users" | "reports")
    ) && object.is_none();
    if cross_org_page && org_param.is_none() && user.global_role.is_none() {
        let mut orgs: Vec<Uuid> = user.visible_orgs();
        orgs.sort();
        let Some(first) = orgs.first() else {
            return Err(AppError::NotFound);
        };
        let sep = if uri.query().is_some_and(|q| !q.is_empty()) {
            "&"
        } else {
            "?"
        };
        let q = uri.query().unwrap_or("");
        return Ok(Some(
            Redirect::to(&format!("{path}?{q}{sep}org={first}").replace("??", "?")).into_response(),
        ));
    }
    Ok(None)
}

/// Paths anyone may reach.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/signin"
            | "/setup"
            | "/healthz"
            | "/readyz"
            | "/static/app.css"
            | "/signin/sso"
            | "/signin/sso/callback"
    )
}

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// A request with a side effect must come from our own pages: Origin (when
/// the browser sends it) is ours, and Sec-Fetch-Site is not cross-site.
fn same_origin(headers: &HeaderMap, public_origin: &str) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN)
        && origin.to_str().map_or(true, |o| o != public_origin)
    {
        return false;
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("same-origin") | Some("none") | None => true,
        Some(_) => false,
    }
}

fn forbidden(msg: &str) -> Response {
    AppError::BadOrigin(msg.to_owned()).into_response()
}

/// The signed-in person of a session cookie, and the orgs of the app or
/// person `object` names (one query).
pub async fn load_user(
    state: &AppState,
    headers: &HeaderMap,
    object: PathObject,
) -> Result<Option<(CurrentUser, ObjectOrgs)>, AppError> {
    let Some(token) = cookie_value(headers, state.auth.session_cookie()) else {
        return Ok(None);
    };
    let hash = hash_token(token);
    let idle = chrono::Duration::from_std(state.auth.idle).unwrap_or_default();
    let absolute = chrono::Duration::from_std(state.auth.absolute).unwrap_or_default();
    let Some(found) = cockpit_db::accounts::live_session(
        &state.pool,
        &hash,
        idle,
        absolute,
        object.app,
        object.user,
    )
    .await?
    else {
        return Ok(None);
    };
    let session = found.session;
    let org_roles = found
        .orgs
        .iter()
        .map(|(id, _, role)| (*id, *role))
        .collect();
    let org_names = found
        .orgs
        .into_iter()
        .map(|(id, name, _)| (id, name))
        .collect();
    Ok(Some((
        CurrentUser {
            account_id: session.account_id,
            email: session.email,
            display_name: session.display_name,
            global_role: session.role.as_deref().and_then(Role::parse),
            org_roles,
            csrf: session.csrf_token,
            session_hash: hash,
            reauth_at: session.reauth_at,
            org_names: Some(org_names),
        },
        ObjectOrgs {
            app: found.app_org,
            user: found.user_org,
        },
    )))
}

/// Reads a form body (bounded by the router's body limit) and returns it
/// with its `csrf` field, from a urlencoded form or a multipart upload.
async fn form_token(headers: &HeaderMap, body: Body) -> Result<(Bytes, Option<String>), Response> {
    let bytes = axum::body::to_bytes(body, 1024 * 1024)
        .await
        .map_err(|_| AppError::TooLarge.into_response())?;
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok());
    let token = match boundary {
        Some(boundary) => {
            let body = bytes.clone();
            let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
            let mut parts = multer::Multipart::new(stream, boundary);
            let mut token = None;
            while let Ok(Some(field)) = parts.next_field().await {
                if field.name() == Some("csrf") {
                    token = field.text().await.ok();
                    break;
                }
            }
            token
        }
        None => url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned()),
    };
    Ok((bytes, token))
}

/// Runs before every route: see the module docs.
pub async fn session_layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let hsts = state.auth.public_origin.starts_with("https://");
    let mut res = session_checks(state, req, next).await;
    if hsts {
        res.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}

async fn session_checks(state: AppState, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mutating = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if is_api(&path) {
        // The API authenticates with bearer tokens, never cookies, so a
        // forged cross-site request carries nothing that would let it in.
        return next.run(req).await;
    }
    if mutating && !same_origin(req.headers(), &state.auth.public_origin) {
        return forbidden("This request came from another site and was refused.");
    }
    // State changes name their objects in the form, not the path: the
    // handlers check those.
    let object = if mutating {
        PathObject::default()
    } else {
        PathObject::of(&path)
    };
    let (user, found) = match load_user(&state, req.headers(), object).await {
        Ok(Some((u, found))) => (Some(u), found),
        Ok(None) => (None, ObjectOrgs::default()),
        Err(e) => return e.into_response(),
    };
    if mutating {
        let expected = match &user {
            // Forms shown before sign-in (even to someone signed in, who is
            // signing in as someone else) carry a token bound to a cookie.
            _ if is_public(&path) => {
                cookie_value(req.headers(), state.auth.presession_cookie()).map(str::to_owned)
            }
            Some(u) => Some(u.csrf.clone()),
            None => None,
        };
        let (parts, body) = req.into_parts();
        let (bytes, token) = match form_token(&parts.headers, body).await {
            Ok(t) => t,
            Err(resp) => return resp,
        };
        match (expected, token) {
            (Some(e), Some(t)) if !e.is_empty() && same(&e, &t) => {}
            _ => {
                return forbidden(
                    "The form's anti-forgery token is missing or stale. Reload the page and try again.",
                );
            }
        }
        let mut req = Request::from_parts(parts, Body::from(bytes));
        let Some(u) = user else {
            if !is_public(&path) {
                return Redirect::to("/signin").into_response();
            }
            return next.run(req).await;
        };
        req.extensions_mut().insert(u.clone());
        return finish(CURRENT.scope(Some(u), next.run(req)).await, true);
    }
    let mut req = req;
    match user {
        Some(u) => {
            let guarded = object_org(object, found).and_then(|org| scope_guard(&u, req.uri(), org));
            match guarded {
                Ok(None) => {}
                Ok(Some(redirect)) => return redirect,
                Err(e) => return e.into_response(),
            }
            req.extensions_mut().insert(u.clone());
            finish(CURRENT.scope(Some(u), next.run(req)).await, true)
        }
        None if is_public(&path) => next.run(req).await,
        None => {
            let target = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", target)
                .finish();
            Redirect::to(&format!("/signin?{q}")).into_response()
        }
    }
}

/// Pages for signed-in people are never cached.
fn finish(mut res: Response, signed_in: bool) -> Response {
    if signed_in {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// `next=` targets are local paths only (no open redirect).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Sign-in throttling: failures allowed per account and per address in the
/// window before sign-in is refused for a while.
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
pub const THROTTLE_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// The client address for throttling: the socket peer (a proxy in front
/// should be trusted explicitly, which we do not do by default).
pub fn client_ip(parts: &axum::http::Extensions) -> String {
    parts
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub fn status_for_throttle() -> StatusCode {
    StatusCode::TOO_MANY_REQUESTS
}

/// The client's address, or "unknown" when the server was not started with
/// connection info (tests drive the router directly).
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(&parts.extensions)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/apps?x=1")), "/apps?x=1");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "evil"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
    }

    #[test]
    fn paths_name_their_app_or_person() {
        let of = |p: &str| {
            let o = PathObject::of(p);
            (o.app, o.user, o.malformed)
        };
        assert_eq!(of("/apps/12"), (Some(12), None, false));
        assert_eq!(of("/users/7/"), (None, Some(7), false));
        assert_eq!(of("/apps/x"), (None, None, true));
        assert_eq!(of("/users/1e3"), (None, None, true));
        for none in [
            "/",
            "/apps",
            "/apps.csv",
            "/apps/1.csv",
            "/apps/1/more",
            "/orgs/1",
        ] {
            assert_eq!(of(none), (None, None, false), "{none}");
        }
        // What the session query found decides: no such object is 404.
        let found = ObjectOrgs {
            app: Some(Uuid::nil()),
            user: None,
        };
        assert_eq!(
            object_org(PathObject::of("/apps/1"), found).ok(),
            Some(Some(Uuid::nil()))
        );
        assert!(object_org(PathObject::of("/users/1"), found).is_err());
        assert!(object_org(PathObject::of("/apps/x"), found).is_err());
        assert_eq!(object_org(PathObject::of("/apps"), found).ok(), Some(None));
    }

    #[test]
    fn origin_check() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h, "https://cockpit.example"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://cockpit.example"),
        );
        assert!(same_origin(&h, "https://cockpit.example"));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h, "https://cockpit.example"));
        let mut h = HeaderMap::new();
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h, "https://cockpit.example"));
    }

    #[test]
    fn cookies() {
        let c = AuthConfig::for_public_url("https://cockpit.example");
        let v = c.cookie(c.session_cookie(), Some("abc"));
        let v = v.to_str().unwrap();
        assert!(v.starts_with("__Host-cockpit_session=abc"), "{v}");
        for flag in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(v.contains(flag), "{flag} missing: {v}");
        }
        assert!(!v.contains("Domain"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-cockpit_session=tok; b=2"),
        );
        assert_eq!(cookie_value(&h, "__Host-cockpit_session"), Some("tok"));
        assert!(same("abc", "abc") && !same("abc", "abd"));
        assert_eq!(random_token().len(), 43);
    }
}
