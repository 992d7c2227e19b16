//! Shared by the command-line tests: the binary, a database URL from the
//! test's fresh database, and a simulated org with its JWT key on disk.

#![allow(dead_code)]

use std::{
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use sfsim::{RunningSim, Sim, SimConfig};

pub mod browser;

pub const BIN: &str = env!("CARGO_BIN_EXE_oauth-cockpit");
/// A master key: base64 of 32 × '*'.
pub const KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

/// The URL of the database `#[sqlx::test]` made for this test.
pub fn db_url(opts: &sqlx::postgres::PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        opts.get_username(),
        opts.get_host(),
        opts.get_port(),
        opts.get_database().expect("test database name")
    )
}

/// Everything a command printed.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A running simulated org, and its JWT private key written to a file.
pub struct SimOrg {
    pub sim: RunningSim,
    pub key: PathBuf,
    _dir: tempfile::TempDir,
}

impl SimOrg {
    pub async fn start(tokens: usize, users: usize, apps: usize) -> SimOrg {
        SimOrg::start_with(SimConfig {
            tokens,
            users,
            apps,
            ..SimConfig::default()
        })
        .await
    }

    pub async fn start_with(config: SimConfig) -> SimOrg {
        let sim = Sim::spawn(config).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        std::fs::write(&key, &sim.credentials.jwt_private_key_pem).unwrap();
        SimOrg {
            sim,
            key,
            _dir: dir,
        }
    }

    /// `org add` arguments for the JWT bearer flow, as an operator types them.
    pub fn org_add(&self, name: &str) -> Vec<String> {
        let c = &self.sim.credentials;
        [
            "org",
            "add",
            "--name",
            name,
            "--login-url",
            &c.login_url,
            "--client-id",
            &c.client_id,
            "--jwt-key",
            self.key.to_str().unwrap(),
            "--username",
            &c.username,
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

pub fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `oauth-cockpit serve` (server and worker) on a free port, quiet.
pub fn serve(db: &str) -> Child {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", db)
        .env("COCKPIT_MASTER_KEY", KEY)
        .env("COCKPIT_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Polls `check` until it returns `Some`, failing the test after `within`.
pub async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The PostgreSQL server programs the demo would find first, if any.
pub fn server_bindir() -> Option<std::path::PathBuf> {
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|o| std::path::PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let mut versions: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .collect();
    versions.sort_by_key(|p| {
        let v = p
            .parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str());
        std::cmp::Reverse(v.and_then(|v| v.parse::<u32>().ok()).unwrap_or(0))
    });
    from_config
        .into_iter()
        .chain(versions)
        .find(|b| b.join("initdb").exists())
}
