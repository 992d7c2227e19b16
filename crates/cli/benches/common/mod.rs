//! What this crate's benchmarks share: a database of their own on the
//! PostgreSQL server `DATABASE_URL` names, dropped at the end, and settings
//! read from the environment.

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
