//! Who is asking, and may they.
//!
//! - [`session`]: server-side sessions in a `__Host-` cookie, and the
//!   layers of the router's groups (signed in, public): authentication and
//!   the anti-forgery check, nothing else.
//! - [`scope`]: who may do what in which org, decided by extractors in the
//!   handlers' signatures: roles are types ([`scope::Viewer`],
//!   [`scope::Analyst`], [`scope::Admin`]) and an object a route names is
//!   loaded with its org before the handler runs ([`scope::In`]). An org the
//!   caller has no role in answers 404, as if it did not exist.
//! - [`redirect`]: where a `next=` may send someone.

pub mod redirect;
pub mod scope;
pub mod session;

pub use redirect::safe_next;
pub use scope::{Grant, In, OrgScope};

use std::{collections::HashMap, time::Duration};

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use cockpit_domain::role::Role;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::AppError;

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

/// The signed-in person, as the session layer found them, or an API
/// token's role as the API's layer found it. Handlers that need a role in
/// an org take the extractors of [`scope`] instead.
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

    /// The orgs where this person holds at least `min`.
    pub fn orgs_with(&self, min: Role) -> Vec<Uuid> {
        self.org_roles
            .iter()
            .filter(|(_, r)| **r >= min)
            .map(|(o, _)| *o)
            .collect()
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
