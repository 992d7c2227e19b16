//! Connecting, syncing and removing an org from the command line, against
//! sfsim, through the real binary.

use std::process::{Command, Output};

mod common;
use common::{BIN, KEY, text};

fn cockpit(db: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", db)
        .env("COCKPIT_MASTER_KEY", KEY)
        .env("COCKPIT_LOG_FORMAT", "json")
        .output()
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn org_add_sync_list_remove(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    let db = common::db_url(&opts);
    let org = common::SimOrg::start(3_000, 400, 15).await;
    let sim = &org.sim;
    let c = sim.credentials.clone();
    let key = org.key.clone();

    let db2 = db.clone();
    let out = tokio::task::spawn_blocking(move || {
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
        )
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("Salesforce org {}", c.org_id)),
        "{}",
        text(&out)
    );

    let db2 = db.clone();
    let out = tokio::task::spawn_blocking(move || cockpit(&db2, &["sync", "--org", "Acme"]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{} tokens", sim.sim.token_count())),
        "{}",
        text(&out)
    );

    let db2 = db.clone();
    let out = tokio::task::spawn_blocking(move || cockpit(&db2, &["org", "list"]))
        .await
        .unwrap();
    assert!(
        text(&out).contains("Acme") && text(&out).contains("connected"),
        "{}",
        text(&out)
    );
    for secret in [&sim.credentials.client_secret, "BEGIN PRIVATE KEY"] {
        assert!(!text(&out).contains(secret));
    }

    // A failing org: the sync exits non-zero and says why.
    sim.sim.set_fault(sfsim::Fault::ServerErrorRate(1.0));
    let db2 = db.clone();
    let out = tokio::task::spawn_blocking(move || cockpit(&db2, &["sync"]))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("FAILED"), "{}", text(&out));
    sim.sim.clear_faults();

    // The org's tokens have a partition of their own, which goes with it.
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let partitions = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'sf\\_tokens\\_%' AND relkind = 'r'
               AND relname <> 'sf_tokens_default'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    assert_eq!(partitions().await, 1);
    let db2 = db.clone();
    let out =
        tokio::task::spawn_blocking(move || cockpit(&db2, &["org", "remove", "--name", "Acme"]))
            .await
            .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(partitions().await, 0);
    let db2 = db.clone();
    let out = tokio::task::spawn_blocking(move || cockpit(&db2, &["org", "list"]))
        .await
        .unwrap();
    assert!(text(&out).contains("No org is connected"), "{}", text(&out));
}

#[test]
fn org_add_without_a_flow_says_what_to_give() {
    let out = Command::new(BIN)
        .args([
            "org",
            "add",
            "--name",
            "x",
            "--login-url",
            "https://login.salesforce.com",
            "--client-id",
            "abc",
        ])
        .env("COCKPIT_MASTER_KEY", KEY)
        .env("COCKPIT_DB_CONNECT_ATTEMPTS", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn keys_generate_prints_a_usable_key() {
    let out = Command::new(BIN)
        .args(["keys", "generate"])
        .output()
        .unwrap();
    let key = String::from_utf8(out.stdout).unwrap();
    assert!(cockpit_domain::secret::MasterKey::from_base64(key.trim()).is_ok());
}
