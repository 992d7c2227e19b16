//! `/admin/channels` and `/admin/deliveries`: where notifications go, and
//! how their delivery went. A channel's URL and signing secret are sealed
//! at rest; the page shows the URL's host only, and the signing secret
//! once, when the channel is created. Creating, changing, testing a channel
//! and re-sending a dead delivery are audited. Global admins only: a
//! channel may carry every org's events.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use cockpit_db::notify::{Channel, LogRow, NewChannel};
use cockpit_domain::notify::{
    ChannelKind, EventKind, Severity, check_addresses, check_target, seal_channel,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    AppError, AppState,
    auth::CurrentUser,
    auth::scope::{Admin, EveryOrg},
    filters,
    form::Form,
    layout::{Layout, OrgChoice},
    pages::admin_accounts::stale_proof,
};

/// A channel as the page shows it.
pub struct ChannelView {
    pub c: Channel,
    pub kind_label: &'static str,
    pub events: String,
    pub orgs: String,
    pub min_severity: &'static str,
}

#[derive(Template)]
#[template(path = "pages/admin_channels.html")]
pub struct ChannelsPage {
    pub layout: Layout,
    pub csrf: String,
    pub channels: Vec<ChannelView>,
    pub orgs: Vec<OrgChoice>,
    pub kinds: Vec<(&'static str, &'static str)>,
    pub events: Vec<(&'static str, &'static str)>,
    pub severities: Vec<&'static str>,
    /// Name and signing secret of the channel just created: shown once.
    pub created: Option<(String, Option<String>)>,
    pub tested: bool,
    pub error: Option<String>,
}

/// The channels as the page shows them; `orgs` names the orgs of their rules.
async fn views(state: &AppState, orgs: &[OrgChoice]) -> Result<Vec<ChannelView>, AppError> {
    Ok(cockpit_db::notify::channels(&state.pool)
        .await?
        .into_iter()
        .map(|c| ChannelView {
            kind_label: ChannelKind::parse(&c.kind).map_or("?", ChannelKind::label),
            events: if c.events.is_empty() {
                "every event".to_owned()
            } else {
                c.events
                    .iter()
                    .map(|e| {
                        EventKind::parse(e).map_or_else(|| e.clone(), |k| k.label().to_owned())
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            orgs: match &c.org_ids {
                None => "every org".to_owned(),
                Some(ids) => ids
                    .iter()
                    .map(|id| {
                        orgs.iter()
                            .find(|o| o.id == *id)
                            .map_or("(removed org)", |o| o.name.as_str())
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            },
            min_severity: Severity::from_rank(c.min_severity).as_str(),
            c,
        })
        .collect())
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    created: Option<(String, Option<String>)>,
    tested: bool,
    error: Option<String>,
) -> Result<String, AppError> {
    let layout = Layout::load(&state.pool, user, "admin", "/", None).await?;
    Ok(ChannelsPage {
        channels: views(state, &layout.orgs).await?,
        orgs: layout.orgs.clone(),
        layout,
        csrf: user.csrf.clone(),
        kinds: ChannelKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.label()))
            .collect(),
        events: EventKind::RULES
            .iter()
            .map(|k| (k.as_str(), k.label()))
            .collect(),
        severities: Severity::ALL.iter().map(|s| s.as_str()).collect(),
        created,
        tested,
        error,
    }
    .render()?)
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub tested: Option<String>,
}

pub async fn channels_list(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, AppError> {
    Ok(Html(
        page(&state, &user, None, q.tested.is_some(), None).await?,
    ))
}

/// A channel to create, from the form or the API.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ChannelForm {
    pub name: String,
    /// `webhook`, `slack`, `teams`, `email` or `siem`.
    pub kind: String,
    /// Where it sends (sealed; never shown again in full).
    pub url: String,
    /// Email channels: the sender, and recipients (several fields, or one
    /// separated by commas).
    #[serde(default)]
    pub email_from: String,
    #[serde(default)]
    pub email_to: Vec<String>,
    /// Event kinds; none: every kind (`events` is taken too).
    #[serde(default, alias = "events")]
    pub event: Vec<String>,
    /// Org ids; none: every org (`orgs` is taken too).
    #[serde(default, alias = "orgs")]
    pub org: Vec<String>,
    /// `info`, `low`, `medium`, `high` or `critical`.
    #[serde(default)]
    pub min_severity: Option<String>,
    /// SIEM channels: also stream the audit log, from its first entry
    /// (the page's checkbox sends `on`).
    #[serde(default, deserialize_with = "crate::form::checkbox")]
    #[schema(value_type = Option<bool>)]
    pub audit_log: Option<bool>,
    /// `hourly` or `daily`: the noisy types (new apps, apps outside the
    /// inventory, leavers, new sources, failing syncs, budget pauses,
    /// failed actions) as one message per period; absent, each at once.
    #[serde(default)]
    pub digest: Option<String>,
}

/// Checks the form, seals the URL (and a new signing secret for a
/// webhook) and creates the channel. `Ok(Err(problem))` for what the
/// person must fix; on success, the id and the signing secret to show
/// once.
pub async fn create(
    state: &AppState,
    actor: &str,
    f: &ChannelForm,
) -> Result<Result<(Uuid, Option<String>), String>, AppError> {
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Ok(Err(
            "Name the channel (up to 80 characters), e.g. after the room or system it reaches."
                .into(),
        ));
    }
    let Some(kind) = ChannelKind::parse(f.kind.trim()) else {
        return Ok(Err(
            "The kind is webhook, slack, teams, email or siem.".into()
        ));
    };
    let (url, hint) = match check_target(kind, &f.url) {
        Ok(t) => t,
        Err(problem) => return Ok(Err(problem)),
    };
    let (email_from, email_to) = if kind == ChannelKind::Email {
        match check_addresses(&f.email_from, &f.email_to) {
            Ok((from, to)) => (Some(from), to),
            Err(problem) => return Ok(Err(problem)),
        }
    } else {
        (None, Vec::new())
    };
    let mut events = Vec::new();
    for e in f.event.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        match EventKind::parse(e).filter(|k| EventKind::RULES.contains(k)) {
            Some(k) if !events.contains(&k) => events.push(k),
            Some(_) => {}
            None => return Ok(Err(format!("There is no event kind “{e}”."))),
        }
    }
    let mut orgs = Vec::new();
    for o in f.org.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        let Ok(id) = Uuid::parse_str(o) else {
            return Ok(Err("Choose orgs from the list.".into()));
        };
        let known = sqlx::query_scalar!("SELECT id FROM orgs WHERE id = $1", id)
            .fetch_optional(&state.pool)
            .await?;
        if known.is_none() {
            return Ok(Err("That org does not exist.".into()));
        }
        if !orgs.contains(&id) {
            orgs.push(id);
        }
    }
    let min_severity = match f.min_severity.as_deref().map(str::trim) {
        None | Some("") => Severity::Info,
        Some(s) => match Severity::parse(s) {
            Some(s) => s,
            None => {
                return Ok(Err(
                    "The minimum severity is info, low, medium, high or critical.".into(),
                ));
            }
        },
    };
    let digest = match f.digest.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d @ ("hourly" | "daily")) => Some(d),
        Some(_) => return Ok(Err("A digest is hourly or daily (or none).".into())),
    };
    let keyring = state.keyring.as_ref().ok_or_else(|| {
        AppError::BadRequest(
            "No master key is configured (COCKPIT_MASTER_KEY): channel URLs cannot be stored."
                .into(),
        )
    })?;
    let id = Uuid::new_v4();
    let sealed = seal_channel(keyring, id, kind, &url);
    let created = cockpit_db::notify::create_channel(
        &state.pool,
        actor,
        &NewChannel {
            id,
            name,
            kind,
            target_sealed: &sealed.target,
            target_hint: &hint,
            secret_sealed: sealed.secret_sealed.as_deref(),
            email_from: email_from.as_deref(),
            email_to: &email_to,
            events: &events,
            orgs: (!orgs.is_empty()).then_some(&orgs[..]),
            min_severity,
            audit: kind == ChannelKind::Siem && f.audit_log.is_some_and(|v| v),
            digest,
        },
    )
    .await?;
    if !created {
        return Ok(Err(format!("A channel named “{name}” exists already.")));
    }
    Ok(Ok((id, sealed.secret)))
}

pub async fn channel_create(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    Form(form): Form<ChannelForm>,
) -> Result<Response, AppError> {
    if let Some(redirect) = stale_proof(&state, &user, "/admin/channels") {
        return Ok(redirect);
    }
    match create(&state, &user.actor(), &form).await? {
        Ok((_, secret)) => Ok(Html(
            page(
                &state,
                &user,
                Some((form.name.trim().to_owned(), secret)),
                false,
                None,
            )
            .await?,
        )
        .into_response()),
        Err(problem) => {
            let html = page(&state, &user, None, false, Some(problem)).await?;
            Ok((StatusCode::BAD_REQUEST, Html(html)).into_response())
        }
    }
}

fn channel_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| AppError::NotFound)
}

/// "Send a test": queued like any notification, to this channel only.
pub async fn channel_test(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    if !cockpit_db::notify::send_test(&state.pool, &user.actor(), channel_id(&id)?).await? {
        return Err(AppError::NotFound);
    }
    state.wake.notify_waiters();
    Ok(Redirect::to("/admin/channels?tested=1").into_response())
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    /// `enable`, `disable` or `delete`.
    pub change: String,
}

pub async fn channel_change(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    Path(id): Path<String>,
    Form(form): Form<ChangeForm>,
) -> Result<Response, AppError> {
    let id = channel_id(&id)?;
    if !matches!(form.change.as_str(), "enable" | "disable" | "delete") {
        return Err(AppError::BadRequest(
            "The change is enable, disable or delete.".into(),
        ));
    }
    // Already so (or unknown): the list shows how it is.
    cockpit_db::notify::change_channel(&state.pool, &user.actor(), id, &form.change).await?;
    Ok(Redirect::to("/admin/channels").into_response())
}

#[derive(Template)]
#[template(path = "pages/admin_deliveries.html")]
pub struct DeliveriesPage {
    pub layout: Layout,
    pub csrf: String,
    pub status: Option<&'static str>,
    pub rows: Vec<LogRow>,
    pub next: Option<String>,
}

impl DeliveriesPage {
    pub fn severity(&self, rank: &i16) -> &'static str {
        Severity::from_rank(*rank).as_str()
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub before: Option<String>,
}

const LOG_PAGE: i64 = 100;

pub async fn deliveries_list(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    Query(q): Query<LogQuery>,
) -> Result<Html<String>, AppError> {
    let status = match q.status.as_deref().unwrap_or("") {
        "" => None,
        "pending" => Some("pending"),
        "delivered" => Some("delivered"),
        "dead" => Some("dead"),
        "held" => Some("held"),
        "digested" => Some("digested"),
        _ => {
            return Err(AppError::BadRequest(
                "The status is pending, delivered, dead, held or digested.".into(),
            ));
        }
    };
    let before = match q.before.as_deref().unwrap_or("") {
        "" => None,
        b => Some(
            b.parse::<i64>()
                .map_err(|_| AppError::BadRequest("That page link is damaged.".into()))?,
        ),
    };
    // One row more than a page: an "Older" link only when there is one.
    let mut rows = cockpit_db::notify::log(&state.pool, status, before, LOG_PAGE + 1).await?;
    let more = rows.len() as i64 > LOG_PAGE;
    rows.truncate(LOG_PAGE as usize);
    let next = more
        .then(|| rows.last().map(|r| r.id))
        .flatten()
        .map(|last| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            if let Some(s) = status {
                q.append_pair("status", s);
            }
            q.append_pair("before", &last.to_string());
            format!("/admin/deliveries?{}", q.finish())
        });
    let layout = Layout::load(&state.pool, &user, "admin", "/", None).await?;
    Ok(Html(
        DeliveriesPage {
            layout,
            csrf: user.csrf.clone(),
            status,
            rows,
            next,
        }
        .render()?,
    ))
}

pub async fn delivery_resend(
    State(state): State<AppState>,
    EveryOrg { user, .. }: EveryOrg<Admin>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    // Not dead (sent meanwhile, or re-sent by someone else): the log shows it.
    cockpit_db::notify::resend(&state.pool, &user.actor(), id).await?;
    state.wake.notify_waiters();
    Ok(Redirect::to("/admin/deliveries?status=dead").into_response())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use cockpit_domain::secret::{Keyring, MasterKey};
    use http::{Request, header};

    use crate::{AppState, testutil::*};

    fn sealing(pool: &sqlx::PgPool) -> AppState {
        let mut s = state(pool);
        s.keyring = Some(Arc::new(Keyring::new(
            MasterKey::from_bytes([7; 32]),
            vec![],
        )));
        s
    }

    async fn post(
        state: &AppState,
        uri: &str,
        body: &str,
    ) -> (http::StatusCode, http::HeaderMap, String) {
        let cookie = admin_cookie(&state.pool).await;
        let req = Request::post(uri)
            .header(header::ORIGIN, "http://127.0.0.1:8080")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={TEST_CSRF}&{body}")))
            .unwrap();
        send_to(state, &cookie, req).await
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn a_webhook_channel_is_created_tested_and_listed(pool: sqlx::PgPool) {
        let state = sealing(&pool);
        let (status, _, html) = post(
            &state,
            "/admin/channels",
            "name=SOC+%3Cb%3E&kind=webhook&url=http%3A%2F%2F127.0.0.1%3A9%2Fhook%2Fsecret-path\
             &event=indicator.hit&min_severity=high",
        )
        .await;
        assert_eq!(status, 200, "{html}");
        let page = Page(scraper::Html::parse_document(&html));
        // The signing secret, once; the URL's host only, never its path.
        let secret = page.texts("section.new-channel code.secret").concat();
        assert!(secret.starts_with("whsec_"), "{html}");
        assert_eq!(page.texts("table.channels td.name"), ["SOC <b>"]);
        assert_eq!(
            page.texts("table.channels td.target"),
            ["http://127.0.0.1:9"]
        );
        assert!(!html.contains("secret-path"));
        assert_eq!(page.texts("table.channels td.events"), ["Indicator hit"]);
        assert_eq!(page.texts("table.channels td.severity"), ["high"]);
        let (_, _, again) = get_raw(&pool, "/admin/channels").await;
        assert!(!again.contains(&secret), "the secret is shown once");
        let sealed: Vec<u8> = sqlx::query_scalar("SELECT target_sealed FROM channels")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("secret-path"));

        // The test button queues one delivery to this channel, audited.
        let page = Page(scraper::Html::parse_document(&again));
        let test = page.attr("table.channels form.test", "action");
        let (status, headers, _) = post(&state, &test, "").await;
        assert_eq!(status, 303);
        assert_eq!(headers["location"], "/admin/channels?tested=1");
        let (kind, n): (String, i64) = sqlx::query_as(
            "SELECT n.kind, count(*) FROM deliveries d JOIN notifications n ON n.id = d.notification_id GROUP BY 1",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((kind.as_str(), n), ("test", 1));
        let audited: Vec<String> = sqlx::query_scalar(
            "SELECT action FROM audit_log WHERE action LIKE 'channel.%' ORDER BY seq",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(audited, ["channel.created", "channel.tested"]);

        // The log lists it, pending.
        let log = get_page(&pool, "/admin/deliveries").await;
        assert_eq!(log.texts("table.deliveries td.status"), ["pending"]);
        assert_eq!(log.texts("table.deliveries td.channel"), ["SOC <b>"]);

        // Disabled, then deleted: gone from the list, its pending delivery
        // given up (the log keeps it).
        let (status, _, _) =
            post(&state, &test.replace("/test", "/change"), "change=disable").await;
        assert_eq!(status, 303);
        let (status, _, _) = post(&state, &test.replace("/test", "/change"), "change=delete").await;
        assert_eq!(status, 303);
        let page = get_page(&pool, "/admin/channels").await;
        assert!(page.texts("table.channels td.name").is_empty());
        let log = get_page(&pool, "/admin/deliveries?status=dead").await;
        assert_eq!(log.texts("table.deliveries td.status"), ["dead"]);
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn bad_channels_are_refused_with_the_reason(pool: sqlx::PgPool) {
        let state = sealing(&pool);
        for (body, says) in [
            (
                "name=&kind=webhook&url=https%3A%2F%2Fx.example%2F",
                "Name the channel",
            ),
            (
                "name=a&kind=pager&url=https%3A%2F%2Fx.example%2F",
                "The kind is",
            ),
            (
                "name=a&kind=email&url=smtp%3A%2F%2Fmail.example%3A25&email_from=a%40b.example&email_to=s%40b.example",
                "STARTTLS",
            ),
            (
                "name=a&kind=email&url=smtps%3A%2F%2Fmail.example&email_from=a%40b.example&email_to=Eve+%3Ce%40x.example%3E",
                "is not an email address",
            ),
            (
                "name=a&kind=siem&url=syslog%2Btcp%3A%2F%2Fsiem.example",
                "the collector",
            ),
            (
                "name=a&kind=slack&url=http%3A%2F%2Fx.example%2F",
                "Use https",
            ),
            (
                "name=a&kind=teams&url=https%3A%2F%2Fx.example%2F&event=app.gone",
                "no event kind",
            ),
            (
                "name=a&kind=webhook&url=https%3A%2F%2Fx.example%2F&org=nope",
                "Choose orgs",
            ),
            (
                "name=a&kind=webhook&url=https%3A%2F%2Fx.example%2F&digest=weekly",
                "hourly or daily",
            ),
            (
                "name=a&kind=webhook&url=https%3A%2F%2Fx.example%2F&event=digest",
                "no event kind",
            ),
        ] {
            let (status, _, html) = post(&state, "/admin/channels", body).await;
            assert_eq!(status, 400, "{body}");
            assert!(html.contains(says), "{body}: {html}");
        }
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM channels")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 0);
    }
}
