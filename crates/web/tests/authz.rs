//! Who may reach what, in which org: the route × role × org matrix, and the
//! attacks an abuse test of the running product found, each replayed.
//!
//! The matrix's table names every route of the router with the rule that
//! governs it; the README's rights matrix says the same in words. A route
//! added to the router without a row here fails
//! [`every_route_answers_every_role_in_every_org_as_the_table_says`].

use std::collections::BTreeMap;

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use cockpit_web::{AppState, auth::hash_token, router::table};
use sqlx::PgPool;
use uuid::Uuid;

mod common;
use common::{BASE, get, person, post, seed_org, send, send_with};

/// Who may: the rows of the rights matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Anyone, signed in or not.
    Public,
    /// Anyone signed in (every account here holds a role somewhere); what
    /// they see is narrowed to their orgs.
    SignedIn,
    /// A viewer or more in the org of the object (or `?org=`).
    View,
    /// An analyst or more in that org: exports, syncs.
    Export,
    /// An admin in that org: revoke, block, disconnect.
    Act,
    /// An analyst or more in some org: inventory, reviews, audit exports.
    AnyAnalyst,
    /// An analyst or more in every org the object spans (completing a
    /// review).
    AllItsOrgsAnalyst,
    /// An admin in some org; acts only on their orgs (sending a review's
    /// revocations).
    AnyAdmin,
    /// An admin in every org: accounts, API tokens, connecting orgs.
    EveryOrgAdmin,
    /// An admin in every org, on an object of org A: breaking glass on an
    /// incident (someone with no role in its org does not see it).
    EveryOrgAdminOfIt,
    /// The API's catch-all: no such route.
    NoRoute,
    /// `/metrics`: the operator's metrics token only, never a session or
    /// an API token; with none set (as here), no one: 404.
    MetricsToken,
}

/// The principals, each tried against objects of org A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    /// Viewer in every org.
    Viewer,
    /// Analyst in every org.
    Analyst,
    /// Admin of org B only.
    OtherOrgAdmin,
    /// Admin of org A only.
    OneOrgAdmin,
    /// Admin in every org.
    GlobalAdmin,
}

const EVERYONE: [Who; 6] = [
    Who::Anonymous,
    Who::Viewer,
    Who::Analyst,
    Who::OtherOrgAdmin,
    Who::OneOrgAdmin,
    Who::GlobalAdmin,
];

/// What a request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Sent to sign in (pages) or 401 (API).
    SignIn,
    /// 404: the object's org is not theirs.
    Hidden,
    /// 403: their role there is too low.
    Denied,
    /// Past authorization: the handler answered (2xx, a redirect elsewhere,
    /// or its own 4xx about the input).
    Allowed,
}

fn expected(rule: Rule, who: Who) -> Outcome {
    use Outcome::*;
    use Who::*;
    if rule == Rule::MetricsToken {
        return Hidden;
    }
    if who == Anonymous {
        return if rule == Rule::Public {
            Allowed
        } else {
            SignIn
        };
    }
    match rule {
        Rule::Public | Rule::SignedIn => Allowed,
        Rule::View => match who {
            OtherOrgAdmin => Hidden,
            _ => Allowed,
        },
        Rule::Export => match who {
            OtherOrgAdmin => Hidden,
            Viewer => Denied,
            _ => Allowed,
        },
        Rule::Act => match who {
            OtherOrgAdmin => Hidden,
            Viewer | Analyst => Denied,
            _ => Allowed,
        },
        Rule::AnyAnalyst => match who {
            Viewer => Denied,
            _ => Allowed,
        },
        Rule::AllItsOrgsAnalyst => match who {
            Viewer | OtherOrgAdmin => Denied,
            _ => Allowed,
        },
        Rule::AnyAdmin => match who {
            Viewer | Analyst => Denied,
            _ => Allowed,
        },
        Rule::EveryOrgAdmin => match who {
            GlobalAdmin => Allowed,
            _ => Denied,
        },
        Rule::EveryOrgAdminOfIt => match who {
            GlobalAdmin => Allowed,
            OtherOrgAdmin => Hidden,
            _ => Denied,
        },
        Rule::NoRoute | Rule::MetricsToken => Hidden,
    }
}

/// The table: method, path, rule, and the query (GET) or body (POST) sent,
/// with `{org}` (org A), `{csrf}` and `{key}` filled in.
const TABLE: &[(&str, &str, Rule, &str)] = &[
    ("GET", "/signin", Rule::Public, ""),
    (
        "POST",
        "/signin",
        Rule::Public,
        "csrf={csrf}&email=nobody%40example.com&password=wrong",
    ),
    ("GET", "/setup", Rule::Public, ""),
    (
        "POST",
        "/setup",
        Rule::Public,
        "csrf={csrf}&token=wrong&email=a%40example.com&password=x",
    ),
    ("POST", "/signin/sso", Rule::Public, "csrf={csrf}"),
    ("GET", "/signin/sso/callback", Rule::Public, ""),
    ("GET", "/api/v1/openapi.json", Rule::Public, ""),
    ("GET", "/healthz", Rule::Public, ""),
    ("GET", "/metrics", Rule::MetricsToken, ""),
    ("GET", "/readyz", Rule::Public, ""),
    ("GET", "/static/app.css", Rule::Public, ""),
    ("GET", "/", Rule::View, "org={org}"),
    ("GET", "/apps", Rule::View, "org={org}"),
    ("GET", "/apps.csv", Rule::Export, "org={org}"),
    ("GET", "/apps/where", Rule::SignedIn, "q=App"),
    ("GET", "/apps/{id}", Rule::View, ""),
    ("GET", "/users", Rule::View, "org={org}"),
    ("GET", "/users/{uid}", Rule::View, ""),
    ("GET", "/reports", Rule::View, "org={org}"),
    ("GET", "/reports/stale", Rule::View, "org={org}"),
    ("GET", "/reports/stale.csv", Rule::Export, "org={org}"),
    ("GET", "/reports/offboarding", Rule::View, "org={org}"),
    ("GET", "/reports/offboarding.csv", Rule::Export, "org={org}"),
    ("GET", "/reports/new-apps", Rule::View, "org={org}"),
    ("GET", "/reports/new-apps.csv", Rule::Export, "org={org}"),
    ("POST", "/signout", Rule::SignedIn, "csrf={csrf}"),
    ("GET", "/reauth", Rule::SignedIn, ""),
    (
        "POST",
        "/reauth",
        Rule::SignedIn,
        "csrf={csrf}&password=wrong",
    ),
    ("POST", "/reauth/sso", Rule::SignedIn, "csrf={csrf}"),
    ("GET", "/orgs", Rule::SignedIn, ""),
    ("GET", "/orgs/connect", Rule::EveryOrgAdmin, ""),
    (
        "POST",
        "/orgs/connect",
        Rule::EveryOrgAdmin,
        "csrf={csrf}&name=x&environment=production&client_id=y",
    ),
    ("GET", "/orgs/callback", Rule::EveryOrgAdmin, ""),
    ("GET", "/orgs/{id}", Rule::View, ""),
    ("POST", "/orgs/{id}/sync", Rule::Export, "csrf={csrf}"),
    (
        "POST",
        "/orgs/{id}/disconnect",
        Rule::Act,
        "csrf={csrf}&confirm=wrong",
    ),
    ("GET", "/incidents", Rule::SignedIn, ""),
    (
        "POST",
        "/incidents",
        Rule::Export,
        "csrf={csrf}&q=App&title=Matrix&severity=high&app={org}%3A0H4AAA",
    ),
    ("GET", "/incidents/new", Rule::AnyAnalyst, "q=App"),
    ("GET", "/incidents/{id}", Rule::View, ""),
    (
        "POST",
        "/incidents/{id}/contain",
        Rule::Act,
        "csrf={csrf}&reason=matrix",
    ),
    (
        "POST",
        "/incidents/{id}/tasks",
        Rule::Export,
        "csrf={csrf}&title=Rotate&owner=ops",
    ),
    (
        "POST",
        "/incidents/{id}/tasks/{task}",
        Rule::Export,
        "csrf={csrf}&owner=ops&done=on",
    ),
    ("GET", "/incidents/{id}/evidence", Rule::Export, ""),
    ("GET", "/incidents/{id}/evidence.csv", Rule::Export, ""),
    ("GET", "/incidents/{id}/evidence.json", Rule::Export, ""),
    (
        "POST",
        "/incidents/{id}/approve",
        Rule::Act,
        "csrf={csrf}&reason=matrix",
    ),
    (
        "POST",
        "/incidents/{id}/reject",
        Rule::Act,
        "csrf={csrf}&reason=matrix",
    ),
    (
        "POST",
        "/incidents/{id}/break-glass",
        Rule::EveryOrgAdminOfIt,
        "csrf={csrf}&reason=matrix",
    ),
    (
        "POST",
        "/incidents/{id}/close",
        Rule::Export,
        "csrf={csrf}&note=matrix",
    ),
    ("GET", "/hunts", Rule::SignedIn, ""),
    ("POST", "/hunts", Rule::AnyAnalyst, "csrf={csrf}&set=999999"),
    ("GET", "/hunts/{id}", Rule::View, ""),
    ("GET", "/hunts/{id}/export.csv", Rule::Export, ""),
    ("GET", "/hunts/{id}/export.json", Rule::Export, ""),
    (
        "POST",
        "/hunts/hits/{id}/acknowledge",
        Rule::Export,
        "csrf={csrf}",
    ),
    (
        "POST",
        "/new-sources/{id}/acknowledge",
        Rule::Export,
        "csrf={csrf}",
    ),
    ("GET", "/indicators", Rule::SignedIn, ""),
    (
        "POST",
        "/indicators",
        Rule::AnyAnalyst,
        "csrf={csrf}&name=&content=",
    ),
    ("GET", "/indicators/{id}", Rule::SignedIn, ""),
    (
        "POST",
        "/indicators/{id}/active",
        Rule::AnyAnalyst,
        "csrf={csrf}&active=true",
    ),
    (
        "POST",
        "/indicators/{id}/remove",
        Rule::AnyAnalyst,
        "csrf={csrf}&indicator=999999",
    ),
    ("GET", "/actions", Rule::SignedIn, ""),
    (
        "POST",
        "/actions",
        Rule::Act,
        "csrf={csrf}&org={org}&kind=revoke_token&token=0CQAAA&reason=matrix&idempotency_key={key}",
    ),
    (
        "GET",
        "/actions/new",
        Rule::Act,
        "org={org}&kind=revoke_token&token=0CQAAA",
    ),
    ("GET", "/actions/{id}", Rule::View, ""),
    ("POST", "/actions/{id}/retry", Rule::Act, "csrf={csrf}"),
    (
        "POST",
        "/actions/{id}/approve",
        Rule::Act,
        "csrf={csrf}&reason=matrix",
    ),
    (
        "POST",
        "/actions/{id}/reject",
        Rule::Act,
        "csrf={csrf}&reason=matrix",
    ),
    (
        "POST",
        "/actions/{id}/break-glass",
        Rule::EveryOrgAdminOfIt,
        "csrf={csrf}&reason=matrix",
    ),
    ("GET", "/audit", Rule::SignedIn, ""),
    ("GET", "/audit.csv", Rule::AnyAnalyst, ""),
    ("GET", "/audit.json", Rule::AnyAnalyst, ""),
    ("GET", "/inventory", Rule::SignedIn, ""),
    (
        "POST",
        "/inventory",
        Rule::AnyAnalyst,
        "csrf={csrf}&name=Matrix&status=approved",
    ),
    ("GET", "/inventory.csv", Rule::AnyAnalyst, ""),
    ("GET", "/inventory/new", Rule::AnyAnalyst, ""),
    ("POST", "/inventory/import", Rule::AnyAnalyst, "csrf={csrf}"),
    ("GET", "/inventory/{id}", Rule::AnyAnalyst, ""),
    ("GET", "/reviews", Rule::SignedIn, ""),
    (
        "POST",
        "/reviews",
        Rule::AnyAnalyst,
        "csrf={csrf}&kind=monthly",
    ),
    ("GET", "/reviews/{id}", Rule::SignedIn, ""),
    (
        "POST",
        "/reviews/{id}/decide",
        Rule::AnyAnalyst,
        "csrf={csrf}&seq=1&decision=keep&note=matrix",
    ),
    ("POST", "/reviews/{id}/send", Rule::AnyAdmin, "csrf={csrf}"),
    (
        "POST",
        "/reviews/{id}/complete",
        Rule::AllItsOrgsAnalyst,
        "csrf={csrf}",
    ),
    ("GET", "/reviews/{id}/evidence", Rule::SignedIn, ""),
    ("GET", "/reviews/{id}/evidence.csv", Rule::AnyAnalyst, ""),
    ("GET", "/admin/accounts", Rule::EveryOrgAdmin, ""),
    (
        "POST",
        "/admin/accounts",
        Rule::EveryOrgAdmin,
        "csrf={csrf}&email=new%40example.com&role=viewer&password=quiet+orange+kettle+42",
    ),
    ("GET", "/admin/accounts/{id}", Rule::EveryOrgAdmin, ""),
    (
        "POST",
        "/admin/accounts/{id}/role",
        Rule::EveryOrgAdmin,
        "csrf={csrf}&role=analyst",
    ),
    (
        "POST",
        "/admin/accounts/{id}/org-roles",
        Rule::EveryOrgAdmin,
        "csrf={csrf}&org={org}&role=viewer",
    ),
    (
        "POST",
        "/admin/accounts/{id}/access",
        Rule::EveryOrgAdmin,
        "csrf={csrf}&change=end_sessions",
    ),
    ("GET", "/admin/api-tokens", Rule::EveryOrgAdmin, ""),
    (
        "POST",
        "/admin/api-tokens",
        Rule::EveryOrgAdmin,
        "csrf={csrf}&name=matrix&role=viewer&org=",
    ),
    (
        "POST",
        "/admin/api-tokens/{id}/revoke",
        Rule::EveryOrgAdmin,
        "csrf={csrf}",
    ),
    ("GET", "/admin/channels", Rule::EveryOrgAdmin, ""),
    (
        "POST",
        "/admin/channels",
        Rule::EveryOrgAdmin,
        "csrf={csrf}&name=&kind=webhook&url=",
    ),
    (
        "POST",
        "/admin/channels/{id}/test",
        Rule::EveryOrgAdmin,
        "csrf={csrf}",
    ),
    (
        "POST",
        "/admin/channels/{id}/change",
        Rule::EveryOrgAdmin,
        "csrf={csrf}&change=disable",
    ),
    (
        "GET",
        "/admin/deliveries",
        Rule::EveryOrgAdmin,
        "status=dead",
    ),
    (
        "POST",
        "/admin/deliveries/{id}/resend",
        Rule::EveryOrgAdmin,
        "csrf={csrf}",
    ),
    ("GET", "/api/v1/apps", Rule::View, "org={org}"),
    ("GET", "/api/v1/apps/where", Rule::SignedIn, "q=App"),
    ("GET", "/api/v1/apps/{id}", Rule::View, ""),
    ("GET", "/api/v1/tokens", Rule::View, "org={org}"),
    ("GET", "/api/v1/users", Rule::View, "org={org}"),
    ("GET", "/api/v1/users/{uid}", Rule::View, ""),
    ("GET", "/api/v1/reports/stale", Rule::View, "org={org}"),
    (
        "GET",
        "/api/v1/reports/offboarding",
        Rule::View,
        "org={org}",
    ),
    ("GET", "/api/v1/reports/new-apps", Rule::View, "org={org}"),
    (
        "GET",
        "/api/v1/reports/unknown-apps",
        Rule::View,
        "org={org}",
    ),
    ("GET", "/api/v1/audit", Rule::View, "org={org}"),
    (
        "POST",
        "/api/v1/incidents",
        Rule::Export,
        r#"{"title":"Matrix","severity":"high","q":"App","apps":[{"org":"{org}","app":"0H4AAA"}]}"#,
    ),
    ("GET", "/api/v1/incidents/{id}", Rule::View, ""),
    (
        "POST",
        "/api/v1/incidents/{id}/contain",
        Rule::Act,
        r#"{"reason":"matrix"}"#,
    ),
    (
        "POST",
        "/api/v1/indicators",
        Rule::AnyAnalyst,
        r#"{"name":"","content":""}"#,
    ),
    (
        "POST",
        "/api/v1/hunts",
        Rule::AnyAnalyst,
        r#"{"sets":[999999]}"#,
    ),
    ("GET", "/api/v1/hunts/{id}", Rule::View, ""),
    (
        "POST",
        "/api/v1/actions",
        Rule::Act,
        r#"{"org":"{org}","kind":"revoke_token","tokens":["0CQAAA"],"reason":"matrix","idempotency_key":"{key}"}"#,
    ),
    ("GET", "/api/v1/actions/{id}", Rule::View, ""),
    ("GET", "/api/v1/channels", Rule::EveryOrgAdmin, ""),
    (
        "POST",
        "/api/v1/channels",
        Rule::EveryOrgAdmin,
        r#"{"name":"","kind":"webhook","url":""}"#,
    ),
    ("*", "/api/{*rest}", Rule::NoRoute, ""),
];

/// Org A and B with an app, a person, an authorization and an action each;
/// a quarterly review with an item of org A; an inventory entry; an account
/// and an API token to administer.
struct World {
    a: Uuid,
    b: Uuid,
    ids: BTreeMap<&'static str, String>,
    /// Session cookie and anti-forgery token (pages) or bearer token (API)
    /// of each principal but the anonymous one.
    sessions: BTreeMap<Who, (String, String)>,
    bearers: BTreeMap<Who, String>,
}

async fn api_token(pool: &PgPool, role: &str, org: Option<Uuid>) -> String {
    let token = format!("ock_{}", Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO api_tokens (id, name, token_hash, role, org_id) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::new_v4())
    .bind(format!("bot-{role}-{}", Uuid::new_v4().simple()))
    .bind(hash_token(&token))
    .bind(role)
    .bind(org)
    .execute(pool)
    .await
    .unwrap();
    token
}

async fn world(pool: &PgPool) -> World {
    let n = Uuid::new_v4().simple().to_string();
    let (a, mut ids) = seed_org(pool, &format!("A-{n}")).await;
    let (b, _) = seed_org(pool, &format!("B-{n}")).await;
    let review: i64 = sqlx::query_scalar(
        "INSERT INTO reviews (kind, stale_days, started_by) VALUES ('quarterly', 90, 'user:x') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO review_items (review_id, seq, category, org_id, app_key, user_id, token_id, summary) VALUES ($1, 1, 'stale', $2, '0H4AAA', '005AAA', '0CQAAA', 'App / U')")
        .bind(review).bind(a).execute(pool).await.unwrap();
    let inventory: i64 = sqlx::query_scalar(
        "INSERT INTO inventory (name, updated_by) VALUES ($1, 'user:x') RETURNING id",
    )
    .bind(format!("App {n}"))
    .fetch_one(pool)
    .await
    .unwrap();
    let account: Uuid = sqlx::query_scalar(
        "INSERT INTO accounts (id, email, role) VALUES ($1, $2, 'viewer') RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(format!("target-{n}@example.com"))
    .fetch_one(pool)
    .await
    .unwrap();
    let target_token: Uuid = sqlx::query_scalar(
        "INSERT INTO api_tokens (id, name, token_hash, role) VALUES ($1, 'target', $2, 'viewer') RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(hash_token(&n))
    .fetch_one(pool)
    .await
    .unwrap();
    let incident: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (title, severity, query, declared_by) VALUES ('Stolen', 'high', 'App', 'user:x') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO incident_apps (incident_id, org_id, app_key, matched_by) VALUES ($1, $2, '0H4AAA', 'name')")
        .bind(incident)
        .bind(a)
        .execute(pool)
        .await
        .unwrap();
    // A containment someone else asked for, waiting for a second admin.
    sqlx::query("INSERT INTO approvals (kind, incident_id, requested_by, reason, expires_at) VALUES ('contain', $1, 'user:x', 'matrix', now() + interval '1 hour')")
        .bind(incident)
        .execute(pool)
        .await
        .unwrap();
    let task: i64 = sqlx::query_scalar(
        "INSERT INTO incident_tasks (incident_id, position, title, updated_by) VALUES ($1, 1, 'Rotate', 'user:x') RETURNING id",
    )
    .bind(incident)
    .fetch_one(pool)
    .await
    .unwrap();
    ids.insert("task", task.to_string());
    // A hunt of org A with a hit, an indicator set, and a hit of the
    // continuous match in org A.
    let set: i64 = sqlx::query_scalar(
        "INSERT INTO indicator_sets (name, source_label, created_by) VALUES ($1, 'matrix', 'user:x') RETURNING id",
    )
    .bind(format!("Set {n}"))
    .fetch_one(pool)
    .await
    .unwrap();
    let hunt: i64 = sqlx::query_scalar(
        "INSERT INTO hunts (created_by, set_ids, set_names, org_ids) VALUES ('user:x', ARRAY[$1::int8], ARRAY['Set'], ARRAY[$2::uuid]) RETURNING id",
    )
    .bind(set)
    .bind(a)
    .fetch_one(pool)
    .await
    .unwrap();
    let hit: i64 = sqlx::query_scalar(
        "INSERT INTO hunt_hits (hunt_id, org_id, app_key, set_name, kind, value, first_seen, last_seen, requests, errors, subtypes, ips, user_agents)
         VALUES (NULL, $1, '0H4AAA', 'Set', 'ip', '203.0.113.9', now(), now(), 1, 0, '{}', '{}', '{}') RETURNING id",
    )
    .bind(a)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO hunt_hits (hunt_id, org_id, app_key, set_name, kind, value, first_seen, last_seen, requests, errors, subtypes, ips, user_agents)
         VALUES ($1, $2, '0H4AAA', 'Set', 'ip', '203.0.113.9', now(), now(), 1, 0, '{}', '{}', '{}')",
    )
    .bind(hunt)
    .bind(a)
    .execute(pool)
    .await
    .unwrap();
    ids.insert("indicator_set", set.to_string());
    ids.insert("hunt", hunt.to_string());
    ids.insert("hit", hit.to_string());
    let new_source: i64 = sqlx::query_scalar(
        "INSERT INTO new_sources (org_id, app_key, kind, value, first_day, first_seen, last_seen, users, requests)
         VALUES ($1, '0H4AAA', 'network', '203.0.113.0/24', current_date, now(), now(), 2, 5) RETURNING id",
    )
    .bind(a)
    .fetch_one(pool)
    .await
    .unwrap();
    ids.insert("new_source", new_source.to_string());
    // A notification channel (its sealed URL never opened here) with a
    // delivery that failed for good.
    let channel = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO channels (id, name, kind, target_sealed, target_hint, created_by)
         VALUES ($1, $2, 'webhook', '\\x00', 'https://receiver.example', 'user:x')",
    )
    .bind(channel)
    .bind(format!("Channel {n}"))
    .execute(pool)
    .await
    .unwrap();
    let delivery: i64 = sqlx::query_scalar(
        "WITH n AS (INSERT INTO notifications (event_id, kind, severity, title) VALUES ($1, 'test', 1, 'Test') RETURNING id)
         INSERT INTO deliveries (notification_id, channel_id, status) SELECT n.id, $2, 'dead' FROM n RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(channel)
    .fetch_one(pool)
    .await
    .unwrap();
    ids.insert("channel", channel.to_string());
    ids.insert("delivery", delivery.to_string());
    ids.insert("incident", incident.to_string());
    ids.insert("review", review.to_string());
    ids.insert("inventory", inventory.to_string());
    ids.insert("account", account.to_string());
    ids.insert("api_token", target_token.to_string());
    let mut sessions = BTreeMap::new();
    let mut bearers = BTreeMap::new();
    for (who, role, org) in [
        (Who::Viewer, "viewer", None),
        (Who::Analyst, "analyst", None),
        (Who::OtherOrgAdmin, "admin", Some(b)),
        (Who::OneOrgAdmin, "admin", Some(a)),
        (Who::GlobalAdmin, "admin", None),
    ] {
        let email = format!("{who:?}-{n}@example.com").to_lowercase();
        sessions.insert(who, person(pool, &email, role, org).await);
        bearers.insert(who, api_token(pool, role, org).await);
    }
    World {
        a,
        b,
        ids,
        sessions,
        bearers,
    }
}

/// The route's path with org A's objects.
fn concrete(path: &str, ids: &BTreeMap<&'static str, String>) -> String {
    let bare = path.strip_prefix("/api/v1").unwrap_or(path);
    let id = match bare.split('/').nth(1).unwrap_or("") {
        "apps" => &ids["app"],
        "users" => &ids["uid"],
        "orgs" => &ids["org"],
        "actions" => &ids["action"],
        "reviews" => &ids["review"],
        "incidents" => &ids["incident"],
        "inventory" => &ids["inventory"],
        "hunts" if bare.starts_with("/hunts/hits/") => &ids["hit"],
        "hunts" => &ids["hunt"],
        "indicators" => &ids["indicator_set"],
        "new-sources" => &ids["new_source"],
        "admin" if bare.starts_with("/admin/accounts/") => &ids["account"],
        "admin" if bare.starts_with("/admin/channels/") => &ids["channel"],
        "admin" if bare.starts_with("/admin/deliveries/") => &ids["delivery"],
        "admin" => &ids["api_token"],
        _ => "0",
    };
    path.replace("{id}", id)
        .replace("{task}", ids.get("task").map_or("0", String::as_str))
        .replace("{uid}", id)
        .replace("{*rest}", "v1/nothing-here")
}

const PRESESSION: &str = "matrix-presession-token";

fn request(w: &World, who: Who, method: &str, path: &str, extra: &str) -> Request<Body> {
    let api = path.starts_with("/api/");
    let (cookie, csrf) = match w.sessions.get(&who) {
        Some((c, t)) => (Some(c.clone()), t.clone()),
        None => (None, PRESESSION.to_owned()),
    };
    let public_post = TABLE
        .iter()
        .any(|(m, p, r, _)| *m == "POST" && *p == path && *r == Rule::Public);
    let csrf = if public_post {
        PRESESSION.to_owned()
    } else {
        csrf
    };
    let fill = |s: &str| {
        s.replace("{org}", &w.a.to_string())
            .replace("{csrf}", &csrf)
            .replace("{key}", &format!("matrix-{}", Uuid::new_v4()))
    };
    let mut uri = concrete(path, &w.ids);
    let method = if method == "*" { "GET" } else { method };
    if method == "GET" && !extra.is_empty() {
        uri = format!("{uri}?{}", fill(extra));
    }
    let mut r = Request::builder().method(method).uri(&uri);
    if api {
        if let Some(t) = w.bearers.get(&who) {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
    } else {
        let presession = format!("__Host-cockpit_form={PRESESSION}");
        let cookies = match cookie {
            Some(c) => format!("{c}; {presession}"),
            None => presession,
        };
        r = r
            .header(header::COOKIE, cookies)
            .header(header::ORIGIN, BASE);
    }
    if method == "POST" {
        let kind = if api {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        r.header(header::CONTENT_TYPE, kind)
            .body(Body::from(fill(extra)))
            .unwrap()
    } else {
        r.body(Body::empty()).unwrap()
    }
}

/// What `who` got. A page sends only the anonymous to sign in: someone
/// signed in who is sent there (signing out) or told 401 (a wrong password
/// on the sign-in forms) got the handler's own answer. Public pages never
/// send anyone to sign in themselves, so there it is the handler's too.
fn outcome(
    rule: Rule,
    who: Who,
    api: bool,
    status: StatusCode,
    headers: &axum::http::HeaderMap,
) -> Outcome {
    let to = headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let gate = api || (who == Who::Anonymous && rule != Rule::Public);
    match status {
        StatusCode::UNAUTHORIZED if gate => Outcome::SignIn,
        s if gate && s.is_redirection() && to.starts_with("/signin") => Outcome::SignIn,
        StatusCode::NOT_FOUND => Outcome::Hidden,
        StatusCode::FORBIDDEN => Outcome::Denied,
        _ => Outcome::Allowed,
    }
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn every_route_answers_every_role_in_every_org_as_the_table_says(pool: PgPool) {
    // The table and the router list the same routes.
    let served: Vec<(String, String)> = table()
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let rows: Vec<(String, String)> = TABLE
        .iter()
        .map(|(m, p, _, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    for r in &served {
        assert!(rows.contains(r), "route {r:?} has no row in the matrix");
    }
    for r in &rows {
        assert!(served.contains(r), "row {r:?} names no route");
    }
    let state = AppState::new(pool.clone(), BASE);
    let mut wrong = Vec::new();
    for (method, path, rule, extra) in TABLE {
        for who in EVERYONE {
            // A world of its own: an allowed POST may change it.
            let w = world(&pool).await;
            let (status, headers, body) =
                send_with(&state, request(&w, who, method, path, extra)).await;
            let got = outcome(*rule, who, path.starts_with("/api/"), status, &headers);
            let want = expected(*rule, who);
            if got != want {
                wrong.push(format!(
                    "{method} {path} as {who:?}: {got:?} ({status}), expected {want:?} by {rule:?}: {}",
                    body.chars().take(120).collect::<String>()
                ));
            }
            // Org B is never touched by anyone acting on org A.
            let b_actions: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM actions WHERE org_id = $1 AND requested_by <> 'user:x'",
            )
            .bind(w.b)
            .fetch_one(&pool)
            .await
            .unwrap();
            assert_eq!(b_actions, 0, "{method} {path} as {who:?} acted on org B");
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Two orgs, "production" (A) and "sandbox" (B), a quarterly review with an
/// item of each decided "revoke", and its id.
async fn review_of_two_orgs(pool: &PgPool) -> (Uuid, Uuid, i64) {
    let (prod, _) = seed_org(pool, "production").await;
    let (sandbox, _) = seed_org(pool, "sandbox").await;
    let review: i64 = sqlx::query_scalar(
        "INSERT INTO reviews (kind, stale_days, started_by) VALUES ('quarterly', 90, 'user:x') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    for (seq, org) in [(1, prod), (2, sandbox)] {
        sqlx::query("INSERT INTO review_items (review_id, seq, category, org_id, app_key, user_id, token_id, summary, decision, note, decided_by, decided_at) VALUES ($1, $2, 'stale', $3, '0H4AAA', '005AAA', '0CQAAA', 'App / U', 'revoke', 'old', 'user:x', now())")
            .bind(review).bind(seq).bind(org).execute(pool).await.unwrap();
    }
    (prod, sandbox, review)
}

async fn count(pool: &PgPool, sql: &'static str, org: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(org)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Attack 1: a sandbox-only admin sent the production revocations of a
/// review. Now only the sandbox's are sent.
#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_one_org_admin_sends_only_their_orgs_review_revocations(pool: PgPool) {
    let (prod, sandbox, review) = review_of_two_orgs(&pool).await;
    let (cookie, csrf) = person(&pool, "sandbox-admin@example.com", "admin", Some(sandbox)).await;
    let (status, _, body) = send(
        &pool,
        post(
            &format!("/reviews/{review}/send"),
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}"),
        ),
    )
    .await;
    assert!(status.is_redirection(), "{status} {body}");
    let actions = "SELECT count(*) FROM actions WHERE org_id = $1 AND requested_by <> 'user:x'";
    assert_eq!(
        count(&pool, actions, prod).await,
        0,
        "nothing in production"
    );
    assert_eq!(
        count(&pool, actions, sandbox).await,
        1,
        "the sandbox's revocation"
    );
}

/// Attack 2: viewer in production, analyst in the sandbox, deciding
/// production items by number and by app.
#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn deciding_needs_analyst_in_each_items_org(pool: PgPool) {
    let (prod, sandbox, review) = review_of_two_orgs(&pool).await;
    sqlx::query("UPDATE review_items SET decision = NULL WHERE review_id = $1")
        .bind(review)
        .execute(&pool)
        .await
        .unwrap();
    let (cookie, csrf) = person(&pool, "mixed@example.com", "analyst", Some(sandbox)).await;
    let account: Uuid =
        sqlx::query_scalar("SELECT id FROM accounts WHERE email = 'mixed@example.com'")
            .fetch_one(&pool)
            .await
            .unwrap();
    sqlx::query(
        "INSERT INTO account_org_roles (account_id, org_id, role) VALUES ($1, $2, 'viewer')",
    )
    .bind(account)
    .bind(prod)
    .execute(&pool)
    .await
    .unwrap();
    // Both items are visible (production first, so it is number 1).
    let uri = format!("/reviews/{review}/decide");
    let (status, _, _) = send(
        &pool,
        post(
            &uri,
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}&seq=1&decision=keep&note=x"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a production item by number");
    let (status, _, _) = send(
        &pool,
        post(
            &uri,
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}&app=0H4AAA&decision=keep&note=x"),
        ),
    )
    .await;
    assert!(status.is_redirection(), "by app: the sandbox's item only");
    let decided = "SELECT count(*) FROM review_items WHERE org_id = $1 AND decision IS NOT NULL";
    assert_eq!(count(&pool, decided, prod).await, 0);
    assert_eq!(count(&pool, decided, sandbox).await, 1);
}

/// Attack 3: a sandbox-only API token claimed the key a production action
/// would use. Keys are the requester's own; reusing one for another org or
/// kind is 409; the review's keys are random.
#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn an_idempotency_key_cannot_be_claimed_for_someone_else(pool: PgPool) {
    let (prod, _, review) = review_of_two_orgs(&pool).await;
    let sandbox: Uuid = sqlx::query_scalar("SELECT id FROM orgs WHERE name = 'sandbox'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let token = api_token(&pool, "admin", Some(sandbox)).await;
    let action = |org: Uuid, kind: &str, key: &str| {
        let body = format!(
            r#"{{"org":"{org}","kind":"{kind}","app":"0H4AAA","user":"005AAA","tokens":["0CQAAA"],"reason":"x","idempotency_key":"{key}"}}"#
        );
        Request::post("/api/v1/actions")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let claimed = format!("review-{review}-{prod}");
    let (status, _, _) = send(&pool, action(sandbox, "revoke_token", &claimed)).await;
    assert_eq!(status, StatusCode::CREATED);
    // The same requester, the same key, another kind: refused, nothing new.
    let (status, _, body) = send(&pool, action(sandbox, "revoke_user_all", &claimed)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("\"status\":409"), "JSON: {body}");
    // The production admin's send is not blocked by the claimed key.
    let (cookie, csrf) = person(&pool, "prod-admin@example.com", "admin", Some(prod)).await;
    send(
        &pool,
        post(
            &format!("/reviews/{review}/send"),
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}"),
        ),
    )
    .await;
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT idempotency_key FROM actions WHERE org_id = $1 AND requested_by <> 'user:x'",
    )
    .bind(prod)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(keys.len(), 1, "the production revocation was created");
    assert_ne!(keys[0], claimed, "with a key nobody could guess");
}

/// Attack 4: `next` after signing in led off-site or broke the answer.
#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn sign_in_goes_back_to_our_own_pages_only(pool: PgPool) {
    let hash = cockpit_domain::password::hash("quiet orange kettle 42");
    sqlx::query("INSERT INTO accounts (id, email, role, password_hash) VALUES ($1, 'ada@example.com', 'admin', $2)")
        .bind(Uuid::new_v4()).bind(hash).execute(&pool).await.unwrap();
    for next in [
        "/%09/evil.example",
        "//evil.example",
        "/%2F%2Fevil.example",
        "/%5Cevil.example",
        "/apps%0D%0ALocation:%20//evil",
    ] {
        let mut req = post(
            "/signin",
            Some(&format!("__Host-cockpit_form={PRESESSION}")),
            Some(BASE),
            format!(
                "csrf={PRESESSION}&email=ada%40example.com&password=quiet+orange+kettle+42&next={}",
                next.replace('%', "%25")
            ),
        );
        req.headers_mut()
            .insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
        let (status, headers, body) = send(&pool, req).await;
        assert!(status.is_redirection(), "{next}: {status} {body}");
        assert_eq!(headers[header::LOCATION], "/", "{next}");
    }
    // A NUL in the raw form is refused before anything runs.
    let (status, headers, _) = send(
        &pool,
        post(
            "/signin",
            Some(&format!("__Host-cockpit_form={PRESESSION}")),
            Some(BASE),
            format!("csrf={PRESESSION}&email=ada%40example.com&password=quiet+orange+kettle+42&next=/apps%00evil"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        headers.get(header::SET_COOKIE).is_none(),
        "no session was made"
    );
}

/// Attack 5: the connect form took any URL and posted the client secret to it.
#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn connecting_an_org_takes_salesforce_addresses_only(pool: PgPool) {
    let mut state = AppState::new(pool.clone(), BASE);
    state.keyring = Some(std::sync::Arc::new(cockpit_domain::secret::Keyring::new(
        cockpit_domain::secret::MasterKey::from_bytes([1; 32]),
        vec![],
    )));
    let (cookie, csrf) = person(&pool, "ada@example.com", "admin", None).await;
    for url in [
        "http://127.0.0.1:9",
        "https://user:pass@acme.my.salesforce.com",
        "https://0x7f000001",
        "https://[::1]",
        "https://169.254.169.254",
        "https://evil.example",
    ] {
        let form = format!(
            "csrf={csrf}&name=Acme&environment=my_domain&my_domain={}&client_id=abc&client_secret=s3cret",
            url.replace(':', "%3A")
                .replace('/', "%2F")
                .replace('@', "%40")
        );
        let (status, headers, body) = send_with(
            &state,
            post("/orgs/connect", Some(&cookie), Some(BASE), form),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert!(
            headers.get(header::LOCATION).is_none(),
            "{url}: not sent anywhere"
        );
    }
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_pending")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pending, 0);
}

/// Attack 6: "Revoke all of a person's authorizations" skipped the password
/// check every other sweeping action asks for.
#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn revoking_all_of_a_persons_authorizations_asks_for_the_password(pool: PgPool) {
    let (org, _) = seed_org(&pool, "Acme").await;
    let (cookie, csrf) = person(&pool, "ada@example.com", "admin", None).await;
    sqlx::query("UPDATE sessions SET reauth_at = now() - interval '1 hour'")
        .execute(&pool)
        .await
        .unwrap();
    let (status, headers, _) = send(
        &pool,
        post("/actions", Some(&cookie), Some(BASE), format!(
            "csrf={csrf}&org={org}&kind=revoke_user_all&user=005AAA&reason=left&idempotency_key=0123456789abcdef-user"
        )),
    )
    .await;
    assert!(status.is_redirection());
    assert!(
        headers[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/reauth")
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM actions WHERE org_id = $1 AND requested_by <> 'user:x'",
            org
        )
        .await,
        0
    );
}

/// Attack 7: a NUL byte in any text field gave a 500, even before sign-in.
#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_nul_byte_anywhere_is_a_clear_400(pool: PgPool) {
    let (org, _) = seed_org(&pool, "Acme").await;
    let (cookie, csrf) = person(&pool, "ada@example.com", "admin", None).await;
    let pre = format!("__Host-cockpit_form={PRESESSION}");
    let cases = [
        post(
            "/signin",
            Some(&pre),
            Some(BASE),
            format!("csrf={PRESESSION}&email=a%00b&password=x"),
        ),
        get("/users?q=a%00b", Some(&cookie)),
        get(&format!("/apps?org={org}&q=%00"), Some(&cookie)),
        post(
            "/inventory",
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}&name=A%00&status=approved"),
        ),
        get("/signin?next=%00", None),
    ];
    for req in cases {
        let uri = req.uri().to_string();
        let (status, _, body) = send(&pool, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body.contains("control character"), "{uri}");
    }
    let token = api_token(&pool, "admin", None).await;
    let req = Request::post("/api/v1/actions")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(r#"{{"org":"{org}","kind":"revoke_token","tokens":["0CQAAA"],"reason":"a\u0000b","idempotency_key":"0123456789abcdef"}}"#)))
        .unwrap();
    let (status, _, body) = send(&pool, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("\"status\":400"), "JSON: {body}");
}

/// Attack 8: `?org=%20` sent a one-org person round in circles, and `//apps`
/// redirected to another host.
#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn org_scope_redirects_once_and_stay_on_our_host(pool: PgPool) {
    let (org, _) = seed_org(&pool, "Acme").await;
    let (cookie, _) = person(&pool, "one@example.com", "viewer", Some(org)).await;
    let (status, headers, _) = send(&pool, get("/apps?org=%20&q=x", Some(&cookie))).await;
    assert!(status.is_redirection());
    let to = headers[header::LOCATION].to_str().unwrap().to_owned();
    assert_eq!(to, format!("/apps?q=x&org={org}"));
    let (status, _, _) = send(&pool, get(&to, Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK, "the redirect lands");
    let (status, headers, _) = send(&pool, get("//apps", Some(&cookie))).await;
    let to = headers
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(!to.starts_with("//"), "{status} -> {to}");
}

/// Attack 9: counts of orgs someone cannot see leaked through a review's
/// numbering and the audit chain head.
#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_one_org_person_sees_no_other_orgs_counts(pool: PgPool) {
    let (_, sandbox, review) = review_of_two_orgs(&pool).await;
    let (cookie, _) = person(&pool, "sandbox@example.com", "analyst", Some(sandbox)).await;
    let (_, _, page) = send(&pool, get(&format!("/reviews/{review}"), Some(&cookie))).await;
    assert!(page.contains("1 item(s)"), "{page}");
    assert!(
        page.contains("<td class=\"num\">1</td>"),
        "numbered from 1 among what they see"
    );
    assert!(!page.contains("<td class=\"num\">2</td>"));
    let (_, _, page) = send(&pool, get("/audit", Some(&cookie))).await;
    assert!(!page.contains("Chain head:"), "no chain head");
    let (_, _, page) = send(
        &pool,
        get(&format!("/reviews/{review}/evidence"), Some(&cookie)),
    )
    .await;
    assert!(!page.contains("Audit chain head"));
}

/// Attack 10: API tokens kept working after their creator was disabled.
#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn an_api_token_stops_when_its_creator_is_disabled(pool: PgPool) {
    let (admin_cookie, csrf) = person(&pool, "boss@example.com", "admin", None).await;
    let (_, _) = person(&pool, "maker@example.com", "admin", None).await;
    let maker: Uuid =
        sqlx::query_scalar("SELECT id FROM accounts WHERE email = 'maker@example.com'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let token = api_token(&pool, "viewer", None).await;
    sqlx::query("UPDATE api_tokens SET created_by = $1 WHERE token_hash = $2")
        .bind(maker)
        .bind(hash_token(&token))
        .execute(&pool)
        .await
        .unwrap();
    let call = || {
        Request::get("/api/v1/audit")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(send(&pool, call()).await.0, StatusCode::OK);
    let (status, _, _) = send(
        &pool,
        post(
            &format!("/admin/accounts/{maker}/access"),
            Some(&admin_cookie),
            Some(BASE),
            format!("csrf={csrf}&change=disable"),
        ),
    )
    .await;
    assert!(status.is_redirection());
    assert_eq!(send(&pool, call()).await.0, StatusCode::UNAUTHORIZED);
    let (_, _, page) = send(&pool, get("/admin/api-tokens", Some(&admin_cookie))).await;
    assert!(
        page.contains("maker@example.com is disabled"),
        "the list says so"
    );
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'account.disabled' AND (target->>'api_tokens_suspended')::int = 1")
        .fetch_one(&pool).await.unwrap();
    assert_eq!(audited, 1, "the audit entry says a token stopped");
}

/// Attack 11: viewers downloaded exports the README gives to analysts.
#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn exports_are_for_analysts(pool: PgPool) {
    let (org, _, review) = review_of_two_orgs(&pool).await;
    let (viewer, _) = person(&pool, "vic@example.com", "viewer", None).await;
    let (analyst, _) = person(&pool, "ann@example.com", "analyst", None).await;
    for uri in [
        format!("/apps.csv?org={org}"),
        format!("/reports/stale.csv?org={org}"),
        format!("/reports/offboarding.csv?org={org}"),
        format!("/reports/new-apps.csv?org={org}"),
        format!("/reviews/{review}/evidence.csv"),
        "/audit.csv".to_owned(),
        "/inventory.csv".to_owned(),
    ] {
        assert_eq!(
            send(&pool, get(&uri, Some(&viewer))).await.0,
            StatusCode::FORBIDDEN,
            "{uri}"
        );
        assert_eq!(
            send(&pool, get(&uri, Some(&analyst))).await.0,
            StatusCode::OK,
            "{uri}"
        );
    }
}

/// Starting a review takes the orgs where the starter is an analyst, never
/// another org's authorizations.
#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_review_covers_only_its_starters_orgs(pool: PgPool) {
    let (prod, _) = seed_org(&pool, "production").await;
    let (sandbox, _) = seed_org(&pool, "sandbox").await;
    sqlx::query("UPDATE sf_tokens SET created_at = now() - interval '1 year'")
        .execute(&pool)
        .await
        .unwrap();
    let (cookie, csrf) = person(&pool, "sandbox@example.com", "analyst", Some(sandbox)).await;
    let (status, _, body) = send(
        &pool,
        post(
            "/reviews",
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}&kind=quarterly&stale_days=90"),
        ),
    )
    .await;
    assert!(status.is_redirection(), "{status} {body}");
    let items = "SELECT count(*) FROM review_items WHERE org_id = $1";
    assert_eq!(count(&pool, items, sandbox).await, 1);
    assert_eq!(
        count(&pool, items, prod).await,
        0,
        "production is not theirs"
    );
}
