//! Notifications against a real HTTP receiver on loopback: what a sync of
//! sfsim finds reaches a signed webhook; a receiver that is down, then up,
//! gets everything, each message under one event id; a delivery that
//! failed for good is sent again by hand.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use cockpit_db::notify::{NewChannel, Notice, emit};
use cockpit_domain::{
    notify::{ChannelKind, EventKind, Severity, seal_channel, sign},
    secret::{Keyring, MasterKey},
};
use cockpit_worker::{
    deliver::{Deliverer, DeliverySettings},
    testing::smtp_server,
};
use sfsim::SimConfig;
use sqlx::PgPool;
use uuid::Uuid;

mod common;

/// One request the receiver took.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: i64,
    signature: Option<String>,
    body: Vec<u8>,
}

/// A webhook receiver: answers 503 to the next `fail_next` requests, or to
/// every request while `fail_all`, else 200; keeps what it was sent (the
/// failed requests too).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    fail_next: Arc<AtomicUsize>,
    fail_all: Arc<AtomicBool>,
}

impl Receiver {
    async fn serve_on(&self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/hook", post(take))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn take(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    r.got.lock().unwrap().push(Received {
        id: h("webhook-id").unwrap_or_default(),
        timestamp: h("webhook-timestamp")
            .and_then(|t| t.parse().ok())
            .unwrap_or_default(),
        signature: h("webhook-signature"),
        body: body.to_vec(),
    });
    let failing = r.fail_all.load(Ordering::SeqCst)
        || r.fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    if failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

fn keyring() -> Arc<Keyring> {
    Arc::new(Keyring::new(MasterKey::from_bytes([5; 32]), vec![]))
}

/// A channel of `kind` named `name` to `url`, taking `events` (none: every
/// one); email channels send from cockpit@acme.example to `to`. Its
/// signing secret, for a webhook.
async fn channel(
    pool: &PgPool,
    keyring: &Keyring,
    (name, kind, url): (&str, ChannelKind, &str),
    events: &[EventKind],
    to: &[String],
) -> Option<String> {
    let id = Uuid::new_v4();
    let url = url::Url::parse(url).unwrap();
    let sealed = seal_channel(keyring, id, kind, &url);
    let created = cockpit_db::notify::create_channel(
        pool,
        "user:ada@example.com",
        &NewChannel {
            id,
            name,
            kind,
            target_sealed: &sealed.target,
            target_hint: url.as_str(),
            secret_sealed: sealed.secret_sealed.as_deref(),
            email_from: (kind == ChannelKind::Email).then_some("cockpit@acme.example"),
            email_to: to,
            events,
            orgs: None,
            min_severity: Severity::Info,
            audit: kind == ChannelKind::Siem,
            digest: None,
        },
    )
    .await
    .unwrap();
    assert!(created);
    sealed.secret
}

/// A webhook channel to `addr`, taking every event; its signing secret.
async fn webhook(pool: &PgPool, keyring: &Keyring, addr: SocketAddr) -> String {
    let url = format!("http://{addr}/hook");
    channel(pool, keyring, ("SOC", ChannelKind::Webhook, &url), &[], &[])
        .await
        .unwrap()
}

fn fast() -> DeliverySettings {
    DeliverySettings {
        base: Duration::from_millis(5),
        cap: Duration::from_millis(20),
        public_url: Some("https://cockpit.example".into()),
        ..DeliverySettings::default()
    }
}

async fn count(pool: &PgPool, status: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = $1")
        .bind(status)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Works the outbox until nothing is pending (bounded: a delivery that
/// never succeeds fails the test's assertion instead of hanging it).
async fn drain(pool: &PgPool, d: &Deliverer) {
    for _ in 0..2_000 {
        if count(pool, "pending").await == 0 {
            return;
        }
        d.run_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn check_signature(r: &Received, secret: &str) -> serde_json::Value {
    assert_eq!(
        r.signature.as_deref(),
        Some(sign(secret, &r.id, r.timestamp, &r.body).as_str()),
        "every request is signed"
    );
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body["id"],
        r.id.as_str(),
        "the header's id is the payload's"
    );
    body
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_receiver_down_then_up_gets_everything(pool: PgPool) {
    let keyring = keyring();
    // A port nobody listens on yet: the receiver is down.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let secret = webhook(&pool, &keyring, addr).await;
    let mut sent = Vec::new();
    for i in 0..40 {
        let mut tx = pool.begin().await.unwrap();
        let id = emit(
            &mut tx,
            &Notice::new(EventKind::AppNew, None, format!("New app <{i}>"))
                .detail(serde_json::json!({ "n": i })),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        sent.push(id);
    }
    // A notification whose transaction rolled back is never sent.
    let mut tx = pool.begin().await.unwrap();
    emit(
        &mut tx,
        &Notice::new(EventKind::AppNew, None, "rolled back"),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();

    let d = Deliverer::new(pool.clone(), keyring.clone(), fast()).unwrap();
    for _ in 0..3 {
        d.run_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(count(&pool, "pending").await, 40, "nothing lost while down");
    let errors: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT last_error FROM deliveries WHERE attempts > 0")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(errors, ["could not connect to the receiver"]);

    // Up again, answering 503 to its first few requests.
    let receiver = Receiver::default();
    receiver.fail_next.store(7, Ordering::SeqCst);
    receiver
        .serve_on(tokio::net::TcpListener::bind(addr).await.unwrap())
        .await;
    drain(&pool, &d).await;
    assert_eq!(count(&pool, "delivered").await, 40);
    let got = receiver.got();
    let event_ids: Vec<String> = sqlx::query_scalar(
        "SELECT event_id::text FROM notifications WHERE id = ANY($1) ORDER BY id",
    )
    .bind(&sent)
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut seen: Vec<String> = got.iter().map(|r| r.id.clone()).collect();
    seen.sort();
    let retried = seen.len() - {
        seen.dedup();
        seen.len()
    };
    let mut expected = event_ids.clone();
    expected.sort();
    assert_eq!(seen, expected, "every event, and only these, arrived");
    assert_eq!(retried, 7, "the refused requests came again with their ids");
    for r in &got {
        let body = check_signature(r, &secret);
        assert_eq!(body["type"], "app.new");
        assert!(body["title"].as_str().unwrap().starts_with("New app <"));
    }
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn an_email_channel_sends_plain_text_and_escaped_html(pool: PgPool) {
    let keyring = keyring();
    let (addr, mails) = smtp_server().await;
    let to = [
        "soc@acme.example".to_owned(),
        "oncall@acme.example".to_owned(),
    ];
    let url = format!("smtp://{addr}");
    channel(
        &pool,
        &keyring,
        ("SOC mail", ChannelKind::Email, &url),
        &[EventKind::LeaverWithTokens],
        &to,
    )
    .await;
    let mut tx = pool.begin().await.unwrap();
    let sent = emit(
        &mut tx,
        &Notice::new(
            EventKind::LeaverWithTokens,
            None,
            "eve<img src=x onerror=alert(1)>@acme.example left but still holds 3 authorizations\r\nBcc: x@evil.example",
        )
        .detail(serde_json::json!({ "user": "<script>alert(1)</script>", "authorizations": 3 })),
    )
    .await
    .unwrap();
    // Not a kind the channel takes: not sent.
    emit(&mut tx, &Notice::new(EventKind::AppNew, None, "New app"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let d = Deliverer::new(pool.clone(), keyring.clone(), fast()).unwrap();
    drain(&pool, &d).await;
    let errors: Vec<Option<String>> = sqlx::query_scalar("SELECT last_error FROM deliveries")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(count(&pool, "delivered").await, 1, "{errors:?}");
    let mails = mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    let (rcpt, data) = &mails[0];
    assert_eq!(rcpt, &to);
    let event: String =
        sqlx::query_scalar("SELECT event_id::text FROM notifications WHERE id = $1")
            .bind(sent)
            .fetch_one(&pool)
            .await
            .unwrap();
    // Quoted-printable soft breaks and `=` undone, if the library chose it.
    let plain = data.replace("=\n", "").replace("=3D", "=");
    assert!(
        plain.contains(&format!("Message-ID: <{event}@oauth-cockpit>")),
        "{data}"
    );
    assert!(plain.contains("multipart/alternative"), "{data}");
    assert!(
        plain.contains("Subject: [OAuth Cockpit] [high] eve"),
        "{data}"
    );
    let headers = &plain[..plain.find("\n\n").unwrap()];
    assert!(
        !headers.lines().any(|l| l.starts_with("Bcc:")),
        "no header smuggled in: {headers}"
    );
    assert!(
        plain.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{data}"
    );
    let html = &plain[plain.find("text/html").expect("an HTML part")..];
    assert!(
        !html.contains("<script>") && !html.contains("<img"),
        "{html}"
    );
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_siem_gets_syslog_over_tcp_and_udp_and_json_lines(pool: PgPool) {
    use tokio::io::AsyncReadExt as _;
    let keyring = keyring();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jsonl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for (name, url) in [
        (
            "syslog tcp",
            format!("syslog+tcp://{}", tcp.local_addr().unwrap()),
        ),
        (
            "syslog udp",
            format!("syslog+udp://{}", udp.local_addr().unwrap()),
        ),
        (
            "json lines",
            format!("jsonl+tcp://{}", jsonl.local_addr().unwrap()),
        ),
    ] {
        channel(&pool, &keyring, (name, ChannelKind::Siem, &url), &[], &[]).await;
    }
    let mut tx = pool.begin().await.unwrap();
    let mut n = Notice::new(
        EventKind::IndicatorHit,
        None,
        "Published indicators matched calls of Drift\nsecond line",
    );
    n = n.detail(serde_json::json!({ "app": "Drift", "indicators": ["208.68.36.90"] }));
    emit(&mut tx, &n).await.unwrap();
    tx.commit().await.unwrap();
    let read_all = |l: tokio::net::TcpListener| async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        text
    };
    let d = Deliverer::new(pool.clone(), keyring.clone(), fast()).unwrap();
    let (framed, lines, _) = tokio::join!(read_all(tcp), read_all(jsonl), drain(&pool, &d));
    assert_eq!(count(&pool, "delivered").await, 3);
    // Octet counting: the length, a space, the message.
    let (len, message) = framed.split_once(' ').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), message.len());
    assert!(
        message.starts_with("<82>1 ")
            && message.contains(" cockpit.example oauth-cockpit - indicator.hit - {"),
        "{message}"
    );
    let mut datagram = vec![0u8; 65_536];
    let got = udp.recv(&mut datagram).await.unwrap();
    let datagram = String::from_utf8(datagram[..got].to_vec()).unwrap();
    assert_eq!(datagram, message, "the same message by UDP");
    let doc: serde_json::Value =
        serde_json::from_str(message.splitn(8, ' ').nth(7).unwrap()).unwrap();
    assert_eq!(doc["event"]["kind"], "alert");
    assert_eq!(doc["event"]["action"], "indicator.hit");
    assert_eq!(doc["event"]["severity"], 5);
    assert_eq!(doc["oauth_cockpit"]["app"], "Drift");
    assert_eq!(lines.lines().count(), 1, "one JSON line: {lines}");
    let line: serde_json::Value = serde_json::from_str(lines.trim_end()).unwrap();
    assert_eq!(line, doc);
}

/// A test certificate authority and a collector's certificate for
/// `localhost` signed by it: the CA's PEM, the collector's TLS settings.
fn collector_tls() -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Test SIEM CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca, &ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    (ca_cert.pem(), Arc::new(server))
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_siem_gets_syslog_over_tls_from_a_collector_it_trusts_only(pool: PgPool) {
    use tokio::io::AsyncReadExt as _;
    let keyring = keyring();
    let (ca_pem, server) = collector_tls();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    let collected = Arc::new(Mutex::new(Vec::<String>::new()));
    let got = collected.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let got = got.clone();
            tokio::spawn(async move {
                // A client that does not trust us fails the handshake.
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut text = String::new();
                    if tls.read_to_string(&mut text).await.is_ok() {
                        got.lock().unwrap().push(text);
                    }
                }
            });
        }
    });
    let url = format!("syslog+tls://localhost:{port}");
    channel(
        &pool,
        &keyring,
        ("SIEM over TLS", ChannelKind::Siem, &url),
        &[],
        &[],
    )
    .await;
    notify(
        &pool,
        Notice::new(EventKind::SyncFailing, None, "Sync failing"),
    )
    .await;

    // The system's trust store does not know the test CA: refused, and
    // tried again later.
    let untrusting = Deliverer::new(pool.clone(), keyring.clone(), fast()).unwrap();
    untrusting.run_once().await.unwrap();
    assert_eq!(count(&pool, "pending").await, 1);
    let error: Option<String> = sqlx::query_scalar("SELECT last_error FROM deliveries")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(error.unwrap().contains("TLS"), "the log says why");
    assert!(collected.lock().unwrap().is_empty());

    // With the collector's CA (COCKPIT_SIEM_CA_FILE), it arrives.
    let ca_file = tempfile_with(&ca_pem);
    let roots = cockpit_worker::deliver::load_roots(ca_file.path()).unwrap();
    let trusting = Deliverer::new(
        pool.clone(),
        keyring.clone(),
        DeliverySettings {
            siem_roots: roots,
            base: Duration::ZERO,
            cap: Duration::ZERO,
            ..fast()
        },
    )
    .unwrap();
    drain(&pool, &trusting).await;
    assert_eq!(count(&pool, "delivered").await, 1);
    let got = collected.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (len, message) = got[0].split_once(' ').unwrap();
    assert_eq!(
        len.parse::<usize>().unwrap(),
        message.len(),
        "octet counting, RFC 5425"
    );
    assert!(
        message.contains(" oauth-cockpit - sync.failing - {"),
        "{message}"
    );
    assert!(
        cockpit_worker::deliver::load_roots(tempfile_with("not a certificate").path()).is_err()
    );
}

/// A file holding `text`, removed when dropped.
fn tempfile_with(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_dead_delivery_is_sent_again_with_its_event_id(pool: PgPool) {
    let keyring = keyring();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = Receiver::default();
    receiver.fail_all.store(true, Ordering::SeqCst);
    receiver.serve_on(listener).await;
    webhook(&pool, &keyring, addr).await;
    notify(
        &pool,
        Notice::new(EventKind::SyncFailing, None, "Sync failing"),
    )
    .await;
    let giving_up = Deliverer::new(
        pool.clone(),
        keyring.clone(),
        DeliverySettings {
            give_up_after: Duration::ZERO,
            ..fast()
        },
    )
    .unwrap();
    giving_up.run_once().await.unwrap();
    assert_eq!(count(&pool, "dead").await, 1);
    let (id, code): (i64, Option<i32>) =
        sqlx::query_as("SELECT id, last_code FROM deliveries WHERE status = 'dead'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(code, Some(503));

    receiver.fail_all.store(false, Ordering::SeqCst);
    assert!(
        cockpit_db::notify::resend(&pool, "user:ada@example.com", id)
            .await
            .unwrap()
    );
    assert!(
        !cockpit_db::notify::resend(&pool, "user:ada@example.com", id)
            .await
            .unwrap(),
        "only a dead delivery is sent again"
    );
    let d = Deliverer::new(pool.clone(), keyring.clone(), fast()).unwrap();
    drain(&pool, &d).await;
    assert_eq!(count(&pool, "delivered").await, 1);
    let got = receiver.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, got[1].id, "the same event id on every attempt");
    let audited: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE action = 'delivery.resent'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(audited.len(), 1);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn what_a_sync_finds_reaches_the_webhook(pool: PgPool) {
    let s = common::synced_sim_org(
        &pool,
        SimConfig {
            tokens: 2_000,
            users: 300,
            apps: 12,
            ..SimConfig::default()
        },
        5,
    )
    .await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "an org's first sync finds every app: nothing to tell");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = Receiver::default();
    receiver.serve_on(listener).await;
    let secret = webhook(&pool, &s.keyring, addr).await;

    // The cockpit revokes one person's authorizations of an app; the person
    // authorizes it again.
    let (app_key, app_name, user_id, username) = common::busy_app(&pool, s.org).await;
    let req = cockpit_db::actions::request(
        &pool,
        &cockpit_db::actions::NewAction {
            org_id: s.org,
            kind: cockpit_db::actions::ActionKind::RevokeUserApp,
            app_key: Some(&app_key),
            user_id: Some(&user_id),
            token_ids: &[],
            idle_days: None,
            requested_by: "user:ada@example.com",
            reason: "left the project",
            idempotency_key: "notify-1",
        },
    )
    .await
    .unwrap()
    .unwrap();
    cockpit_worker::actions::execute(&pool, s.keyring.clone(), req.id)
        .await
        .unwrap();
    s.sim.sim.grant(&app_name, &username).unwrap();
    // The busy app is in the inventory: it grows, but no one is told.
    sqlx::query("INSERT INTO inventory (name, status, updated_by) VALUES ($1, 'approved', 'test')")
        .bind(&app_name)
        .execute(&pool)
        .await
        .unwrap();
    // A small app outside the inventory reaches 10 people: the people
    // missing authorize it now.
    let (small, small_key, held): (String, String, i64) = sqlx::query_as(
        "SELECT a.name, a.app_key, s.users FROM app_summary s
         JOIN sf_apps a ON a.org_id = s.org_id AND a.app_key = s.app_key
         WHERE s.org_id = $1 AND s.users < 10 AND a.name <> $2 AND a.gone_at IS NULL
         ORDER BY s.users DESC, a.name LIMIT 1",
    )
    .bind(s.org)
    .bind(&app_name)
    .fetch_one(&pool)
    .await
    .unwrap();
    let newcomers: Vec<String> = sqlx::query_scalar(
        "SELECT u.username FROM sf_users u
         WHERE u.org_id = $1 AND u.is_active
           AND NOT EXISTS (SELECT 1 FROM sf_tokens t WHERE t.org_id = u.org_id AND t.user_id = u.id
                             AND t.app_key = $2 AND t.gone_at IS NULL)
         ORDER BY u.username LIMIT $3",
    )
    .bind(s.org)
    .bind(&small_key)
    .bind(10 - held)
    .fetch_all(&pool)
    .await
    .unwrap();
    for u in &newcomers {
        s.sim.sim.grant(&small, u).unwrap();
    }
    // People come and go, new apps appear.
    s.sim.sim.simulate_activity(400);
    cockpit_worker::sync::sync_org(&pool, s.keyring.clone(), s.org, "cli", &Default::default())
        .await
        .unwrap();

    let d = Deliverer::new(pool.clone(), s.keyring.clone(), fast()).unwrap();
    drain(&pool, &d).await;
    let bodies: Vec<serde_json::Value> = receiver
        .got()
        .iter()
        .map(|r| check_signature(r, &secret))
        .collect();
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        bodies.iter().filter(|b| b["type"] == kind).collect()
    };
    let again = of("app.reauthorized");
    assert_eq!(again.len(), 1, "{bodies:#?}");
    assert_eq!(again[0]["data"]["app"], app_name.as_str());
    assert!(
        again[0]["data"]["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u == username.as_str())
    );
    assert_eq!(again[0]["org"]["name"], "Acme");
    assert!(
        again[0]["link"]
            .as_str()
            .unwrap()
            .starts_with("https://cockpit.example/apps/")
    );
    // Each leaver named holds live tokens in the cockpit's snapshot.
    let leavers = of("user.leaver_with_tokens");
    assert!(!leavers.is_empty(), "{bodies:#?}");
    for l in &leavers {
        let held: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sf_tokens t JOIN sf_users u ON u.org_id = t.org_id AND u.id = t.user_id
             WHERE t.org_id = $1 AND u.username = $2 AND t.gone_at IS NULL AND NOT u.is_active",
        )
        .bind(s.org)
        .bind(l["data"]["user"].as_str().unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(l["data"]["authorizations"], held);
    }
    let new_apps = of("app.new");
    assert!(!new_apps.is_empty(), "{bodies:#?}");
    for a in &new_apps {
        assert!(
            a["data"]["app"]
                .as_str()
                .unwrap()
                .starts_with("Shadow IT App")
        );
    }
    // Apps outside the inventory that grew while held by 10 people or more,
    // each once, with the figures of the cockpit's snapshot.
    let spreading = of("app.outside_inventory");
    assert!(
        spreading.iter().any(|a| a["data"]["app"] == small.as_str()),
        "{small} reached 10 people: {bodies:#?}"
    );
    let mut named = std::collections::BTreeSet::new();
    for a in &spreading {
        let name = a["data"]["app"].as_str().unwrap();
        assert_ne!(name, app_name, "the inventory's app is not reported");
        assert!(named.insert(name.to_owned()), "{name} reported twice");
        let people: i64 = sqlx::query_scalar(
            "SELECT s.users FROM app_summary s JOIN sf_apps a ON a.org_id = s.org_id AND a.app_key = s.app_key
             WHERE s.org_id = $1 AND a.app_key = $2",
        )
        .bind(s.org)
        .bind(a["data"]["app_key"].as_str().unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(a["data"]["people"], people);
        let threshold = cockpit_domain::notify::OUTSIDE_INVENTORY_PEOPLE;
        let new_people = a["data"]["new_people"].as_i64().unwrap();
        assert!(
            people >= threshold && people - new_people < threshold,
            "{a}"
        );
    }
    // No secret of the org in any message.
    let all =
        String::from_utf8(receiver.got().iter().flat_map(|r| r.body.clone()).collect()).unwrap();
    assert!(!all.contains(&s.sim.credentials.client_secret));
    assert!(!all.contains("whsec_"));
    // Told once: a second sync with nothing new sends nothing more.
    let before = receiver.got().len();
    cockpit_worker::sync::sync_org(&pool, s.keyring.clone(), s.org, "cli", &Default::default())
        .await
        .unwrap();
    drain(&pool, &d).await;
    assert_eq!(receiver.got().len(), before);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn notifications_past_retention_go_unless_still_being_tried(pool: PgPool) {
    let keyring = keyring();
    webhook(&pool, &keyring, "127.0.0.1:9".parse().unwrap()).await;
    let mut ids = Vec::new();
    for title in [
        "old and delivered",
        "old and dead",
        "old and pending",
        "recent",
    ] {
        let mut tx = pool.begin().await.unwrap();
        ids.push(
            emit(&mut tx, &Notice::new(EventKind::AppNew, None, title))
                .await
                .unwrap(),
        );
        tx.commit().await.unwrap();
    }
    for (id, status, age) in [
        (ids[0], "delivered", 100),
        (ids[1], "dead", 100),
        (ids[2], "pending", 100),
        (ids[3], "delivered", 10),
    ] {
        sqlx::query(
            "UPDATE notifications SET created_at = now() - make_interval(days => $2) WHERE id = $1",
        )
        .bind(id)
        .bind(age)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("UPDATE deliveries SET status = $2 WHERE notification_id = $1")
            .bind(id)
            .bind(status)
            .execute(&pool)
            .await
            .unwrap();
    }
    assert_eq!(cockpit_db::notify::prune(&pool, 90).await.unwrap(), 2);
    let left: Vec<String> = sqlx::query_scalar("SELECT title FROM notifications ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, ["old and pending", "recent"]);
    let deliveries: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        deliveries, 2,
        "the removed notifications' deliveries went with them"
    );
    assert_eq!(cockpit_db::notify::prune(&pool, 90).await.unwrap(), 0);
}

/// Writes one notification in a transaction of its own.
async fn notify(pool: &PgPool, n: Notice) {
    let mut tx = pool.begin().await.unwrap();
    emit(&mut tx, &n).await.unwrap();
    tx.commit().await.unwrap();
}

/// What the next connection to `l` sends, whole; a test that expected a
/// connection and got none fails instead of waiting forever.
async fn read_one(l: &tokio::net::TcpListener) -> String {
    use tokio::io::AsyncReadExt as _;
    let (mut s, _) = tokio::time::timeout(Duration::from_secs(60), l.accept())
        .await
        .expect("the collector was called")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    text
}

/// Appends an audit entry by `actor`.
async fn audited(pool: &PgPool, actor: &str) {
    let mut tx = pool.begin().await.unwrap();
    cockpit_db::audit::append(
        &mut tx,
        &cockpit_db::audit::NewEntry {
            actor,
            action: "signin",
            org_id: None,
            target: serde_json::json!({ "account": "<script>x</script>" }),
            reason: None,
            outcome: Some("succeeded"),
            detail: serde_json::json!({}),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_siem_takes_the_audit_log_in_order_and_nothing_is_lost_while_it_is_down(pool: PgPool) {
    let keyring = keyring();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("jsonl+tcp://{addr}");
    // The channel's own creation is the first entry.
    channel(&pool, &keyring, ("SIEM", ChannelKind::Siem, &url), &[], &[]).await;
    audited(&pool, "user:ada@example.com").await;
    // No pause before trying a failed collector again: the test decides
    // when it is back.
    let d = Deliverer::new(
        pool.clone(),
        keyring.clone(),
        DeliverySettings {
            base: Duration::ZERO,
            cap: Duration::ZERO,
            ..fast()
        },
    )
    .unwrap();
    let (text, sent) = tokio::join!(read_one(&listener), d.stream_audit());
    assert_eq!(sent.unwrap(), 2);
    let docs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["event"]["action"], "channel.created");
    assert_eq!(docs[1]["event"]["action"], "signin");
    assert_eq!(docs[1]["event"]["dataset"], "oauth_cockpit.audit");
    assert_eq!(docs[1]["event"]["outcome"], "success");
    assert_eq!(docs[1]["user"]["name"], "user:ada@example.com");
    assert_eq!(
        docs[1]["oauth_cockpit"]["audit"]["target"]["account"], "<script>x</script>",
        "names travel as data"
    );
    let seqs: Vec<i64> = docs
        .iter()
        .map(|d| d["event"]["sequence"].as_i64().unwrap())
        .collect();
    assert!(seqs[0] < seqs[1]);
    let hash: String =
        sqlx::query_scalar("SELECT encode(hash, 'hex') FROM audit_log WHERE seq = $1")
            .bind(seqs[1])
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        docs[1]["event"]["id"], hash,
        "the chain hash is the event id"
    );
    // Nothing new: nothing sent.
    assert_eq!(d.stream_audit().await.unwrap(), 0);

    // The collector goes away; entries keep coming.
    drop(listener);
    audited(&pool, "user:bob@example.com").await;
    audited(&pool, "user:cy@example.com").await;
    assert_eq!(d.stream_audit().await.unwrap(), 0);
    let (after, error): (Option<i64>, Option<String>) =
        sqlx::query_as("SELECT audit_after, audit_error FROM channels")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(after, Some(seqs[1]), "the place is kept");
    assert!(error.unwrap().contains("connect"));

    // It is back: the two it missed, in order, and the error is cleared.
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (text, sent) = tokio::join!(read_one(&listener), d.stream_audit());
    assert_eq!(sent.unwrap(), 2);
    let actors: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["user"]["name"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(actors, ["user:bob@example.com", "user:cy@example.com"]);
    let error: Option<String> = sqlx::query_scalar("SELECT audit_error FROM channels")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(error, None);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn noisy_events_wait_for_the_hourly_digest_and_urgent_ones_do_not(pool: PgPool) {
    let keyring = keyring();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = Receiver::default();
    receiver.serve_on(listener).await;
    let id = Uuid::new_v4();
    let url = url::Url::parse(&format!("http://{addr}/hook")).unwrap();
    let sealed = seal_channel(&keyring, id, ChannelKind::Webhook, &url);
    assert!(
        cockpit_db::notify::create_channel(
            &pool,
            "user:ada@example.com",
            &NewChannel {
                id,
                name: "SOC digest",
                kind: ChannelKind::Webhook,
                target_sealed: &sealed.target,
                target_hint: url.as_str(),
                secret_sealed: sealed.secret_sealed.as_deref(),
                email_from: None,
                email_to: &[],
                events: &[],
                orgs: None,
                min_severity: Severity::Info,
                audit: false,
                digest: Some("hourly"),
            },
        )
        .await
        .unwrap()
    );
    for app in ["Shadow One", "Shadow Two", "Shadow Three"] {
        notify(
            &pool,
            Notice::new(EventKind::AppNew, None, format!("New app: {app}")),
        )
        .await;
    }
    notify(
        &pool,
        Notice::new(
            EventKind::LeaverWithTokens,
            None,
            "bob left but still holds 3",
        ),
    )
    .await;
    notify(
        &pool,
        Notice::new(EventKind::IndicatorHit, None, "Indicators matched Drift"),
    )
    .await;
    let d = Deliverer::new(pool.clone(), keyring.clone(), fast()).unwrap();
    drain(&pool, &d).await;
    // The hit went at once; the noisy ones wait.
    let types = |r: &Receiver| -> Vec<String> {
        r.got()
            .iter()
            .map(|m| {
                let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
                v["type"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    assert_eq!(types(&receiver), ["indicator.hit"]);
    assert_eq!(count(&pool, "held").await, 4);
    // Not an hour yet: no digest.
    assert_eq!(cockpit_db::notify::make_digests(&pool).await.unwrap(), 0);
    sqlx::query("UPDATE channels SET digest_sent_at = now() - interval '61 minutes'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(cockpit_db::notify::make_digests(&pool).await.unwrap(), 1);
    assert_eq!(
        cockpit_db::notify::make_digests(&pool).await.unwrap(),
        0,
        "one digest per period"
    );
    drain(&pool, &d).await;
    assert_eq!(types(&receiver), ["indicator.hit", "digest"]);
    let digest: serde_json::Value = serde_json::from_slice(&receiver.got()[1].body).unwrap();
    assert_eq!(digest["title"], "4 events in the last hour");
    assert_eq!(digest["data"]["events"], 4);
    assert_eq!(digest["data"]["New app in an org"], 3);
    assert_eq!(digest["data"]["Leaver still holding tokens"], 1);
    assert_eq!(digest["data"]["first"][0], "New app: Shadow One");
    assert_eq!(count(&pool, "held").await, 0);
    assert_eq!(count(&pool, "digested").await, 4);
    // Nothing held: no empty digest, however long it has been.
    sqlx::query("UPDATE channels SET digest_sent_at = now() - interval '2 hours'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(cockpit_db::notify::make_digests(&pool).await.unwrap(), 0);
}
