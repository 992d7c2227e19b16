//! Rotating the master key from the command line: every secret re-sealed,
//! the old key no longer needed, and running it again changes nothing (so an
//! interrupted rotation is finished by running it again).

use std::process::{Command, Output};

mod common;
use common::{BIN, text};

const K1: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
const K2: &str = "KysrKysrKysrKysrKysrKysrKysrKysrKysrKysrKys=";

fn run(db: &str, key: &str, previous: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("DATABASE_URL", db)
        .env("COCKPIT_MASTER_KEY", key)
        .env("RUST_LOG", "warn");
    if let Some(p) = previous {
        cmd.env("COCKPIT_PREVIOUS_MASTER_KEYS", p);
    }
    cmd.output().unwrap()
}

#[sqlx::test(migrations = false)]
async fn rotate_reseals_everything_and_is_resumable(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    let db = common::db_url(&opts);
    let org = common::SimOrg::start(300, 60, 6).await;
    let sim = &org.sim;
    let c = sim.credentials.clone();
    let key = org.key.clone();
    let db2 = db.clone();
    let out = tokio::task::spawn_blocking(move || {
        let add = run(
            &db2,
            K1,
            None,
            &[
                "org",
                "add",
                "--name",
                "Acme",
                "--login-url",
                &c.login_url,
                "--client-id",
                &c.client_id,
                "--client-secret",
                &c.client_secret,
                "--jwt-key",
                key.to_str().unwrap(),
                "--username",
                &c.username,
            ],
        );
        assert!(add.status.success(), "{}", text(&add));
        let rotate = run(&db2, K2, Some(K1), &["keys", "rotate"]);
        let again = run(&db2, K2, Some(K1), &["keys", "rotate"]);
        let with_new = run(&db2, K2, None, &["sync"]);
        let with_old = run(&db2, K1, None, &["sync"]);
        (rotate, again, with_new, with_old)
    })
    .await
    .unwrap();
    let (rotate, again, with_new, with_old) = out;
    assert!(rotate.status.success(), "{}", text(&rotate));
    assert!(
        text(&rotate).contains("2 secret(s) re-sealed"),
        "client secret and private key: {}",
        text(&rotate)
    );
    assert!(
        text(&again).contains("0 secret(s) re-sealed"),
        "{}",
        text(&again)
    );
    assert!(
        with_new.status.success(),
        "the new key alone opens everything: {}",
        text(&with_new)
    );
    assert!(
        !with_old.status.success(),
        "the old key alone no longer does"
    );
    assert!(
        text(&with_old).contains("not configured"),
        "{}",
        text(&with_old)
    );
    for secret in [sim.credentials.client_secret.as_str(), "PRIVATE KEY"] {
        for o in [&rotate, &again, &with_new, &with_old] {
            assert!(!text(o).contains(secret), "secret in output: {}", text(o));
        }
    }
}
