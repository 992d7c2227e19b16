//! What this crate's benchmarks share: a database of their own on the
//! PostgreSQL server `DATABASE_URL` names, dropped at the end, and settings
//! read from the environment, and running the cockpit as a process.
// Each benchmark uses part of this.
#![allow(dead_code)]

/// A benchmark's own database, `cockpit_{kind}_bench_{pid}`.
pub struct BenchDb {
    pub name: String,
    /// Its URL (the database is created when first connected to).
    pub url: String,
    server: url::Url,
}

impl BenchDb {
    pub fn new(kind: &str) -> BenchDb {
        let server = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let server = url::Url::parse(&server).expect("DATABASE_URL is a URL");
        let name = format!("cockpit_{kind}_bench_{}", std::process::id());
        let mut url = server.clone();
        url.set_path(&name);
        BenchDb {
            name,
            url: url.to_string(),
            server,
        }
    }

    /// Drops the database (its connections too).
    pub async fn drop_it(self) {
        let mut admin = self.server;
        admin.set_path("postgres");
        let admin = sqlx::PgPool::connect(admin.as_str()).await.unwrap();
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )))
        .execute(&admin)
        .await;
    }
}

/// A number from the environment, else `default`.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The cockpit binary the benchmarks run, and the master key they give it.
pub const BIN: &str = env!("CARGO_BIN_EXE_oauth-cockpit");
pub const KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

/// The number between `prefix` and `suffix` in a command's output.
pub fn figure<T: std::str::FromStr>(out: &str, prefix: &str, suffix: &str) -> Option<T> {
    let start = out.find(prefix)? + prefix.len();
    let rest = &out[start..];
    let end = rest.find(suffix)?;
    rest[..end].trim().replace(',', "").parse().ok()
}

/// Runs `oauth-cockpit ARGS` against `db` to its end; its output and the
/// seconds it took. Panics with the output when it fails.
pub fn cockpit(db: &str, args: &[&str]) -> (String, f64) {
    let started = std::time::Instant::now();
    let out = std::process::Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", db)
        .env("COCKPIT_MASTER_KEY", KEY)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run oauth-cockpit");
    let secs = started.elapsed().as_secs_f64();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "oauth-cockpit {args:?} failed:\n{text}"
    );
    (text, secs)
}

/// `oauth-cockpit org add` of a simulated org named `name` by the JWT
/// bearer flow, its key written to a file in `dir`.
pub fn add_org(db: &str, c: &sfsim::Credentials, name: &str, dir: &std::path::Path) {
    let key = dir.join(format!("{name}.pem"));
    std::fs::write(&key, &c.jwt_private_key_pem).unwrap();
    cockpit(
        db,
        &[
            "org",
            "add",
            "--name",
            name,
            "--login-url",
            &c.login_url,
            "--client-id",
            &c.client_id,
            "--jwt-key",
            key.to_str().unwrap(),
            "--username",
            &c.username,
        ],
    );
}
