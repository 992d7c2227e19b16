//! Delivers notifications: claims due deliveries from the outbox
//! (`cockpit_db::notify`), posts each in its channel's format, and records
//! how it went. At least once: a delivery is marked delivered only after a
//! 2xx, and every attempt carries the same event id (`webhook-id`) for the
//! receiver to deduplicate. A failed attempt is tried again after a capped
//! exponential backoff with jitter, until the give-up window has passed;
//! then it is dead, listed on the delivery log, and re-sendable.

use std::{sync::Arc, time::Duration};

use cockpit_db::{
    PgPool,
    notify::{Due, Outcome},
};
use cockpit_domain::{
    notify::{
        AuditRecord, ChannelKind, Message, MessageOrg, Severity, channel_scope, ecs, ecs_audit,
        email, render, sign, syslog_5424, syslog_audit,
    },
    secret::{Keyring, SecretField},
};
use futures::StreamExt as _;
use secrecy::ExposeSecret as _;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Deliveries claimed at once.
    pub batch: i64,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// One request's time limit.
    pub timeout: Duration,
    /// A claimed delivery is due again after this if its worker died.
    pub lease: Duration,
    /// The first retry's pause; doubled each attempt up to `cap`.
    pub base: Duration,
    pub cap: Duration,
    /// A delivery still failing this long after its notification was
    /// written is dead.
    pub give_up_after: Duration,
    /// How often an idle deliverer looks for work.
    pub idle: Duration,
    /// The cockpit's public URL, for links in messages.
    pub public_url: Option<String>,
    /// Notifications (and their delivery log) are removed this many days
    /// after they were written; `None` keeps them.
    pub keep_days: Option<i32>,
    /// The certificate authorities a SIEM collector's TLS certificate may
    /// chain to (`COCKPIT_SIEM_CA_FILE`); empty, the system's trust store,
    /// as for webhooks.
    pub siem_roots: Vec<Certificate>,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            batch: 200,
            concurrency: 64,
            timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            base: Duration::from_secs(2),
            cap: Duration::from_secs(300),
            give_up_after: Duration::from_secs(24 * 3600),
            idle: Duration::from_secs(1),
            public_url: None,
            keep_days: None,
            siem_roots: Vec::new(),
        }
    }
}

/// The pause before attempt `attempts + 1`: `base · 2^(attempts-1)`, at
/// most `cap`, times a random factor in [0.5, 1) so receivers coming back
/// are not hit by every sender at once.
pub fn backoff(settings: &DeliverySettings, attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 20) as u32 - 1;
    let pause = settings
        .base
        .saturating_mul(1u32 << exp.min(16))
        .min(settings.cap);
    pause.mul_f64(0.5 + rand::random::<f64>() / 2.0)
}

pub struct Deliverer {
    pool: PgPool,
    keyring: Arc<Keyring>,
    client: reqwest::Client,
    /// TLS to SIEM collectors.
    tls: tokio_rustls::TlsConnector,
    settings: DeliverySettings,
    /// Audit streams whose collector failed: not tried again before the
    /// instant, and how many times in a row it failed.
    audit_retry:
        std::sync::Mutex<std::collections::HashMap<uuid::Uuid, (tokio::time::Instant, i32)>>,
}

/// A certificate, as TLS takes it.
pub type Certificate = rustls_pki_types::CertificateDer<'static>;

/// The certificates of a PEM file (`COCKPIT_SIEM_CA_FILE`).
pub fn load_roots(path: &std::path::Path) -> Result<Vec<Certificate>, String> {
    use rustls_pki_types::pem::PemObject as _;
    let roots = rustls_pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not PEM certificates: {e}", path.display()))?;
    if roots.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(roots)
}

/// What a SIEM channel sends: a notification, or an audit log entry.
enum SiemItem<'a> {
    Notice(&'a Message),
    Audit(&'a AuditRecord),
}

impl SiemItem<'_> {
    fn ecs(&self) -> serde_json::Value {
        match self {
            SiemItem::Notice(m) => ecs(m),
            SiemItem::Audit(a) => ecs_audit(a),
        }
    }

    fn syslog(&self, host: &str) -> String {
        match self {
            SiemItem::Notice(m) => syslog_5424(m, host),
            SiemItem::Audit(a) => syslog_audit(a, host),
        }
    }
}

/// Writes `payload` whole and closes the stream (a TLS stream sends its
/// close_notify), within `limit`.
async fn write_and_close<S: tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    payload: &[u8],
    limit: Duration,
) -> Result<(), String> {
    use tokio::io::AsyncWriteExt as _;
    tokio::time::timeout(limit, async {
        stream.write_all(payload).await?;
        stream.shutdown().await
    })
    .await
    .map_err(|_| "the collector did not take the message in time".to_owned())?
    .map_err(|e| format!("sending to the collector failed: {e}"))
}

impl Deliverer {
    pub fn new(
        pool: PgPool,
        keyring: Arc<Keyring>,
        settings: DeliverySettings,
    ) -> Result<Deliverer, Box<dyn std::error::Error + Send + Sync>> {
        // Installing twice is harmless; the first provider wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = if settings.siem_roots.is_empty() {
            use rustls_platform_verifier::ConfigVerifierExt as _;
            rustls::ClientConfig::with_platform_verifier()?
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for cert in &settings.siem_roots {
                roots.add(cert.clone())?;
            }
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth()
        };
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // A receiver's redirect is not followed: the message goes to the
            // URL the admin entered or nowhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("OAuthCockpit/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Deliverer {
            pool,
            keyring,
            client,
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            settings,
            audit_retry: Default::default(),
        })
    }

    /// Claims one batch, sends it and records the outcomes; how many were
    /// claimed.
    pub async fn run_once(&self) -> sqlx::Result<usize> {
        let due =
            cockpit_db::notify::claim(&self.pool, self.settings.batch, self.settings.lease).await?;
        let n = due.len();
        let outcomes: Vec<Outcome> = futures::stream::iter(due)
            .map(|d| self.send(d))
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        cockpit_db::notify::record(&self.pool, &outcomes).await?;
        Ok(n)
    }

    /// Delivers until `shutdown` turns true; once an hour, removes what is
    /// past retention. The audit log goes to SIEM channels in a loop of its
    /// own, so a collector that does not answer delays no notification.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        tokio::join!(self.deliver(shutdown.clone()), self.audit_loop(shutdown));
    }

    async fn audit_loop(&self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let pause = match self.stream_audit().await {
                Ok(0) => self.settings.idle,
                Ok(_) => Duration::ZERO,
                Err(e) => {
                    tracing::error!(error = %e, "could not stream the audit log");
                    self.settings.idle * 5
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn deliver(&self, mut shutdown: watch::Receiver<bool>) {
        let mut pruned_at: Option<tokio::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Some(days) = self.settings.keep_days
                && pruned_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600))
            {
                pruned_at = Some(tokio::time::Instant::now());
                match cockpit_db::notify::prune(&self.pool, days).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(removed = n, days, "notifications past retention removed")
                    }
                    Err(e) => tracing::error!(error = %e, "could not remove old notifications"),
                }
            }
            if let Err(e) = cockpit_db::notify::make_digests(&self.pool).await {
                tracing::error!(error = %e, "could not write the digests");
            }
            let pause = match self.run_once().await {
                Ok(0) => self.settings.idle,
                Ok(_) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "could not deliver notifications");
                    self.settings.idle * 5
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn send(&self, d: Due) -> Outcome {
        let result = self.attempt(&d).await;
        let (delivered, code, error) = match result {
            // A stream or datagram taken whole: nothing answers.
            Ok(None) => (true, None, None),
            Ok(Some(code)) if (200..300).contains(&code) => (true, Some(code), None),
            Ok(Some(code)) => (
                false,
                Some(code),
                Some(format!("the receiver answered {code}")),
            ),
            Err(e) => (false, None, Some(e)),
        };
        let age = (chrono::Utc::now() - d.created_at)
            .to_std()
            .unwrap_or_default();
        let retry_in = (!delivered && age < self.settings.give_up_after)
            .then(|| backoff(&self.settings, d.attempts));
        if !delivered {
            tracing::warn!(delivery = d.id, channel = %d.channel_id, attempt = d.attempts,
                           error = error.as_deref().unwrap_or(""), dead = retry_in.is_none(),
                           "notification not delivered");
        }
        Outcome {
            id: d.id,
            delivered,
            code,
            error,
            retry_in,
        }
    }

    /// One attempt: the receiver's status code (HTTP, SMTP), `None` for a
    /// SIEM stream that took the message, or why it failed. Errors never
    /// name the URL (a Slack or Teams URL is a credential).
    async fn attempt(&self, d: &Due) -> Result<Option<i32>, String> {
        let kind = ChannelKind::parse(&d.channel_kind).ok_or("unknown channel kind")?;
        let record = d.channel_id.to_string();
        let scope = |field| channel_scope(&record, field);
        let target = self
            .keyring
            .open_str(scope(SecretField::ChannelTarget), &d.target_sealed)
            .map_err(|e| format!("cannot open the channel's URL: {e}"))?;
        let message = Message {
            id: d.event_id,
            kind: d.kind.clone(),
            severity: Severity::from_rank(d.severity).as_str().to_owned(),
            created_at: d.created_at,
            title: d.title.clone(),
            org: d.org_id.map(|id| MessageOrg {
                id,
                name: d.org_name.clone(),
            }),
            data: d.detail.clone(),
            link: d.link.as_ref().map(|l| match &self.settings.public_url {
                Some(base) if l.starts_with('/') => format!("{}{l}", base.trim_end_matches('/')),
                _ => l.clone(),
            }),
        };
        let Some(format) = kind.web_format() else {
            return match kind {
                ChannelKind::Email => self
                    .send_email(d, &message, target.expose_secret())
                    .await
                    .map(Some),
                _ => self
                    .send_siem(&[SiemItem::Notice(&message)], target.expose_secret())
                    .await
                    .map(|()| None),
            };
        };
        let body = serde_json::to_vec(&render(format, &message)).map_err(|e| e.to_string())?;
        let id = d.event_id.to_string();
        let now = chrono::Utc::now().timestamp();
        let mut request = self
            .client
            .post(target.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", now.to_string());
        if let Some(sealed) = &d.secret_sealed {
            let secret = self
                .keyring
                .open_str(scope(SecretField::ChannelSecret), sealed)
                .map_err(|e| format!("cannot open the signing secret: {e}"))?;
            request = request.header(
                "webhook-signature",
                sign(secret.expose_secret(), &id, now, &body),
            );
        }
        let response = request.body(body).send().await.map_err(|e| {
            let e = e.without_url();
            if e.is_timeout() {
                "the receiver did not answer in time".to_owned()
            } else if e.is_connect() {
                "could not connect to the receiver".to_owned()
            } else {
                format!("sending failed: {e}")
            }
        })?;
        Ok(Some(i32::from(response.status().as_u16())))
    }

    /// To a SIEM's collector: `syslog+tcp` (RFC 5424, octet-counted framing
    /// of RFC 6587), `syslog+tls` (the same over TLS, RFC 5425),
    /// `syslog+udp` (a datagram each, RFC 5426), `jsonl+tcp` or `jsonl+tls`
    /// (each ECS document and a newline). One connection per call: a
    /// collector that restarts loses nothing.
    async fn send_siem(&self, items: &[SiemItem<'_>], url: &str) -> Result<(), String> {
        let url = url::Url::parse(url).map_err(|_| "the channel's address cannot be used")?;
        let addr = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port().unwrap_or(514)
        );
        let host = self
            .settings
            .public_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "-".to_owned());
        let limit = self.settings.timeout;
        let scheme = url.scheme();
        if scheme == "syslog+udp" {
            let socket = tokio::net::UdpSocket::bind(if addr.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            })
            .await
            .map_err(|e| format!("no UDP socket: {e}"))?;
            for item in items {
                tokio::time::timeout(limit, socket.send_to(item.syslog(&host).as_bytes(), &addr))
                    .await
                    .map_err(|_| "the collector's address did not resolve in time".to_owned())?
                    .map_err(|e| format!("sending to the collector failed: {e}"))?;
            }
            return Ok(());
        }
        let mut payload = String::new();
        for item in items {
            match scheme {
                "jsonl+tcp" | "jsonl+tls" => {
                    payload.push_str(&item.ecs().to_string());
                    payload.push('\n');
                }
                "syslog+tcp" | "syslog+tls" => {
                    let line = item.syslog(&host);
                    payload.push_str(&format!("{} {line}", line.len()));
                }
                _ => return Err("unknown SIEM transport".into()),
            }
        }
        let stream = tokio::time::timeout(limit, tokio::net::TcpStream::connect(&addr))
            .await
            .map_err(|_| "the collector did not answer in time".to_owned())?
            .map_err(|_| "could not connect to the collector".to_owned())?;
        if !scheme.ends_with("+tls") {
            return write_and_close(stream, payload.as_bytes(), limit).await;
        }
        let name = rustls_pki_types::ServerName::try_from(
            url.host_str()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        )
        .map_err(|_| "the collector's host is not a name TLS can check".to_owned())?;
        let stream = tokio::time::timeout(limit, self.tls.connect(name, stream))
            .await
            .map_err(|_| "the collector's TLS handshake did not finish in time".to_owned())?
            .map_err(|e| format!("TLS with the collector failed: {e}"))?;
        write_and_close(stream, payload.as_bytes(), limit).await
    }

    /// Sends each SIEM channel that takes the audit log the entries after
    /// the last one it took, in order, up to `AUDIT_BATCH` per channel, and
    /// moves its place forward once the collector took them. Returns how
    /// many entries were sent.
    pub async fn stream_audit(&self) -> sqlx::Result<usize> {
        const AUDIT_BATCH: i64 = 500;
        let mut sent = 0;
        for stream in cockpit_db::notify::audit_streams(&self.pool).await? {
            let waiting = self
                .audit_retry
                .lock()
                .map(|r| {
                    r.get(&stream.channel_id)
                        .is_some_and(|(at, _)| *at > tokio::time::Instant::now())
                })
                .unwrap_or(false);
            if waiting {
                continue;
            }
            let entries =
                cockpit_db::notify::audit_after(&self.pool, stream.after, AUDIT_BATCH).await?;
            let Some(last) = entries.last().map(|e| e.seq) else {
                continue;
            };
            let record = stream.channel_id.to_string();
            let result = match self.keyring.open_str(
                channel_scope(&record, SecretField::ChannelTarget),
                &stream.target_sealed,
            ) {
                Err(e) => Err(format!("cannot open the channel's URL: {e}")),
                Ok(url) => {
                    let items: Vec<SiemItem> = entries.iter().map(SiemItem::Audit).collect();
                    self.send_siem(&items, url.expose_secret()).await
                }
            };
            if let Ok(mut retry) = self.audit_retry.lock() {
                if result.is_ok() {
                    retry.remove(&stream.channel_id);
                } else {
                    // The same capped backoff with jitter as a delivery's.
                    let failures = retry.get(&stream.channel_id).map_or(0, |r| r.1) + 1;
                    let at = tokio::time::Instant::now() + backoff(&self.settings, failures);
                    retry.insert(stream.channel_id, (at, failures));
                }
            }
            match result {
                Ok(()) => {
                    sent += entries.len();
                    cockpit_db::notify::audit_sent(&self.pool, stream.channel_id, Ok(last)).await?;
                }
                Err(e) => {
                    tracing::warn!(channel = %stream.channel_id, error = %e, "the audit log could not be sent");
                    cockpit_db::notify::audit_sent(&self.pool, stream.channel_id, Err(&e)).await?;
                }
            }
        }
        Ok(sent)
    }

    /// One mail, plain text and HTML, its Message-ID made of the event id
    /// (the same on every attempt); 250 when the server took it. Errors
    /// never quote the URL (it holds the server's password).
    async fn send_email(&self, d: &Due, m: &Message, url: &str) -> Result<i32, String> {
        use lettre::{
            AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor,
            message::{Mailbox, MultiPart},
        };
        let from: Mailbox = d
            .email_from
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|e| format!("the sender's address: {e}"))?;
        let (subject, text, html) = email(m);
        let mut mail = lettre::Message::builder()
            .from(from)
            .subject(subject)
            .message_id(Some(format!("<{}@oauth-cockpit>", m.id)));
        for to in &d.email_to {
            mail = mail.to(to.parse().map_err(|e| format!("the recipient {to}: {e}"))?);
        }
        let mail = mail
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| format!("the mail cannot be built: {e}"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| "the channel's SMTP URL cannot be used".to_owned())?
            .timeout(Some(self.settings.timeout))
            .build();
        match transport.send(mail).await {
            Ok(_) => Ok(250),
            Err(e) => Err(match e.status() {
                Some(code) => format!("the SMTP server answered {code}: {e}"),
                None if e.is_timeout() => "the SMTP server did not answer in time".to_owned(),
                None => format!("sending the mail failed: {e}"),
            }),
        }
    }
}
