//! Shared by the browser tests: the real `oauth-cockpit serve` and a
//! headless Chromium (Debian's `chromium` and `chromium-driver`) driving it,
//! screenshots under `target/e2e-screenshots/`, and the steps every test
//! takes (sign in, confirm the password, wait for an action).

// A skipped test says so on stderr directly: the harness hides what
// `eprintln!` prints in a test that passes.
use std::io::Write as _;
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};

use super::{BIN, KEY, SimOrg};

pub const ADMIN: (&str, &str) = ("ada@example.com", "correct horse battery staple");
pub const VIEWER: (&str, &str) = ("vic@example.com", "purple elephant marmalade window");

/// A child process killed when the test ends, however it ends.
pub struct Killed(pub Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether a program is on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Whether the browser tests can run: Chromium and its driver are installed.
/// Without them a test says so in one line and passes, unless the whole
/// suite was asked for (`COCKPIT_TEST_ALL=1`, as `scripts/test` sets), where
/// a missing tool fails it.
pub fn browser_here(test: &str) -> bool {
    if on_path("chromium") && on_path("chromedriver") {
        return true;
    }
    let hint = "needs chromium and chromedriver (apt-get install chromium chromium-driver)";
    assert!(
        std::env::var_os("COCKPIT_TEST_ALL").is_none(),
        "{test} {hint}"
    );
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: it {hint}; scripts/test installs them and runs it"
    );
    false
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Two consecutive free ports, for the demo's two simulated orgs.
pub fn free_pair() -> u16 {
    loop {
        let p = free_port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("e2e-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

/// Runs the binary to the end (in a blocking thread's caller) and returns
/// what it printed; fails the test if it failed.
pub fn cockpit(db: &str, args: &[&str], stdin: Option<&str>) -> String {
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
    let text = super::text(&out);
    assert!(out.status.success(), "oauth-cockpit {args:?}: {text}");
    text
}

/// Adds the simulated org as "Acme", syncs it, and adds the password
/// accounts `people` (email, password, role).
pub async fn seed(db: &str, org: &SimOrg, people: &[((&str, &str), &str)]) {
    let db = db.to_owned();
    let add = org.org_add("Acme");
    let people: Vec<(String, String, String)> = people
        .iter()
        .map(|((e, p), r)| (e.to_string(), p.to_string(), r.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        cockpit(&db, &super::strs(&add), None);
        cockpit(&db, &["sync"], None);
        for (email, password, role) in &people {
            cockpit(
                &db,
                &[
                    "user",
                    "add",
                    "--email",
                    email,
                    "--role",
                    role,
                    "--password-stdin",
                ],
                Some(password),
            );
        }
    })
    .await
    .unwrap();
}

/// Waits (bounded) for `url` to answer at all.
pub async fn wait_http(url: &str) -> bool {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http.get(url).send().await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
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

/// `oauth-cockpit serve` (with `serve_args`) and a browser to drive it.
pub struct Stage {
    pub base: String,
    pub b: Client,
    _server: Killed,
    _driver: Killed,
    _log: tempfile::NamedTempFile,
}

impl Stage {
    pub async fn start(db: &str, serve_args: &[String]) -> Stage {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = tempfile::NamedTempFile::new().unwrap();
        let server = Killed(
            Command::new(BIN)
                .arg("serve")
                .args(serve_args)
                .env("DATABASE_URL", db)
                .env("COCKPIT_MASTER_KEY", KEY)
                .env("COCKPIT_LISTEN", format!("127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(log.reopen().unwrap())
                .spawn()
                .unwrap(),
        );
        if !wait_http(&format!("{base}/healthz")).await {
            let said = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!("oauth-cockpit serve never answered:\n{said}");
        }
        Stage::with_browser(base, server, log).await
    }

    /// `oauth-cockpit demo` on the PostgreSQL server of `server_url`, in a
    /// database of its own named `database`, its simulated orgs on
    /// `sim_port` and the next port, no activity but what the test asks
    /// for; and the admin's password it printed.
    pub async fn demo(
        server_url: &str,
        database: &str,
        data_dir: &std::path::Path,
        sim_port: u16,
    ) -> (Stage, String) {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = tempfile::NamedTempFile::new().unwrap();
        let server = Killed(
            Command::new(BIN)
                .args(["demo", "--tokens", "1500", "--activity-every", "3600"])
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--sim-port")
                .arg(sim_port.to_string())
                .arg("--database")
                .arg(database)
                .arg("--data-dir")
                .arg(data_dir)
                .env("DATABASE_URL", server_url)
                .env_remove("COCKPIT_MASTER_KEY")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log.reopen().unwrap())
                .spawn()
                .unwrap(),
        );
        let start = std::time::Instant::now();
        let password = loop {
            let said = std::fs::read_to_string(log.path()).unwrap_or_default();
            if let Some(line) = said
                .lines()
                .find(|l| l.contains("sign in as admin@demo.example"))
            {
                break line.rsplit(' ').next().unwrap().trim().to_owned();
            }
            assert!(
                start.elapsed() < Duration::from_secs(240),
                "the demo never came up:\n{said}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        (Stage::with_browser(base, server, log).await, password)
    }

    /// A Chromium driven through its driver, for the server at `base`.
    async fn with_browser(base: String, server: Killed, log: tempfile::NamedTempFile) -> Stage {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let driver_port = free_port();
        let driver = Killed(
            Command::new("chromedriver")
                .arg(format!("--port={driver_port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver (apt-get install chromium chromium-driver)"),
        );
        let driver_url = format!("http://127.0.0.1:{driver_port}");
        assert!(
            wait_http(&format!("{driver_url}/status")).await,
            "chromedriver never answered"
        );
        let b = browser(&driver_url).await;
        Stage {
            base,
            b,
            _server: server,
            _driver: driver,
            _log: log,
        }
    }

    pub async fn goto(&self, path: &str) {
        self.b.goto(&format!("{}{path}", self.base)).await.unwrap();
    }
}

pub async fn sign_in(c: &Client, base: &str, who: (&str, &str)) {
    c.goto(&format!("{base}/signin")).await.unwrap();
    type_into(c, "#email", who.0).await;
    type_into(c, "#password", who.1).await;
    click(c, "form[action='/signin'] button[type=submit]").await;
    if !wait_path(c, |p| !p.starts_with("/signin")).await {
        shot(c, "signin-failed").await;
        panic!("could not sign in as {}: {}", who.0, text(c, "main").await);
    }
    c.wait().for_element(Locator::Css("h1")).await.unwrap();
}

pub async fn sign_out(c: &Client) {
    click(c, "form[action='/signout'] button").await;
    assert!(
        wait_path(c, |p| p.starts_with("/signin")).await,
        "signed out"
    );
}

/// Waits (bounded) for the browser to land on a path that satisfies `ok`.
pub async fn wait_path(c: &Client, ok: impl Fn(&str) -> bool) -> bool {
    for _ in 0..100 {
        if ok(c.current_url().await.unwrap().path()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Waits for `css` on the page; when it never comes, saves a `failed-…`
/// screenshot and fails with where the browser is and what it shows.
pub async fn expect(c: &Client, css: &str) {
    // Polled rather than `wait().for_element`, which gives up on the first
    // WebDriver error, and one comes when the lookup lands mid-navigation.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut found = false;
    while std::time::Instant::now() < deadline {
        if c.find(Locator::Css(css)).await.is_ok() {
            found = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    if !found {
        let name: String = css
            .chars()
            .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
            .collect();
        shot(c, &format!("failed-{name}")).await;
        let url = c.current_url().await.unwrap();
        let body = c.source().await.unwrap_or_default();
        panic!("no {css} at {url}:\n{}", &body[..body.len().min(3000)]);
    }
}

pub async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub async fn type_into(c: &Client, css: &str, text: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// When the cockpit asks for the password again (`/reauth`), gives it.
pub async fn confirm_password_if_asked(c: &Client, password: &str) {
    if c.current_url().await.unwrap().path() != "/reauth" {
        return;
    }
    type_into(c, "#password", password).await;
    click(c, "form[action='/reauth'] button").await;
    assert!(wait_path(c, |p| p != "/reauth").await, "password confirmed");
}

/// Fills in the reason on a confirmation page and submits it.
pub async fn submit_with_reason(c: &Client, reason: &str) {
    type_into(c, "textarea#reason", reason).await;
    click(c, "form[action='/actions'] button[type=submit]").await;
}

/// Reloads an action's page until it has finished.
pub async fn wait_for_action(c: &Client) -> String {
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
