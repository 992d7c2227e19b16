//! Authentication and the anti-forgery check, as the layers of the router's
//! groups (see `router.rs`): [`signed_in`] for pages that need a session,
//! [`public`] for the pages anyone may reach. Neither decides what a person
//! may see: the extractors of [`super::scope`] do, in the handlers.

use axum::{
    body::{Body, Bytes},
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, HeaderValue, Method, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use cockpit_domain::role::Role;

use super::{CurrentUser, cookie_value, hash_token, safe_next, same};
use crate::{AppError, AppState, error::ErrorShown};

/// The signed-in person a session cookie names, if it is live.
pub async fn load_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<CurrentUser>, AppError> {
    let Some(token) = cookie_value(headers, state.auth.session_cookie()) else {
        return Ok(None);
    };
    let hash = hash_token(token);
    let idle = chrono::Duration::from_std(state.auth.idle).unwrap_or_default();
    let absolute = chrono::Duration::from_std(state.auth.absolute).unwrap_or_default();
    let Some(found) =
        cockpit_db::accounts::live_session(&state.pool, &hash, idle, absolute).await?
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
    Ok(Some(CurrentUser {
        account_id: session.account_id,
        email: session.email,
        display_name: session.display_name,
        global_role: session.role.as_deref().and_then(Role::parse),
        org_roles,
        csrf: session.csrf_token,
        session_hash: hash,
        reauth_at: session.reauth_at,
        org_names: Some(org_names),
    }))
}

/// A request with a side effect must come from our own pages: Origin (when
/// the browser sends it) is ours, and Sec-Fetch-Site is not cross-site.
pub(crate) fn same_origin(headers: &HeaderMap, public_origin: &str) -> bool {
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

fn refused(msg: &str) -> Response {
    AppError::BadOrigin(msg.to_owned()).into_response()
}

fn mutating(req: &Request) -> bool {
    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
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

/// Checks the form's anti-forgery token against `expected` and gives the
/// request back with its body.
async fn checked_form(req: Request, expected: Option<&str>) -> Result<Request, Response> {
    let (parts, body) = req.into_parts();
    let (bytes, token) = form_token(&parts.headers, body).await?;
    match (expected, token) {
        (Some(e), Some(t)) if !e.is_empty() && same(e, &t) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(refused(
            "The form's anti-forgery token is missing or stale. Reload the page and try again.",
        )),
    }
}

/// The layer of the signed-in group: no session sends a page to sign-in
/// (with where to come back), a POST needs our origin and the session's
/// anti-forgery token; the person goes into the request for the
/// extractors. Pages for signed-in people are never cached, and an error
/// page shows the navigation of whoever is signed in.
pub async fn signed_in(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let post = mutating(&req);
    if post && !same_origin(req.headers(), &state.auth.public_origin) {
        return refused("This request came from another site and was refused.");
    }
    let user = match load_user(&state, req.headers()).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let Some(user) = user else {
        if post {
            return Redirect::to("/signin").into_response();
        }
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let q = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &safe_next(Some(target)))
            .finish();
        return Redirect::to(&format!("/signin?{q}")).into_response();
    };
    let mut req = if post {
        match checked_form(req, Some(&user.csrf)).await {
            Ok(r) => r,
            Err(resp) => return resp,
        }
    } else {
        req
    };
    req.extensions_mut().insert(user.clone());
    let mut res = next.run(req).await;
    if let Some(shown) = res.extensions().get::<ErrorShown>().cloned() {
        res = shown.render(crate::layout::Layout::bare_for(&user));
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The layer of the public group: a POST needs our origin and the token
/// bound to the pre-session cookie (forms shown before sign-in, even to
/// someone signed in who is signing in as someone else).
pub async fn public(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !mutating(&req) {
        return next.run(req).await;
    }
    if !same_origin(req.headers(), &state.auth.public_origin) {
        return refused("This request came from another site and was refused.");
    }
    let expected = cookie_value(req.headers(), state.auth.presession_cookie()).map(str::to_owned);
    match checked_form(req, expected.as_deref()).await {
        Ok(req) => next.run(req).await,
        Err(resp) => resp,
    }
}

/// Strict-Transport-Security on every answer when the cockpit is reached
/// over https.
pub async fn hsts(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let https = state.auth.public_origin.starts_with("https://");
    let mut res = next.run(req).await;
    if https {
        res.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    res
}

/// Whoever is signed in, if anyone: for the answers of no group (the "not
/// found" page), which show the navigation to a signed-in person.
pub struct MaybeUser(pub Option<CurrentUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(u) = parts.extensions.get::<CurrentUser>() {
            return Ok(MaybeUser(Some(u.clone())));
        }
        Ok(MaybeUser(
            load_user(state, &parts.headers).await.ok().flatten(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
