//! End to end, in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) drives the real `oauth-cockpit serve` against sfsim.
//! Each page visited is saved as a screenshot under
//! `target/e2e-screenshots/`.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};

mod common;
use common::{BIN, KEY};

const ADMIN: (&str, &str) = ("ada@example.com", "correct horse battery staple");
const VIEWER: (&str, &str) = ("vic@example.com", "purple elephant marmalade window");

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("e2e-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

fn cockpit(db: &str, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write as _;
    let mut child = Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", db)
        .env("COCKPIT_MASTER_KEY", KEY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "oauth-cockpit {args:?}: {text}");
    text
}

async fn wait_http(url: &str) {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered");
}

async fn browser(driver: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--window-size=1366,900"]
        }),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("chromedriver session")
}

async fn sign_in(c: &Client, base: &str, who: (&str, &str)) {
    c.goto(&format!("{base}/signin")).await.unwrap();
    c.find(Locator::Css("#email"))
        .await
        .unwrap()
        .send_keys(who.0)
        .await
        .unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(who.1)
        .await
        .unwrap();
    c.find(Locator::Css("form[action='/signin'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    if !wait_path(c, |p| !p.starts_with("/signin")).await {
        shot(c, "signin-failed").await;
        panic!("could not sign in as {}: {}", who.0, text(c, "main").await);
    }
    c.wait().for_element(Locator::Css("h1")).await.unwrap();
}

/// Waits (bounded) for the browser to land on a path that satisfies `ok`.
async fn wait_path(c: &Client, ok: impl Fn(&str) -> bool) -> bool {
    for _ in 0..100 {
        if ok(c.current_url().await.unwrap().path()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Fills in the reason on a confirmation page and submits it.
async fn submit_with_reason(c: &Client, reason: &str) {
    c.find(Locator::Css("textarea#reason"))
        .await
        .unwrap()
        .send_keys(reason)
        .await
        .unwrap();
    c.find(Locator::Css("form[action='/actions'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Reloads an action's page until it has finished.
async fn wait_for_action(c: &Client) -> String {
    for _ in 0..120 {
        let status = text(c, "h1 .badge").await;
        if !matches!(status.as_str(), "pending" | "running") {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.refresh().await.unwrap();
    }
    panic!("the action did not finish");
}

#[sqlx::test(migrations = false)]
async fn a_security_admin_revokes_and_blocks_in_a_real_browser(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = common::db_url(&opts);
    let org = common::SimOrg::start(3_000, 500, 20).await;
    let sim = &org.sim;
    let c = sim.credentials.clone();
    let key = org.key.clone();
    let db2 = db.clone();
    tokio::task::spawn_blocking(move || {
        cockpit(
            &db2,
            &[
                "org",
                "add",
                "--name",
                "Acme",
                "--login-url",
                &c.login_url,
                "--client-id",
                &c.client_id,
                "--jwt-key",
                key.to_str().unwrap(),
                "--username",
                &c.username,
            ],
            None,
        );
        cockpit(&db2, &["sync"], None);
        cockpit(
            &db2,
            &[
                "user",
                "add",
                "--email",
                ADMIN.0,
                "--role",
                "admin",
                "--password-stdin",
            ],
            Some(ADMIN.1),
        );
        cockpit(
            &db2,
            &[
                "user",
                "add",
                "--email",
                VIEWER.0,
                "--role",
                "viewer",
                "--password-stdin",
            ],
            Some(VIEWER.1),
        );
    })
    .await
    .unwrap();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = Killed(
        Command::new(BIN)
            .arg("serve")
            .env("DATABASE_URL", &db)
            .env("COCKPIT_MASTER_KEY", KEY)
            .env("COCKPIT_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let driver_port = free_port();
    let _driver = Killed(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium chromium-driver)"),
    );
    wait_http(&format!("{base}/healthz")).await;
    let driver = format!("http://127.0.0.1:{driver_port}");
    wait_http(&format!("{driver}/status")).await;
    let b = browser(&driver).await;

    // Sign in.
    b.goto(&base).await.unwrap();
    assert!(
        b.current_url().await.unwrap().path().starts_with("/signin"),
        "anonymous people are sent to sign in"
    );
    shot(&b, "01-signin").await;
    sign_in(&b, &base, ADMIN).await;
    shot(&b, "02-overview").await;

    // Find the stalest app (the stale-authorizations report lists the
    // longest-unused first) and open it.
    b.goto(&format!("{base}/apps")).await.unwrap();
    shot(&b, "03-apps").await;
    b.goto(&format!("{base}/reports/stale")).await.unwrap();
    shot(&b, "03b-stale-report").await;
    b.find(Locator::Css("table.grid tbody tr td.app a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::Css("section.actions"))
        .await
        .unwrap();
    let app_url = b.current_url().await.unwrap();
    let app_name = text(&b, "h1").await;
    shot(&b, "04-app-detail").await;

    // Revoke one user's authorization, with a reason.
    let revoke = b
        .find(Locator::Css("a[data-action=revoke_token]"))
        .await
        .unwrap();
    let href = revoke.attr("href").await.unwrap().unwrap();
    let token_id = url::Url::parse(&format!("{base}{href}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(sim.sim.refresh_token_of(&token_id).is_some());
    revoke.click().await.unwrap();
    b.wait()
        .for_element(Locator::Css("textarea#reason"))
        .await
        .unwrap();
    shot(&b, "05-confirm-revoke").await;
    submit_with_reason(&b, "INC-42: token replayed from an unknown IP").await;
    if b.wait()
        .for_element(Locator::Css("#count-revoked"))
        .await
        .is_err()
    {
        shot(&b, "05-error").await;
        panic!("no action page after submit: {}", text(&b, "main").await);
    }
    assert_eq!(wait_for_action(&b).await, "succeeded");
    assert_eq!(text(&b, "#count-revoked").await, "1");
    shot(&b, "06-revoke-confirmed").await;
    assert!(
        sim.sim.refresh_token_of(&token_id).is_none(),
        "the token is gone in sfsim"
    );

    // The audit history shows it.
    b.goto(&format!("{base}/audit")).await.unwrap();
    let audit = text(&b, "main").await;
    assert!(
        audit.contains("action.completed") && audit.contains("INC-42: token replayed"),
        "{audit}"
    );
    shot(&b, "07-audit").await;

    // Block the app: every token gone, new authorizations refused by sfsim.
    b.goto(app_url.as_str()).await.unwrap();
    b.find(Locator::Css("a[data-action=block_app]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(wait_path(&b, |p| p == "/actions/new" || p == "/reauth").await);
    if b.current_url().await.unwrap().path() == "/reauth" {
        b.find(Locator::Css("#password"))
            .await
            .unwrap()
            .send_keys(ADMIN.1)
            .await
            .unwrap();
        b.find(Locator::Css("form[action='/reauth'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    b.wait()
        .for_element(Locator::Css("textarea#reason"))
        .await
        .unwrap();
    let warning = text(&b, "main").await;
    assert!(
        warning.contains("immediate and affects everyone"),
        "{warning}"
    );
    shot(&b, "08-confirm-block").await;
    submit_with_reason(&b, "Vendor breach: block until rotated").await;
    b.wait()
        .for_element(Locator::Css("#count-revoked"))
        .await
        .unwrap();
    assert_eq!(wait_for_action(&b).await, "succeeded");
    shot(&b, "09-block-confirmed").await;
    assert_eq!(
        sim.sim.tokens_for_app(&app_name),
        0,
        "blocking removed every token of {app_name}"
    );
    let (client_id, secret) = sim
        .sim
        .app_credentials(&app_name)
        .expect("sfsim knows the blocked app");
    let res = reqwest::Client::new()
        .post(format!("{}/services/oauth2/token", sim.base_url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    let body = res.text().await.unwrap();
    assert!(
        body.contains("app_blocked"),
        "new authorizations are refused: {body}"
    );
    b.find(Locator::Css("form[action='/signout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        wait_path(&b, |p| p.starts_with("/signin")).await,
        "signed out"
    );

    // A viewer sees no action buttons and cannot post them.
    sign_in(&b, &base, VIEWER).await;
    b.goto(app_url.as_str()).await.unwrap();
    b.wait()
        .for_element(Locator::Css("section.actions"))
        .await
        .unwrap();
    assert!(
        b.find_all(Locator::Css(
            "section.actions a, section.actions button, a[data-action]"
        ))
        .await
        .unwrap()
        .is_empty()
    );
    shot(&b, "10-viewer-app-detail").await;
    let csrf = b
        .find(Locator::Css("form[action='/signout'] input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    let cookie = b
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name().contains("cockpit_session"))
        .unwrap();
    let org = app_url
        .query_pairs()
        .find(|(k, _)| k == "org")
        .map(|(_, v)| v.into_owned());
    let res = reqwest::Client::new()
        .post(format!("{base}/actions"))
        .header("cookie", format!("{}={}", cookie.name(), cookie.value()))
        .header("origin", &base)
        .form(&[
            ("csrf", csrf.as_str()),
            (
                "org",
                org.as_deref()
                    .unwrap_or("00000000-0000-0000-0000-000000000000"),
            ),
            ("kind", "revoke_token"),
            ("token", "0CQ000000000001AAA"),
            ("reason", "viewer tries"),
            ("idempotency_key", "viewer-attempt-123456"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        matches!(res.status().as_u16(), 403 | 404),
        "a viewer cannot act: {}",
        res.status()
    );
    b.close().await.unwrap();
}
