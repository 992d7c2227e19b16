//! `oauth-cockpit demo` with no `DATABASE_URL`, as on a machine where
//! PostgreSQL came from the distribution with its default authentication
//! (peer on the socket, a password on TCP) and nobody set it up for the
//! cockpit: the demo runs its own cluster from the installed server
//! binaries, comes up with both orgs' data, stops it on Ctrl-C, and the
//! next run reuses it.

// A skipped test says so on stderr directly: the harness hides what
// `eprintln!` prints in a test that passes.
use std::io::Write as _;
use std::{
    io::Read as _,
    os::unix::fs::PermissionsExt as _,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

mod common;
use common::{
    BIN,
    browser::{Killed, free_pair, free_port},
};

struct Run {
    child: Killed,
    log: tempfile::NamedTempFile,
}

impl Run {
    /// The demo with no database named, and libpq's defaults pointing at
    /// the server on `pg_port` (127.0.0.1), as `PGHOST`/`PGPORT` would.
    fn start(dir: &std::path::Path, listen: u16, sims: u16, pg_port: u16) -> Run {
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(BIN)
            .args(["demo", "--tokens", "1500", "--activity-every", "3600"])
            .arg("--listen")
            .arg(format!("127.0.0.1:{listen}"))
            .arg("--sim-port")
            .arg(sims.to_string())
            .arg("--data-dir")
            .arg(dir)
            .env_remove("DATABASE_URL")
            .env_remove("COCKPIT_MASTER_KEY")
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", pg_port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        Run {
            child: Killed(child),
            log,
        }
    }

    fn said(&self) -> String {
        let mut s = String::new();
        std::fs::File::open(self.log.path())
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    /// Waits for the line that says where to sign in; returns the password.
    /// `None`: this machine has no PostgreSQL server programs, and the demo
    /// said how to install them.
    fn wait_ready(&mut self) -> Option<String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(240) {
            let said = self.said();
            if let Some(line) = said
                .lines()
                .find(|l| l.contains("sign in as admin@demo.example"))
            {
                return Some(line.rsplit(' ').next().unwrap().trim().to_owned());
            }
            if let Ok(Some(status)) = self.child.0.try_wait() {
                if said.contains("none were found")
                    && std::env::var_os("COCKPIT_TEST_ALL").is_none()
                {
                    return None;
                }
                panic!("the demo ended ({status}):\n{said}");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("the demo never came up:\n{}", self.said());
    }

    /// Ctrl-C, and the demo's end.
    fn interrupt(&mut self) -> String {
        kill(Pid::from_raw(self.child.0.id() as i32), Signal::SIGINT).unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(status)) = self.child.0.try_wait() {
                assert!(status.success(), "the demo failed: {}", self.said());
                return self.said();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the demo did not stop on Ctrl-C:\n{}", self.said());
    }
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect()
}

/// Signs in with the password the demo printed and returns the overview.
async fn overview(base: &str, password: &str) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = http.get(format!("{base}/signin")).send().await.unwrap();
    let pre = set_cookies(&form).join("; ");
    let html = form.text().await.unwrap();
    let csrf = scraper::Html::parse_document(&html)
        .select(&scraper::Selector::parse("input[name=csrf]").unwrap())
        .next()
        .and_then(|e| e.value().attr("value").map(str::to_owned))
        .expect("the sign-in form's token");
    let signed = http
        .post(format!("{base}/signin"))
        .header(reqwest::header::COOKIE, &pre)
        .header(reqwest::header::ORIGIN, base)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "admin@demo.example"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        signed.status().is_redirection(),
        "signed in: {}",
        signed.status()
    );
    let session = set_cookies(&signed).join("; ");
    let page = http
        .get(format!("{base}/"))
        .header(reqwest::header::COOKIE, session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    page.text().await.unwrap()
}

/// A cluster as `apt-get install postgresql` sets one up: peer on the
/// socket, a password (scram) on TCP, listening on 127.0.0.1:`port`.
/// Stopped when dropped.
struct DistroCluster {
    bin: std::path::PathBuf,
    dir: std::path::PathBuf,
    run_as: Option<nix::unistd::User>,
    _tmp: tempfile::TempDir,
}

impl DistroCluster {
    fn command(&self, program: &str) -> Command {
        use std::os::unix::process::CommandExt as _;
        let mut c = Command::new(self.bin.join(program));
        c.current_dir(&self.dir).stdin(Stdio::null());
        if let Some(u) = &self.run_as {
            c.uid(u.uid.as_raw()).gid(u.gid.as_raw());
        }
        c
    }

    fn start(bin: std::path::PathBuf, port: u16) -> DistroCluster {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("main");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let run_as = nix::unistd::Uid::effective().is_root().then(|| {
            nix::unistd::User::from_name("postgres")
                .unwrap()
                .expect("a postgres account")
        });
        if let Some(u) = &run_as {
            nix::unistd::chown(&dir, Some(u.uid), Some(u.gid)).unwrap();
        }
        let pwfile = tmp.path().join("pw");
        std::fs::write(&pwfile, "a-password-the-demo-does-not-know\n").unwrap();
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = DistroCluster {
            bin,
            dir,
            run_as,
            _tmp: tmp,
        };
        let out = c
            .command("initdb")
            .arg("-D")
            .arg(&c.dir)
            .args([
                "-U",
                "postgres",
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {}",
            c.dir.display()
        );
        let out = c
            .command("pg_ctl")
            .arg("-D")
            .arg(&c.dir)
            .arg("-l")
            .arg(c.dir.join("log"))
            .args(["-w", "-o", &options, "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }
}

impl Drop for DistroCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_database_named_the_demo_runs_its_own_postgres() {
    // What a newcomer's machine has: a server with the distribution's
    // authentication, which every default of libpq points at. The demo must
    // not need it.
    let Some(bin) = common::server_bindir() else {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: no PostgreSQL server programs here (initdb, pg_ctl); scripts/test runs it"
        );
        return;
    };
    let distro_port = free_port();
    let _distro = DistroCluster::start(bin, distro_port);
    let refused = sqlx::PgPool::connect(&format!(
        "postgres://postgres@127.0.0.1:{distro_port}/postgres"
    ))
    .await
    .expect_err("the distribution's cluster asks for a password");
    assert!(refused.to_string().contains("password"), "{refused}");

    let dir = tempfile::tempdir().unwrap();
    // Reachable by the `postgres` account when the test runs as root.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("demo-data");
    let (listen, sims) = (free_port(), free_pair());
    let base = format!("http://127.0.0.1:{listen}");

    let mut first = Run::start(&data, listen, sims, distro_port);
    let Some(password) = first.wait_ready() else {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: no PostgreSQL server programs here (initdb, pg_ctl); scripts/test runs it"
        );
        return;
    };
    let said = first.said();
    assert!(said.contains("creating the demo's own cluster"), "{said}");
    let page = overview(&base, &password).await;
    for org in ["Acme Production", "Acme UAT sandbox"] {
        assert!(page.contains(org), "{org} on the overview");
    }
    let said = first.interrupt();
    assert!(said.contains("the demo's cluster is stopped"), "{said}");

    // The next run finds the cluster and its data.
    let mut second = Run::start(&data, listen, sims, distro_port);
    let again = second
        .wait_ready()
        .expect("the server programs are still here");
    assert_eq!(again, password, "the same admin, kept with the data");
    let said = second.said();
    assert!(said.contains("reusing the demo's cluster"), "{said}");
    assert!(!said.contains("creating the demo's own cluster"), "{said}");
    let page = overview(&base, &again).await;
    assert!(page.contains("Acme Production"));
    let said = second.interrupt();
    assert!(said.contains("the demo's cluster is stopped"), "{said}");
}
