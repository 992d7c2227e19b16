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
        ChannelKind, Message, MessageOrg, Severity, channel_scope, ecs, email, render, sign,
        syslog_5424,
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
    settings: DeliverySettings,
}

impl Deliverer {
    pub fn new(
        pool: PgPool,
        keyring: Arc<Keyring>,
        settings: DeliverySettings,
    ) -> reqwest::Result<Deliverer> {
        // Installing twice is harmless; the first provider wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
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
            settings,
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

    /// Delivers until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
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
        if kind == ChannelKind::Email {
            return self
                .send_email(d, &message, target.expose_secret())
                .await
                .map(Some);
        }
        if kind == ChannelKind::Siem {
            return self
                .send_siem(&message, target.expose_secret())
                .await
                .map(|()| None);
        }
        let body = serde_json::to_vec(&render(kind, &message)).map_err(|e| e.to_string())?;
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
    /// of RFC 6587), `syslog+udp` (one datagram, RFC 5426) or `jsonl+tcp`
    /// (the ECS document and a newline). A connection per message: a
    /// collector that restarts loses nothing. No TLS yet.
    async fn send_siem(&self, m: &Message, url: &str) -> Result<(), String> {
        use tokio::io::AsyncWriteExt as _;
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
        let payload = match url.scheme() {
            "jsonl+tcp" => format!("{}\n", ecs(m)),
            "syslog+tcp" => {
                let line = syslog_5424(m, &host);
                format!("{} {line}", line.len())
            }
            "syslog+udp" => {
                let line = syslog_5424(m, &host);
                let socket = tokio::net::UdpSocket::bind(if addr.starts_with('[') {
                    "[::]:0"
                } else {
                    "0.0.0.0:0"
                })
                .await
                .map_err(|e| format!("no UDP socket: {e}"))?;
                tokio::time::timeout(limit, socket.send_to(line.as_bytes(), &addr))
                    .await
                    .map_err(|_| "the collector's address did not resolve in time".to_owned())?
                    .map_err(|e| format!("sending to the collector failed: {e}"))?;
                return Ok(());
            }
            _ => return Err("unknown SIEM transport".into()),
        };
        let mut stream = tokio::time::timeout(limit, tokio::net::TcpStream::connect(&addr))
            .await
            .map_err(|_| "the collector did not answer in time".to_owned())?
            .map_err(|_| "could not connect to the collector".to_owned())?;
        tokio::time::timeout(limit, async {
            stream.write_all(payload.as_bytes()).await?;
            stream.shutdown().await
        })
        .await
        .map_err(|_| "the collector did not take the message in time".to_owned())?
        .map_err(|e| format!("sending to the collector failed: {e}"))
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
