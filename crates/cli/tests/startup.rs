//! Start-up as an operator meets it: the real binary, the real Postgres.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

const BIN: &str = env!("CARGO_BIN_EXE_oauth-cockpit");

fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A URL for a database that does not exist yet on the test server.
fn fresh_database_url() -> (String, String) {
    let base = url::Url::parse(&server_url()).unwrap();
    let name = format!("cockpit_start_{}", std::process::id()) + &format!("_{}", rand_suffix());
    let mut url = base.clone();
    url.set_path(&name);
    (url.to_string(), name)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn drop_database(name: &str) {
    let mut url = url::Url::parse(&server_url()).unwrap();
    url.set_path("postgres");
    let _ = Command::new("psql")
        .arg(url.as_str())
        .args([
            "-q",
            "-c",
            &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn unreachable_postgres_is_a_clear_error_and_a_nonzero_exit() {
    let port = free_port(); // bound and released: nothing listens there
    let out = Command::new(BIN)
        .arg("migrate")
        .env(
            "DATABASE_URL",
            format!("postgres://cockpit:hunter2-do-not-print@127.0.0.1:{port}/inventory"),
        )
        .env("COCKPIT_DB_CONNECT_ATTEMPTS", "2")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("\"inventory\""), "{stderr}");
    assert!(
        stderr.contains("Start it"),
        "says how to start Postgres: {stderr}"
    );
    assert!(!stderr.contains("hunter2"), "password leaked: {stderr}");
}

#[test]
fn serve_creates_the_database_answers_ready_and_stops_on_sigterm() {
    let (url, name) = fresh_database_url();
    let port = free_port();
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("COCKPIT_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let ready = rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(res) = client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
            {
                return Some((res.status().as_u16(), res.text().await.unwrap_or_default()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    drop_database(&name);

    let (code, body) = ready.expect("server never answered");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("ready"));
    assert!(
        status.success(),
        "graceful shutdown on SIGTERM exits 0, got {status:?}"
    );
}

#[test]
fn help_explains_every_option_and_its_environment_variable() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "DATABASE_URL",
        "COCKPIT_LISTEN",
        "COCKPIT_PUBLIC_URL",
        "COCKPIT_MASTER_KEY",
    ] {
        assert!(help.contains(var), "{var} missing from --help:\n{help}");
    }
}
