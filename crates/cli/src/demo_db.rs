//! The demo's own PostgreSQL, for machines where none is set up for it.
//!
//! With no `DATABASE_URL`, `oauth-cockpit demo` runs a private cluster from
//! the server binaries installed on the machine: created once in the demo's
//! folder with trust authentication for its own Unix socket only, listening
//! on that socket and on no TCP port, reused by the next run, and stopped
//! when the demo ends. PostgreSQL refuses to run as root, so a demo run by
//! root (containers, CI) runs the cluster as the `postgres` system account.
//!
//! Written by hand rather than with a crate that downloads server builds
//! (`postgresql_embedded`, `pg-embed`): those fetch binaries from the
//! internet at run time, and the machines this runs on often reach only
//! their package mirrors. The system's own binaries are what is used here.

use std::{
    os::unix::{fs::PermissionsExt as _, process::CommandExt as _},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, bail};
use nix::unistd::{Uid, User};

/// How to install the server binaries, for the error when none are found.
pub const INSTALL_HINT: &str = "\
The demo runs its own PostgreSQL from the server programs installed on this machine (initdb, \
pg_ctl, postgres), and none were found. Install them, then run the demo again:
  Debian or Ubuntu:  sudo apt-get install postgresql
  Fedora:            sudo dnf install postgresql-server
  macOS (Homebrew):  brew install postgresql@17
Or use a server you already have: DATABASE_URL=postgres://user:password@host/oauth_cockpit \
oauth-cockpit demo. Or run everything in containers: docker compose up.";

/// The socket's file name is `.s.PGSQL.<port>`; the port is only a name here.
const PORT: u16 = 5432;

/// A running private cluster; stopped when dropped.
pub struct Cluster {
    dir: PathBuf,
    socket_dir: PathBuf,
    bin: PathBuf,
    run_as: Option<User>,
    running: bool,
}

impl Cluster {
    /// Finds the server binaries, creates the cluster under `data_dir` if it
    /// does not exist yet, and starts it (or finds it running). Blocking.
    pub fn start(data_dir: &Path) -> anyhow::Result<Cluster> {
        let bin = find_bindir().ok_or_else(|| anyhow::anyhow!(INSTALL_HINT))?;
        let run_as = if Uid::effective().is_root() {
            let user = User::from_name("postgres")
                .context("looking up the postgres account")?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "PostgreSQL does not run as root and this machine has no `postgres` account: \
                         run the demo as an ordinary user, or set DATABASE_URL"
                    )
                })?;
            Some(user)
        } else {
            None
        };
        let data_dir = std::path::absolute(data_dir)?;
        let dir = cluster_dir(&data_dir, run_as.as_ref());
        let socket_dir = socket_dir(&dir);
        let mut cluster = Cluster {
            dir,
            socket_dir,
            bin,
            run_as,
            running: false,
        };
        cluster.create_if_missing()?;
        cluster.run()?;
        Ok(cluster)
    }

    /// The URL of `database` on the cluster's socket.
    pub fn url(&self, database: &str) -> String {
        let mut url = url::Url::parse("postgres://postgres@localhost").expect("constant URL");
        url.set_path(database);
        url.query_pairs_mut()
            .append_pair("host", &self.socket_dir.to_string_lossy())
            .append_pair("port", &PORT.to_string());
        url.to_string()
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.current_dir(&self.dir).stdin(Stdio::null());
        if let Some(user) = &self.run_as {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
            cmd.env("HOME", &user.dir);
        }
        cmd
    }

    fn owned(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
        if let Some(user) = &self.run_as {
            nix::unistd::chown(path, Some(user.uid), Some(user.gid))
                .with_context(|| format!("cannot give {} to postgres", path.display()))?;
        }
        Ok(())
    }

    fn create_if_missing(&self) -> anyhow::Result<()> {
        if self.dir.join("PG_VERSION").exists() {
            eprintln!(
                "  PostgreSQL: reusing the demo's cluster in {}",
                self.dir.display()
            );
            return Ok(());
        }
        eprintln!(
            "  PostgreSQL: creating the demo's own cluster in {} with {} (takes a few seconds)…",
            self.dir.display(),
            self.bin.display()
        );
        self.owned(&self.dir)?;
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(&self.dir)
            .args([
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C",
                // Its own socket only: nothing listens on TCP.
                "--auth-local=trust",
                "--auth-host=reject",
            ])
            .output()
            .context("cannot run initdb")?;
        if !out.status.success() {
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    fn run(&mut self) -> anyhow::Result<()> {
        if self.socket_dir != self.dir {
            self.owned(&self.socket_dir)?;
        }
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .arg("status")
            .stdout(Stdio::null())
            .status()
            .context("cannot run pg_ctl")?;
        if status.success() {
            eprintln!("  PostgreSQL: the demo's cluster is already running");
            self.running = true;
            return Ok(());
        }
        eprintln!("  PostgreSQL: starting the demo's cluster…");
        let options = format!(
            "-c listen_addresses='' -k {} -p {PORT}",
            shell_quote(&self.socket_dir.to_string_lossy())
        );
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"])
            .output()
            .context("cannot run pg_ctl")?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            bail!(
                "the demo's PostgreSQL did not start: {}\n{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        self.running = true;
        Ok(())
    }

    /// Stops the cluster (fast shutdown: sessions are closed, nothing is
    /// lost). Blocking; idempotent.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let stopped = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .status();
        match stopped {
            Ok(s) if s.success() => eprintln!("  PostgreSQL: the demo's cluster is stopped"),
            _ => eprintln!(
                "  PostgreSQL: could not stop the demo's cluster; stop it with pg_ctl -D {} stop",
                self.dir.display()
            ),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `'…'` for a value inside pg_ctl's `-o` (passed to the server through a
/// shell).
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether `user` can reach `path`: every folder above it is searchable by
/// them.
fn reachable_by(path: &Path, user: &User) -> bool {
    path.ancestors().skip(1).all(|dir| {
        let Ok(meta) = std::fs::metadata(dir) else {
            return true; // not created yet: it will be ours
        };
        let mode = meta.permissions().mode();
        use std::os::unix::fs::MetadataExt as _;
        if meta.uid() == user.uid.as_raw() {
            mode & 0o100 != 0
        } else if meta.gid() == user.gid.as_raw() {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        }
    })
}

/// `<data_dir>/postgres`; when the server runs as another account that
/// cannot reach the demo's folder (root's home), a folder of its own under
/// /var/tmp named after the demo's folder, so the next run finds it again.
fn cluster_dir(data_dir: &Path, run_as: Option<&User>) -> PathBuf {
    let inside = data_dir.join("postgres");
    match run_as {
        Some(user) if !reachable_by(&inside, user) => {
            let tag: String = sha_hex(&data_dir.to_string_lossy())
                .chars()
                .take(12)
                .collect();
            PathBuf::from(format!("/var/tmp/oauth-cockpit-demo-{tag}"))
        }
        _ => inside,
    }
}

/// The socket goes into the cluster's folder unless that path is too long
/// for a Unix socket (about 107 bytes); then a short folder under /tmp.
fn socket_dir(dir: &Path) -> PathBuf {
    let socket = dir.join(format!(".s.PGSQL.{PORT}"));
    if socket.as_os_str().len() < 100 {
        dir.to_path_buf()
    } else {
        let tag: String = sha_hex(&dir.to_string_lossy()).chars().take(12).collect();
        PathBuf::from(format!("/tmp/ock-{tag}"))
    }
}

fn sha_hex(s: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// A folder with the server programs the demo needs.
fn has_server(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|p| dir.join(p).is_file())
}

/// Version folders (`17`, `postgresql@16`, `15.4`) newest first.
fn newest_first(pattern_parent: &str, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(pattern_parent) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix(prefix)?;
            let key: Vec<u32> = version
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse().ok())
                .collect();
            Some((key, e.path().join(suffix)))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// Where the server programs are: `PATH`, `pg_config --bindir`, Debian's
/// `/usr/lib/postgresql/*/bin` and the PGDG `/usr/pgsql-*/bin` newest first,
/// Homebrew, Postgres.app.
fn find_bindir() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    candidates.extend(newest_first("/usr/lib/postgresql", "", "bin"));
    candidates.extend(newest_first("/usr", "pgsql-", "bin"));
    candidates.extend(newest_first("/opt/homebrew/opt", "postgresql@", "bin"));
    candidates.extend(newest_first("/usr/local/opt", "postgresql@", "bin"));
    candidates.extend([
        PathBuf::from("/opt/homebrew/bin"),
        PathBuf::from("/usr/local/bin"),
    ]);
    candidates.extend(newest_first(
        "/Applications/Postgres.app/Contents/Versions",
        "",
        "bin",
    ));
    candidates.into_iter().find(|d| has_server(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_newest_first() {
        let root = std::env::temp_dir().join(format!("ock-versions-{}", std::process::id()));
        for v in ["9.6", "15", "17", "16"] {
            std::fs::create_dir_all(root.join(v).join("bin")).unwrap();
        }
        let found = newest_first(&root.to_string_lossy(), "", "bin");
        let names: Vec<String> = found
            .iter()
            .map(|p| {
                p.parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["17", "16", "15", "9.6"]);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn long_folders_get_a_short_socket_folder() {
        assert_eq!(
            socket_dir(Path::new("/tmp/demo")),
            PathBuf::from("/tmp/demo")
        );
        let long = PathBuf::from(format!("/tmp/{}", "x".repeat(120)));
        let short = socket_dir(&long);
        assert!(
            short.to_string_lossy().starts_with("/tmp/ock-"),
            "{}",
            short.display()
        );
        assert!(short.as_os_str().len() < 30);
    }

    #[test]
    fn the_url_names_the_socket_folder() {
        let c = Cluster {
            dir: PathBuf::from("/srv/demo data/postgres"),
            socket_dir: PathBuf::from("/srv/demo data/postgres"),
            bin: PathBuf::new(),
            run_as: None,
            running: false,
        };
        let url = c.url("oauth_cockpit_demo");
        assert_eq!(
            url,
            "postgres://postgres@localhost/oauth_cockpit_demo?host=%2Fsrv%2Fdemo+data%2Fpostgres&port=5432"
        );
        let opts: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
        assert_eq!(
            opts.get_socket().map(|p| p.to_path_buf()),
            Some(PathBuf::from("/srv/demo data/postgres"))
        );
    }
}
