//! Who may do what in which org, decided in the handlers' signatures.
//!
//! Roles are types: [`Viewer`], [`Analyst`], [`Admin`]. A handler names the
//! role it needs and where:
//!
//! - [`In<O, R>`]: the object the route's path names (an app, a person, an
//!   org, an action: [`AppId`], [`PersonId`], [`OrgId`], [`ActionId`]) is
//!   loaded with its org, and the caller must hold `R` **in that org**.
//!   An object of an org the caller has no role in answers 404, a role
//!   below `R` answers 403.
//! - [`OrgScope<R>`]: pages written for every org (lists, reports, their
//!   exports) read `?org=`; an org the caller may not see is 404; without
//!   one, a caller who holds `R` in every org sees them all and anyone else
//!   is sent to the first org where they hold `R`.
//! - [`Anywhere<R>`]: pages that are not about one org's data (the
//!   inventory, the list of reviews, the audit history, which show only
//!   what the caller's orgs may see): `R` in at least one org.
//! - [`EveryOrg<R>`]: `R` in every org, present and future (accounts, API
//!   tokens, connecting orgs).
//!
//! A change to an org's data needs a [`Grant<R>`]: proof that the caller
//! holds `R` in that org. It comes from one of the extractors above or from
//! [`CurrentUser::grant`] for an org named in a form, and it is the only
//! way to get the org id the database writes take.

use std::{collections::HashMap, future::Future, marker::PhantomData};

use axum::{
    extract::{FromRequestParts, RawPathParams},
    http::request::Parts,
    response::{IntoResponse, Redirect, Response},
};
use cockpit_domain::role::Role;
use uuid::Uuid;

use crate::{AppError, AppState, auth::CurrentUser, auth::safe_next};

/// A role a route needs, as a type.
pub trait MinRole: Send + Sync + 'static {
    const ROLE: Role;
}

/// May see pages, reports and the audit history.
pub struct Viewer;
/// Also exports, the inventory, reviews and syncs.
pub struct Analyst;
/// Also revokes, blocks, org connections and accounts.
pub struct Admin;

impl MinRole for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl MinRole for Analyst {
    const ROLE: Role = Role::Analyst;
}
impl MinRole for Admin {
    const ROLE: Role = Role::Admin;
}

/// Proof that the caller holds at least `R` in one org. Only this module
/// makes one, after checking.
#[derive(Debug)]
pub struct Grant<R> {
    org: Uuid,
    role: Role,
    _role: PhantomData<R>,
}

impl<R> Clone for Grant<R> {
    fn clone(&self) -> Self {
        Grant {
            org: self.org,
            role: self.role,
            _role: PhantomData,
        }
    }
}

impl<R> Grant<R> {
    pub fn org(&self) -> Uuid {
        self.org
    }

    /// The role the caller actually holds there (at least `R`).
    pub fn role(&self) -> Role {
        self.role
    }
}

impl CurrentUser {
    /// At least `R` in `org`: an org without any role is "not found", a
    /// lower role is "not allowed".
    pub fn grant<R: MinRole>(&self, org: Uuid) -> Result<Grant<R>, AppError> {
        match self.role_in(org) {
            None => Err(AppError::NotFound),
            Some(r) if r < R::ROLE => Err(AppError::Forbidden),
            Some(role) => Ok(Grant {
                org,
                role,
                _role: PhantomData,
            }),
        }
    }

    /// At least `role` in `org`, without a proof (for what a page offers).
    pub fn may(&self, org: Uuid, role: Role) -> bool {
        self.role_in(org).is_some_and(|r| r >= role)
    }
}

/// An object a route's path names, loaded with the org it belongs to.
pub trait OrgObject: Sized + Send {
    /// `Ok(None)`: no such object (a malformed id is none either).
    fn load(
        state: &AppState,
        raw: &str,
    ) -> impl Future<Output = Result<Option<(Self, Uuid)>, AppError>> + Send;
}

/// A connected app or External Client App, by its row id (`/apps/{id}`).
#[derive(Debug, Clone, Copy)]
pub struct AppId(pub i64);
/// A Salesforce user, by row id (`/users/{uid}`).
#[derive(Debug, Clone, Copy)]
pub struct PersonId(pub i64);
/// An org (`/orgs/{id}`).
#[derive(Debug, Clone, Copy)]
pub struct OrgId(pub Uuid);
/// An action (`/actions/{id}`).
#[derive(Debug, Clone, Copy)]
pub struct ActionId(pub i64);

/// A hit of the continuous indicator match (`/hunts/hits/{id}`).
#[derive(Debug, Clone, Copy)]
pub struct HitId(pub i64);

impl OrgObject for HitId {
    async fn load(state: &AppState, raw: &str) -> Result<Option<(Self, Uuid)>, AppError> {
        let Ok(id) = raw.parse::<i64>() else {
            return Ok(None);
        };
        let org = sqlx::query_scalar!(
            "SELECT org_id FROM hunt_hits WHERE id = $1 AND hunt_id IS NULL",
            id
        )
        .fetch_optional(&state.pool)
        .await?;
        Ok(org.map(|o| (HitId(id), o)))
    }
}

/// A network or user agent new to an app (`/new-sources/{id}`).
#[derive(Debug, Clone, Copy)]
pub struct NewSourceId(pub i64);

impl OrgObject for NewSourceId {
    async fn load(state: &AppState, raw: &str) -> Result<Option<(Self, Uuid)>, AppError> {
        let Ok(id) = raw.parse::<i64>() else {
            return Ok(None);
        };
        let org = cockpit_db::sources::org_of(&state.pool, id).await?;
        Ok(org.map(|o| (NewSourceId(id), o)))
    }
}

impl OrgObject for AppId {
    async fn load(state: &AppState, raw: &str) -> Result<Option<(Self, Uuid)>, AppError> {
        let Ok(id) = raw.parse::<i64>() else {
            return Ok(None);
        };
        let org = sqlx::query_scalar!("SELECT org_id FROM sf_apps WHERE id = $1", id)
            .fetch_optional(&state.pool)
            .await?;
        Ok(org.map(|o| (AppId(id), o)))
    }
}

impl OrgObject for PersonId {
    async fn load(state: &AppState, raw: &str) -> Result<Option<(Self, Uuid)>, AppError> {
        let Ok(uid) = raw.parse::<i64>() else {
            return Ok(None);
        };
        let org = sqlx::query_scalar!("SELECT org_id FROM sf_users WHERE uid = $1", uid)
            .fetch_optional(&state.pool)
            .await?;
        Ok(org.map(|o| (PersonId(uid), o)))
    }
}

impl OrgObject for OrgId {
    async fn load(state: &AppState, raw: &str) -> Result<Option<(Self, Uuid)>, AppError> {
        let Ok(id) = Uuid::parse_str(raw) else {
            return Ok(None);
        };
        let found = sqlx::query_scalar!("SELECT id FROM orgs WHERE id = $1", id)
            .fetch_optional(&state.pool)
            .await?;
        Ok(found.map(|o| (OrgId(o), o)))
    }
}

impl OrgObject for ActionId {
    async fn load(state: &AppState, raw: &str) -> Result<Option<(Self, Uuid)>, AppError> {
        let Ok(id) = raw.parse::<i64>() else {
            return Ok(None);
        };
        let org = sqlx::query_scalar!("SELECT org_id FROM actions WHERE id = $1", id)
            .fetch_optional(&state.pool)
            .await?;
        Ok(org.map(|o| (ActionId(id), o)))
    }
}

/// The path parameter that names a route's object: every route with an
/// object names it as its one parameter.
async fn object_param(parts: &mut Parts, state: &AppState) -> Result<String, AppError> {
    let raw = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| AppError::NotFound)?;
    raw.iter()
        .next()
        .map(|(_, v)| v.to_owned())
        .ok_or(AppError::NotFound)
}

/// The object `O` the path names, in an org where the caller holds `R`.
pub struct In<O, R> {
    pub object: O,
    pub grant: Grant<R>,
    pub user: CurrentUser,
}

impl<O, R> In<O, R> {
    pub fn org(&self) -> Uuid {
        self.grant.org()
    }
}

impl<O: OrgObject, R: MinRole> FromRequestParts<AppState> for In<O, R> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        let value = object_param(parts, state).await?;
        let (object, org) = O::load(state, &value).await?.ok_or(AppError::NotFound)?;
        let grant = user.grant::<R>(org)?;
        Ok(In {
            object,
            grant,
            user,
        })
    }
}

/// The org a page for every org is narrowed to (`?org=`), for a caller who
/// holds `R` there; `org: None` is every org, for a caller who holds `R` in
/// every org.
pub struct OrgScope<R> {
    pub org: Option<Uuid>,
    pub user: CurrentUser,
    _role: PhantomData<R>,
}

/// What [`OrgScope`] decided instead of letting the handler run.
pub enum ScopeRejection {
    Error(AppError),
    /// The same page in the first org the caller may see it in.
    Redirect(String),
}

impl IntoResponse for ScopeRejection {
    fn into_response(self) -> Response {
        match self {
            ScopeRejection::Error(e) => e.into_response(),
            ScopeRejection::Redirect(to) => Redirect::to(&to).into_response(),
        }
    }
}

impl From<AppError> for ScopeRejection {
    fn from(e: AppError) -> Self {
        ScopeRejection::Error(e)
    }
}

impl<R: MinRole> FromRequestParts<AppState> for OrgScope<R> {
    type Rejection = ScopeRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, ScopeRejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        let pairs: Vec<(String, String)> = parts
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let asked = pairs
            .iter()
            .rev()
            .find(|(k, _)| k == "org")
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty());
        let scope = |org| OrgScope {
            org,
            user: user.clone(),
            _role: PhantomData,
        };
        if let Some(raw) = asked {
            let org = Uuid::parse_str(raw).map_err(|_| AppError::NotFound)?;
            user.grant::<R>(org)?;
            return Ok(scope(Some(org)));
        }
        if user.global_role.is_some_and(|r| r >= R::ROLE) {
            return Ok(scope(None));
        }
        // The first org by name where the caller holds the role, as the
        // org switcher lists them.
        let names: HashMap<Uuid, &str> = user
            .org_names
            .iter()
            .flatten()
            .map(|(id, n)| (*id, n.as_str()))
            .collect();
        let mut orgs = user.orgs_with(R::ROLE);
        orgs.sort_by_key(|o| (names.get(o).map(|n| n.to_lowercase()), *o));
        let Some(first) = orgs.first() else {
            return Err(if user.max_role().is_some() {
                AppError::Forbidden
            } else {
                AppError::NotFound
            }
            .into());
        };
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(k, _)| k != "org") {
            q.append_pair(k, v);
        }
        q.append_pair("org", &first.to_string());
        let to = format!("{}?{}", parts.uri.path(), q.finish());
        Err(ScopeRejection::Redirect(safe_next(Some(&to))))
    }
}

/// A caller who holds `R` in at least one org.
pub struct Anywhere<R> {
    pub user: CurrentUser,
    _role: PhantomData<R>,
}

impl<R: MinRole> FromRequestParts<AppState> for Anywhere<R> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.max_role().is_some_and(|r| r >= R::ROLE) {
            Ok(Anywhere {
                user,
                _role: PhantomData,
            })
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// A caller who holds `R` in every org, present and future.
pub struct EveryOrg<R> {
    pub user: CurrentUser,
    _role: PhantomData<R>,
}

impl<R: MinRole> FromRequestParts<AppState> for EveryOrg<R> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.global_role.is_some_and(|r| r >= R::ROLE) {
            Ok(EveryOrg {
                user,
                _role: PhantomData,
            })
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// An object that spans orgs (an incident, say), loaded with its orgs.
pub trait MultiOrgObject: Sized + Send {
    /// `Ok(None)`: no such object.
    fn load(
        state: &AppState,
        raw: &str,
    ) -> impl Future<Output = Result<Option<(Self, Vec<Uuid>)>, AppError>> + Send;
}

/// An incident (`/incidents/{id}`).
#[derive(Debug, Clone, Copy)]
pub struct IncidentId(pub i64);

impl MultiOrgObject for IncidentId {
    async fn load(state: &AppState, raw: &str) -> Result<Option<(Self, Vec<Uuid>)>, AppError> {
        let Ok(id) = raw.parse::<i64>() else {
            return Ok(None);
        };
        if cockpit_db::incidents::get(&state.pool, id).await?.is_none() {
            return Ok(None);
        }
        let orgs = cockpit_db::incidents::orgs_of(&state.pool, id).await?;
        Ok(Some((IncidentId(id), orgs)))
    }
}

/// A hunt (`/hunts/{id}`): it spans the orgs it searched.
#[derive(Debug, Clone, Copy)]
pub struct HuntId(pub i64);

impl MultiOrgObject for HuntId {
    async fn load(state: &AppState, raw: &str) -> Result<Option<(Self, Vec<Uuid>)>, AppError> {
        let Ok(id) = raw.parse::<i64>() else {
            return Ok(None);
        };
        let orgs = sqlx::query_scalar!("SELECT org_ids FROM hunts WHERE id = $1", id)
            .fetch_optional(&state.pool)
            .await?;
        Ok(orgs.map(|o| (HuntId(id), o)))
    }
}

/// The object `O` the path names, which spans orgs, for a caller who holds
/// `R` in at least one of them: `orgs` are those (the rest of the object is
/// not theirs to see or change), `every` whether that is all of them. No
/// role in any of its orgs answers 404; a role below `R` in all, 403.
pub struct Across<O, R> {
    pub object: O,
    pub orgs: Vec<Uuid>,
    pub every: bool,
    pub user: CurrentUser,
    _role: PhantomData<R>,
}

impl<O, R> Across<O, R> {
    /// `R` in every org of the object, or 403: for changes to all of it.
    pub fn require_every(&self) -> Result<(), AppError> {
        if self.every {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}

impl<O: MultiOrgObject, R: MinRole> FromRequestParts<AppState> for Across<O, R> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        let value = object_param(parts, state).await?;
        let (object, all) = O::load(state, &value).await?.ok_or(AppError::NotFound)?;
        if !all.iter().any(|o| user.role_in(*o).is_some()) {
            return Err(AppError::NotFound);
        }
        let orgs: Vec<Uuid> = all
            .iter()
            .copied()
            .filter(|o| user.may(*o, R::ROLE))
            .collect();
        if orgs.is_empty() {
            return Err(AppError::Forbidden);
        }
        Ok(Across {
            object,
            every: orgs.len() == all.len(),
            orgs,
            user,
            _role: PhantomData,
        })
    }
}
