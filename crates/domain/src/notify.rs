//! Notifications: the kinds of event the cockpit tells people about, their
//! severities, the channels' kinds, and each channel's message format.
//!
//! Everything in a message that came from Salesforce (app, user and org
//! names) is attacker-controlled: each format escapes it its own way
//! (JSON by serde; Slack's `mrkdwn` and Teams' Adaptive Card markdown by
//! the functions here). No message carries a token, secret or password:
//! a notification holds names, counts and links only.

use std::fmt;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;

use crate::secret::{Keyring, SecretField, SecretScope};

/// People holding an app outside the inventory at which it is reported
/// when it reaches them ([`EventKind::AppOutsideInventory`]), unless the operator sets
/// another number (`COCKPIT_OUTSIDE_INVENTORY_PEOPLE`).
pub const OUTSIDE_INVENTORY_PEOPLE: i64 = 10;

/// What happened. The string forms are the webhook payload's `type` and
/// the database's `notifications.kind` (migrations 0036 and 0039 check the
/// list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// "Send a test" on the channel page.
    Test,
    /// Several noisy events in one message, for a channel that takes them
    /// hourly or daily.
    Digest,
    AppNew,
    /// An app no inventory entry matches reached many people in a sync
    /// ([`OUTSIDE_INVENTORY_PEOPLE`] by default).
    AppOutsideInventory,
    LeaverWithTokens,
    AppReauthorized,
    BlockRemoved,
    IndicatorHit,
    SourceNew,
    SyncFailing,
    OrgNeedsReauth,
    OrgBudgetPaused,
    ActionFailed,
    ApprovalRequested,
    ApprovalDecided,
    IncidentDeclared,
    IncidentContained,
    IncidentClosed,
}

impl EventKind {
    /// Every kind a channel's rules can choose (not `test`).
    pub const RULES: [EventKind; 16] = [
        EventKind::AppNew,
        EventKind::AppOutsideInventory,
        EventKind::LeaverWithTokens,
        EventKind::AppReauthorized,
        EventKind::BlockRemoved,
        EventKind::IndicatorHit,
        EventKind::SourceNew,
        EventKind::SyncFailing,
        EventKind::OrgNeedsReauth,
        EventKind::OrgBudgetPaused,
        EventKind::ActionFailed,
        EventKind::ApprovalRequested,
        EventKind::ApprovalDecided,
        EventKind::IncidentDeclared,
        EventKind::IncidentContained,
        EventKind::IncidentClosed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Test => "test",
            EventKind::Digest => "digest",
            EventKind::AppNew => "app.new",
            EventKind::AppOutsideInventory => "app.outside_inventory",
            EventKind::LeaverWithTokens => "user.leaver_with_tokens",
            EventKind::AppReauthorized => "app.reauthorized",
            EventKind::BlockRemoved => "block.removed",
            EventKind::IndicatorHit => "indicator.hit",
            EventKind::SourceNew => "source.new",
            EventKind::SyncFailing => "sync.failing",
            EventKind::OrgNeedsReauth => "org.needs_reauth",
            EventKind::OrgBudgetPaused => "org.budget_paused",
            EventKind::ActionFailed => "action.failed",
            EventKind::ApprovalRequested => "approval.requested",
            EventKind::ApprovalDecided => "approval.decided",
            EventKind::IncidentDeclared => "incident.declared",
            EventKind::IncidentContained => "incident.contained",
            EventKind::IncidentClosed => "incident.closed",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        [EventKind::Test, EventKind::Digest]
            .into_iter()
            .chain(EventKind::RULES)
            .find(|k| k.as_str() == s)
    }

    /// What the channel page calls it.
    pub fn label(self) -> &'static str {
        match self {
            EventKind::Test => "Test message",
            EventKind::Digest => "Digest",
            EventKind::AppNew => "New app in an org",
            EventKind::AppOutsideInventory => "App outside the inventory reaching many people",
            EventKind::LeaverWithTokens => "Leaver still holding tokens",
            EventKind::AppReauthorized => "App authorized again after a revoke",
            EventKind::BlockRemoved => "Block removed outside the cockpit",
            EventKind::IndicatorHit => "Indicator hit",
            EventKind::SourceNew => "New network or user agent",
            EventKind::SyncFailing => "Sync failing",
            EventKind::OrgNeedsReauth => "Org needs re-authorization",
            EventKind::OrgBudgetPaused => "API budget paused the sync",
            EventKind::ActionFailed => "Action finished with failures",
            EventKind::ApprovalRequested => "Approval requested",
            EventKind::ApprovalDecided => "Approval decided",
            EventKind::IncidentDeclared => "Incident declared",
            EventKind::IncidentContained => "Incident contained",
            EventKind::IncidentClosed => "Incident closed",
        }
    }

    /// The types a channel may take as a digest: frequent, and none of
    /// them calls for someone to act within the hour. Indicator hits,
    /// re-authorizations after a revoke, removed blocks, incidents and
    /// approvals always go at once.
    pub fn noisy(self) -> bool {
        matches!(
            self,
            EventKind::AppNew
                | EventKind::AppOutsideInventory
                | EventKind::LeaverWithTokens
                | EventKind::SourceNew
                | EventKind::SyncFailing
                | EventKind::OrgBudgetPaused
                | EventKind::ActionFailed
        )
    }

    /// How bad it is by default.
    pub fn severity(self) -> Severity {
        match self {
            EventKind::Test
            | EventKind::Digest
            | EventKind::IncidentClosed
            | EventKind::ApprovalDecided => Severity::Info,
            EventKind::AppNew | EventKind::OrgBudgetPaused => Severity::Low,
            EventKind::SyncFailing
            | EventKind::AppOutsideInventory
            | EventKind::OrgNeedsReauth
            | EventKind::SourceNew
            | EventKind::ApprovalRequested
            | EventKind::IncidentContained
            | EventKind::ActionFailed => Severity::Medium,
            EventKind::LeaverWithTokens
            | EventKind::AppReauthorized
            | EventKind::BlockRemoved
            | EventKind::IncidentDeclared => Severity::High,
            EventKind::IndicatorHit => Severity::Critical,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity, stored as 1 (info) to 5 (critical) so a channel's minimum is
/// a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info = 1,
    Low = 2,
    Medium = 3,
    High = 4,
    Critical = 5,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn rank(self) -> i16 {
        self as i16
    }

    pub fn from_rank(n: i16) -> Severity {
        Severity::ALL
            .into_iter()
            .find(|s| s.rank() == n)
            .unwrap_or(Severity::Info)
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a channel sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    /// Any HTTPS receiver: JSON, signed the Standard Webhooks way.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// A Microsoft Teams workflow ("Post to a channel when a webhook
    /// request is received"): an Adaptive Card.
    Teams,
    /// Mail through an SMTP server: plain text and HTML parts.
    Email,
    /// A SIEM's collector: RFC 5424 syslog over TLS, TCP or UDP, or JSON
    /// lines over TLS or TCP, with ECS fields ([`ecs`]).
    Siem,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 5] = [
        ChannelKind::Webhook,
        ChannelKind::Slack,
        ChannelKind::Teams,
        ChannelKind::Email,
        ChannelKind::Siem,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Teams => "teams",
            ChannelKind::Email => "email",
            ChannelKind::Siem => "siem",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelKind> {
        ChannelKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "Webhook (signed JSON)",
            ChannelKind::Slack => "Slack incoming webhook",
            ChannelKind::Teams => "Microsoft Teams workflow",
            ChannelKind::Email => "Email (SMTP)",
            ChannelKind::Siem => "SIEM (syslog or JSON lines, ECS fields)",
        }
    }
}

/// Checks a channel's URL. Web channels: `https`, or `http` to this
/// machine only (a receiver on loopback); no credentials in it. Email:
/// `smtps://` (TLS from the start) or `smtp://…?tls=required` (STARTTLS),
/// plain `smtp://` to this machine only; the server's user name and
/// password may be in it (the URL is sealed). Returns the URL and what pages
/// may show of it (scheme, host, port: a Slack URL's path is its secret).
pub fn check_target(kind: ChannelKind, text: &str) -> Result<(url::Url, String), String> {
    let url = url::Url::parse(text.trim()).map_err(|_| "That is not a URL.".to_owned())?;
    let host = url.host_str().unwrap_or_default().to_owned();
    if host.is_empty() {
        return Err("The URL needs a host.".into());
    }
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if kind == ChannelKind::Siem {
        if !matches!(
            url.scheme(),
            "syslog+tls" | "syslog+tcp" | "syslog+udp" | "jsonl+tls" | "jsonl+tcp"
        ) {
            return Err(
                "A SIEM channel's address is syslog+tls://host:port (RFC 5425), syslog+tcp://, syslog+udp://, jsonl+tls:// or jsonl+tcp://."
                    .into(),
            );
        }
        if url.port().is_none() {
            return Err("Give the collector's port (syslog+tcp://siem.example.com:6514).".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("Put no user name or password in the address.".into());
        }
    } else if kind == ChannelKind::Email {
        let starttls = url
            .query_pairs()
            .any(|(k, v)| k == "tls" && v == "required");
        match url.scheme() {
            "smtps" => {}
            "smtp" if starttls || loopback => {}
            "smtp" => {
                return Err(
                    "Use smtps://, or smtp://…?tls=required for STARTTLS (plain smtp only to a server on this machine)."
                        .into(),
                );
            }
            _ => return Err("An email channel's URL starts with smtps:// or smtp://.".into()),
        }
    } else {
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err("Use https (plain http only to a receiver on this machine).".into());
            }
            _ => return Err("The URL must start with https://.".into()),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("Put no user name or password in the URL.".into());
        }
    }
    let hint = match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    };
    Ok((url, hint))
}

/// Checks an email channel's sender and recipients (1 to 20): one address
/// each, no display name, nothing a mail header could be split on. The
/// mail library parses them again when sending.
pub fn check_addresses(from: &str, to: &[String]) -> Result<(String, Vec<String>), String> {
    fn one(a: &str) -> Option<String> {
        let a = a.trim();
        let (local, domain) = a.split_once('@')?;
        let ok = !local.is_empty()
            && domain.contains('.')
            && a.len() <= 254
            && !a
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"()[]".contains(c));
        ok.then(|| a.to_owned())
    }
    let from = one(from).ok_or("Give the sender's address (name@example.com).")?;
    let mut out = Vec::new();
    for t in to.iter().flat_map(|t| t.split([',', ';', '\n'])) {
        if t.trim().is_empty() {
            continue;
        }
        let a = one(t).ok_or_else(|| format!("“{}” is not an email address.", t.trim()))?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    if out.is_empty() || out.len() > 20 {
        return Err("Give 1 to 20 recipients.".into());
    }
    Ok((from, out))
}

/// A notification as the worker sends it.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// The same on every attempt and every channel: receivers deduplicate
    /// on it.
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub severity: String,
    pub created_at: DateTime<Utc>,
    pub title: String,
    pub org: Option<MessageOrg>,
    /// Facts about the event: names, counts, ids (never a secret).
    pub data: serde_json::Value,
    /// The cockpit page about it, absolute when the public URL is known.
    pub link: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageOrg {
    pub id: Uuid,
    pub name: Option<String>,
}

/// What a channel that posts JSON over HTTP sends (email has [`email`],
/// a SIEM [`ecs`] and [`syslog_5424`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebFormat {
    Webhook,
    Slack,
    Teams,
}

impl ChannelKind {
    /// The JSON format of a channel that posts over HTTP; `None` for email
    /// and SIEM channels, which have transports of their own.
    pub fn web_format(self) -> Option<WebFormat> {
        match self {
            ChannelKind::Webhook => Some(WebFormat::Webhook),
            ChannelKind::Slack => Some(WebFormat::Slack),
            ChannelKind::Teams => Some(WebFormat::Teams),
            ChannelKind::Email | ChannelKind::Siem => None,
        }
    }
}

/// The body an HTTP channel posts, as JSON.
pub fn render(format: WebFormat, m: &Message) -> serde_json::Value {
    match format {
        WebFormat::Webhook => serde_json::to_value(m).unwrap_or_default(),
        WebFormat::Slack => slack(m),
        WebFormat::Teams => teams(m),
    }
}

/// An email's subject, plain text and HTML. Line breaks in names are
/// flattened in the subject (the mail library encodes it); the HTML escapes
/// every name.
pub fn email(m: &Message) -> (String, String, String) {
    let flat = |s: &str| s.replace(['\r', '\n'], " ");
    let subject = format!(
        "[OAuth Cockpit] [{}] {}",
        m.severity,
        flat(&bounded(&m.title, 200))
    );
    let facts = facts(m);
    let mut text = format!("{}\n\n", m.title);
    for (k, v) in &facts {
        text.push_str(&format!("{k}: {v}\n"));
    }
    if let Some(link) = &m.link {
        text.push_str(&format!("\nOpen in OAuth Cockpit: {link}\n"));
    }
    text.push_str(&format!("\nEvent {} ({})\n", m.id, m.kind));
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><h2 style=\"font-size:16px\">{}</h2><table>",
        html_escape(&m.title)
    );
    for (k, v) in &facts {
        html.push_str(&format!(
            "<tr><th style=\"text-align:left;padding-right:12px\">{}</th><td>{}</td></tr>",
            html_escape(k),
            html_escape(v)
        ));
    }
    html.push_str("</table>");
    if let Some(link) = &m.link {
        html.push_str(&format!(
            "<p><a href=\"{}\">Open in OAuth Cockpit</a></p>",
            html_escape(link)
        ));
    }
    html.push_str(&format!(
        "<p style=\"color:#666;font-size:12px\">Event {} ({})</p></body></html>",
        m.id,
        html_escape(&m.kind)
    ));
    (subject, text, html)
}

/// HTML text and attribute escaping of the five characters that matter.
/// Hand-written: five replacements; the templates' engine (askama) is not a
/// dependency of this crate, and a crate for this one function would be
/// more code to trust than these lines.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The facts shown in chat: the org, then the payload's scalar fields.
fn facts(m: &Message) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(o) = &m.org {
        out.push((
            "Org".to_owned(),
            o.name.clone().unwrap_or_else(|| o.id.to_string()),
        ));
    }
    out.push(("Severity".to_owned(), m.severity.clone()));
    if let Some(obj) = m.data.as_object() {
        for (k, v) in obj.iter().take(12) {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .take(10)
                    .map(|i| match i {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => continue,
            };
            out.push((k.replace('_', " "), bounded(&value, 300)));
        }
    }
    out
}

fn bounded(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}

/// Slack `mrkdwn`: `&`, `<` and `>` are the control characters (a `<…>`
/// is a link or a mention such as `<!channel>`); Slack asks for exactly
/// these three to be escaped. Emphasis characters are left: they can only
/// change the look of the name they are in.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack(m: &Message) -> serde_json::Value {
    let title = slack_escape(&bounded(&m.title, 300));
    let mut lines = vec![format!("*{title}*")];
    for (k, v) in facts(m) {
        lines.push(format!("{}: {}", slack_escape(&k), slack_escape(&v)));
    }
    if let Some(link) = &m.link {
        // Our own URL; escaped all the same.
        lines.push(format!("<{}|Open in OAuth Cockpit>", slack_escape(link)));
    }
    serde_json::json!({
        "text": title,
        "blocks": [{
            "type": "section",
            "text": { "type": "mrkdwn", "text": lines.join("\n") }
        }]
    })
}

/// Adaptive Card text is a markdown subset: a backslash before each
/// character that markdown gives a meaning (emphasis, links, lists,
/// headings, code) shows it as itself. `[C]` Microsoft documents the subset,
/// not its escaping; CommonMark's backslash escapes are what its renderer
/// follows in practice.
pub fn teams_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\`*_{}[]()<>#+-.!|~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn teams(m: &Message) -> serde_json::Value {
    let facts: Vec<serde_json::Value> = facts(m)
        .into_iter()
        .map(|(k, v)| serde_json::json!({ "title": teams_escape(&k), "value": teams_escape(&v) }))
        .collect();
    let mut actions = Vec::new();
    if let Some(link) = &m.link {
        actions.push(serde_json::json!({
            "type": "Action.OpenUrl", "title": "Open in OAuth Cockpit", "url": link
        }));
    }
    serde_json::json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    { "type": "TextBlock", "text": teams_escape(&bounded(&m.title, 300)),
                      "weight": "Bolder", "size": "Medium", "wrap": true },
                    { "type": "FactSet", "facts": facts }
                ],
                "actions": actions
            }
        }]
    })
}

/// Where a channel's sealed URL and secret belong: no org (a channel may
/// carry every org's events), the channel's id as the record, so a
/// ciphertext copied to another channel does not open.
pub fn channel_scope(record: &str, field: SecretField) -> SecretScope<'_> {
    SecretScope {
        org: Uuid::nil(),
        field,
        record,
    }
}

/// A channel's URL sealed, and for a webhook a new signing secret, plain
/// (to show once) and sealed.
pub struct SealedChannel {
    pub target: Vec<u8>,
    pub secret: Option<String>,
    pub secret_sealed: Option<Vec<u8>>,
}

pub fn seal_channel(
    keyring: &Keyring,
    id: Uuid,
    kind: ChannelKind,
    url: &url::Url,
) -> SealedChannel {
    let record = id.to_string();
    let target = keyring.seal(
        channel_scope(&record, SecretField::ChannelTarget),
        url.as_str().as_bytes(),
    );
    let secret = (kind == ChannelKind::Webhook).then(new_signing_secret);
    let secret_sealed = secret.as_ref().map(|s| {
        keyring.seal(
            channel_scope(&record, SecretField::ChannelSecret),
            s.as_bytes(),
        )
    });
    SealedChannel {
        target,
        secret,
        secret_sealed,
    }
}

/// A new signing secret: `whsec_` and base64 of 24 random bytes, the form
/// Standard Webhooks' libraries take.
pub fn new_signing_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The `webhook-signature` header of Standard Webhooks
/// (<https://www.standardwebhooks.com/>, the scheme Stripe's and Svix's
/// follow): `v1,` and base64 of HMAC-SHA256 over `id.timestamp.body`, keyed
/// with the secret's decoded bytes. Hand-written: the `standardwebhooks`
/// crate is a thin wrapper over the same `hmac` call and pulls an HTTP
/// stack of its own.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// The Elastic Common Schema (ECS) document of a notification, for SIEM
/// channels. ECS rather than OCSF: Elastic and Datadog ingest ECS fields as
/// they are, where OCSF's Detection Finding class would be mostly constants
/// here. The facts go under `oauth_cockpit`, the org under `organization`.
pub fn ecs(m: &Message) -> serde_json::Value {
    let finding = matches!(
        m.kind.as_str(),
        "indicator.hit"
            | "source.new"
            | "user.leaver_with_tokens"
            | "app.reauthorized"
            | "block.removed"
    );
    serde_json::json!({
        "@timestamp": m.created_at,
        "ecs": { "version": "8.11.0" },
        "message": m.title,
        "event": {
            "id": m.id,
            "kind": if finding { "alert" } else { "event" },
            "category": ["iam"],
            "type": ["info"],
            "action": m.kind,
            "severity": Severity::parse(&m.severity).map_or(1, Severity::rank),
            "provider": "oauth-cockpit",
            "dataset": "oauth_cockpit.notification",
            "url": m.link,
        },
        "organization": m.org.as_ref().map(|o| serde_json::json!({ "id": o.id, "name": o.name })),
        "oauth_cockpit": m.data,
    })
}

/// One RFC 5424 syslog message carrying the ECS document as its MSG:
/// facility authpriv (10), the severity mapped (critical → crit … info →
/// info), APP-NAME `oauth-cockpit`, MSGID the event type. `host` is the
/// cockpit's host name (`-` when unknown). Bounded to printable ASCII in the
/// header fields, as the RFC asks.
pub fn syslog_5424(m: &Message, host: &str) -> String {
    let sev = match Severity::parse(&m.severity) {
        Some(Severity::Critical) => 2,
        Some(Severity::High) => 3,
        Some(Severity::Medium) => 4,
        Some(Severity::Low) => 5,
        _ => 6,
    };
    syslog_line(sev, m.created_at, host, &m.kind, &ecs(m))
}

/// An audit log entry as a SIEM channel streams it (`docs/notifications.md`,
/// "The audit log").
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub seq: i64,
    /// The entry's link in the hash chain (hex).
    pub hash: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub org: Option<MessageOrg>,
    pub target: serde_json::Value,
    pub reason: Option<String>,
    pub outcome: Option<String>,
    pub detail: serde_json::Value,
}

/// The ECS document of an audit entry: `event.dataset`
/// `oauth_cockpit.audit`, its sequence number and chain hash (the hash is
/// also `event.id`, the same on every attempt), the actor as `user.name`.
pub fn ecs_audit(a: &AuditRecord) -> serde_json::Value {
    let outcome = match a.outcome.as_deref() {
        Some("succeeded" | "success" | "ok" | "delivered") => "success",
        Some("failed" | "failure" | "refused" | "denied") => "failure",
        _ => "unknown",
    };
    serde_json::json!({
        "@timestamp": a.at,
        "ecs": { "version": "8.11.0" },
        "message": format!("{} {}", a.actor, a.action),
        "event": {
            "id": a.hash,
            "kind": "event",
            "category": ["configuration"],
            "type": ["change"],
            "action": a.action,
            "outcome": outcome,
            "sequence": a.seq,
            "provider": "oauth-cockpit",
            "dataset": "oauth_cockpit.audit",
        },
        "user": { "name": a.actor },
        "organization": a.org.as_ref().map(|o| serde_json::json!({ "id": o.id, "name": o.name })),
        "oauth_cockpit": { "audit": {
            "seq": a.seq, "hash": a.hash, "target": a.target, "reason": a.reason,
            "outcome": a.outcome, "detail": a.detail,
        } },
    })
}

/// An audit entry as one RFC 5424 message: severity info, MSGID `audit`.
pub fn syslog_audit(a: &AuditRecord, host: &str) -> String {
    syslog_line(6, a.at, host, "audit", &ecs_audit(a))
}

/// The RFC 5424 line: facility authpriv (10), `sev`, the time, `host`,
/// APP-NAME `oauth-cockpit`, `msgid`, no structured data, `doc` as MSG.
fn syslog_line(
    sev: u8,
    at: DateTime<Utc>,
    host: &str,
    msgid: &str,
    doc: &serde_json::Value,
) -> String {
    let field = |s: &str, max: usize| -> String {
        let f: String = s
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(max)
            .collect();
        if f.is_empty() { "-".to_owned() } else { f }
    };
    format!(
        "<{}>1 {} {} oauth-cockpit - {} - {}",
        10 * 8 + sev,
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        field(host, 255),
        field(msgid, 32),
        doc
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(title: &str, data: serde_json::Value) -> Message {
        Message {
            id: Uuid::nil(),
            kind: "app.new".into(),
            severity: "low".into(),
            created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            title: title.into(),
            org: Some(MessageOrg {
                id: Uuid::nil(),
                name: Some("Prod <b>".into()),
            }),
            data,
            link: Some("https://cockpit.example/apps/1".into()),
        }
    }

    #[test]
    fn every_kind_parses_back() {
        for k in EventKind::RULES
            .into_iter()
            .chain([EventKind::Test, EventKind::Digest])
        {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EventKind::parse("app.gone"), None);
        for k in ["webhook", "slack", "teams", "email", "siem"] {
            assert_eq!(ChannelKind::parse(k).map(ChannelKind::as_str), Some(k));
        }
        for s in Severity::ALL {
            assert_eq!(Severity::from_rank(s.rank()), s);
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn slack_messages_cannot_mention_or_link() {
        let m = message(
            "New app: <!channel> <https://evil.example|click> & co",
            serde_json::json!({"app": "<@U123>"}),
        );
        let body = render(WebFormat::Slack, &m);
        let text = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(!text.contains("<@U123>"), "{text}");
        assert!(!text.contains("<https://evil"), "{text}");
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
        assert!(text.contains("Prod &lt;b&gt;"), "{text}");
        // The one link is ours.
        assert_eq!(text.matches('<').count(), 1, "{text}");
        assert!(text.contains("<https://cockpit.example/apps/1|Open in OAuth Cockpit>"));
    }

    #[test]
    fn teams_messages_show_markdown_as_text() {
        let m = message(
            "New app: [click](https://evil.example) **now**",
            serde_json::json!({"app": "_x_"}),
        );
        let body = render(WebFormat::Teams, &m);
        let card = &body["attachments"][0]["content"];
        let title = card["body"][0]["text"].as_str().unwrap();
        assert_eq!(
            title,
            r"New app: \[click\]\(https://evil\.example\) \*\*now\*\*"
        );
        let facts = card["body"][1]["facts"].as_array().unwrap();
        assert!(facts.iter().any(|f| f["value"] == r"\_x\_"));
        assert_eq!(card["actions"][0]["url"], "https://cockpit.example/apps/1");
    }

    #[test]
    fn webhook_payload_keeps_the_names_as_data() {
        let m = message("a \"quoted\" </script>", serde_json::json!({"n": 3}));
        let body = render(WebFormat::Webhook, &m);
        assert_eq!(body["title"], "a \"quoted\" </script>");
        assert_eq!(body["type"], "app.new");
        assert_eq!(body["data"]["n"], 3);
        assert_eq!(body["id"], Uuid::nil().to_string());
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn targets_are_https_or_loopback() {
        let web = |u| check_target(ChannelKind::Webhook, u);
        assert_eq!(
            web("https://hooks.slack.com/services/T/B/X").unwrap().1,
            "https://hooks.slack.com"
        );
        assert_eq!(
            web("http://127.0.0.1:9000/hook").unwrap().1,
            "http://127.0.0.1:9000"
        );
        assert!(web("http://[::1]:9000/").is_ok());
        assert!(web("http://receiver.example/hook").is_err());
        assert!(web("https://user:pw@receiver.example/").is_err());
        assert!(web("ftp://receiver.example/").is_err());
        assert!(web("not a url").is_err());
        let mail = |u| check_target(ChannelKind::Email, u);
        assert_eq!(
            mail("smtps://soc:pw@mail.example:465").unwrap().1,
            "smtps://mail.example:465"
        );
        assert!(mail("smtp://soc:pw@mail.example:587?tls=required").is_ok());
        assert!(mail("smtp://mail.example:25").is_err());
        assert!(mail("smtp://127.0.0.1:2525").is_ok());
        assert!(mail("https://mail.example").is_err());
        let siem = |u| check_target(ChannelKind::Siem, u);
        assert_eq!(
            siem("syslog+tcp://siem.example:6514").unwrap().1,
            "syslog+tcp://siem.example:6514"
        );
        assert!(siem("syslog+udp://10.0.0.5:514").is_ok());
        assert!(siem("jsonl+tcp://[::1]:5170").is_ok());
        assert!(siem("syslog+tls://siem.example:6514").is_ok());
        assert!(siem("jsonl+tls://siem.example:5171").is_ok());
        assert!(siem("syslog+ssl://siem.example:6514").is_err());
        assert!(siem("syslog+tcp://siem.example").is_err(), "a port");
        assert!(siem("https://siem.example:443").is_err());
    }

    #[test]
    fn addresses_are_one_each() {
        let (from, to) = check_addresses(
            "cockpit@acme.example",
            &[
                "soc@acme.example, oncall@acme.example".into(),
                "soc@acme.example".into(),
            ],
        )
        .unwrap();
        assert_eq!(from, "cockpit@acme.example");
        assert_eq!(to, ["soc@acme.example", "oncall@acme.example"]);
        assert!(check_addresses("x", &["soc@acme.example".into()]).is_err());
        assert!(check_addresses("a@b.example", &[]).is_err());
        assert!(check_addresses("a@b.example", &["Eve <e@x.example>".into()]).is_err());
        assert!(
            check_addresses("a@b.example\r\nBcc: e@x.example", &["s@x.example".into()]).is_err()
        );
    }

    #[test]
    fn emails_escape_names_in_html() {
        let m = message(
            "New app: <img src=x onerror=alert(1)>\r\nBcc: eve@x.example",
            serde_json::json!({"app": "<b>x</b>"}),
        );
        let (subject, text, html) = email(&m);
        assert!(!subject.contains('\n') && !subject.contains('\r'));
        assert!(subject.starts_with("[OAuth Cockpit] [low] New app:"));
        assert!(text.contains("app: <b>x</b>"), "{text}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>x"), "{html}");
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"), "{html}");
        assert!(html.contains("href=\"https://cockpit.example/apps/1\""));
    }

    #[test]
    fn syslog_lines_follow_rfc_5424_with_ecs_fields() {
        let m = message("New app: <x>\nnext", serde_json::json!({"app": "x"}));
        let line = syslog_5424(&m, "cockpit.acme.example");
        assert!(
            line.starts_with(
                "<85>1 2023-11-14T22:13:20.000Z cockpit.acme.example oauth-cockpit - app.new - {"
            ),
            "{line}"
        );
        assert!(!line.contains('\n'), "one line: {line}");
        let doc: serde_json::Value =
            serde_json::from_str(line.splitn(8, ' ').nth(7).unwrap()).unwrap();
        assert_eq!(doc["event"]["action"], "app.new");
        assert_eq!(doc["event"]["kind"], "event");
        assert_eq!(doc["organization"]["name"], "Prod <b>");
        assert_eq!(doc["oauth_cockpit"]["app"], "x");
        assert_eq!(doc["message"], "New app: <x>\nnext");
    }

    #[test]
    fn audit_entries_become_ecs_change_events() {
        let a = AuditRecord {
            seq: 42,
            hash: "ab12".into(),
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            actor: "user:ada@example.com".into(),
            action: "action.requested".into(),
            org: None,
            target: serde_json::json!({ "app": "Drift\n<x>" }),
            reason: Some("INC-7".into()),
            outcome: Some("failed".into()),
            detail: serde_json::json!({}),
        };
        let line = syslog_audit(&a, "cockpit.acme.example");
        assert!(
            line.starts_with(
                "<86>1 2023-11-14T22:13:20.000Z cockpit.acme.example oauth-cockpit - audit - {"
            ),
            "{line}"
        );
        assert!(!line.contains('\n'), "one line: {line}");
        let doc = ecs_audit(&a);
        assert_eq!(doc["event"]["dataset"], "oauth_cockpit.audit");
        assert_eq!(doc["event"]["id"], "ab12");
        assert_eq!(doc["event"]["sequence"], 42);
        assert_eq!(doc["event"]["outcome"], "failure");
        assert_eq!(doc["user"]["name"], "user:ada@example.com");
        assert_eq!(doc["oauth_cockpit"]["audit"]["target"]["app"], "Drift\n<x>");
    }
}
