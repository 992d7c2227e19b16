//! `kill -9` of `oauth-cockpit serve` while a Revoke All is in flight, then a
//! restart: the action resumes from its durable intent, every authorization
//! is revoked at most once at Salesforce, none is left, and the audit log
//! shows the action requested once and completed once.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use cockpit_db::actions::{ActionKind, NewAction};
use sfsim::Fault;
use sqlx::PgPool;

mod common;
use common::{BIN, KEY, serve, wait_for};

async fn action_state(pool: &PgPool, id: i64) -> (String, i64, i64) {
    sqlx::query_as(
        "SELECT a.status,
                (SELECT count(*) FROM action_items i WHERE i.action_id = a.id AND i.status IN ('revoked', 'gone')),
                (SELECT count(*) FROM action_items i WHERE i.action_id = a.id)
         FROM actions a WHERE a.id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn kill_nine_mid_action_then_restart(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    let db = common::db_url(&opts);
    let org = common::SimOrg::start(3_000, 400, 8).await;
    let sim = &org.sim;
    let (db2, args) = (db.clone(), org.org_add("Acme"));
    tokio::task::spawn_blocking(move || {
        let cockpit = |args: &[&str]| {
            Command::new(BIN)
                .args(args)
                .env("DATABASE_URL", &db2)
                .env("COCKPIT_MASTER_KEY", KEY)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap()
        };
        assert!(cockpit(&common::strs(&args)).success());
        assert!(cockpit(&["sync"]).success());
    })
    .await
    .unwrap();
    let pool = PgPool::connect(&db).await.unwrap();

    // The connected app with the most authorizations (a few hundred).
    let (org_id, app_key, app_name, tokens): (uuid::Uuid, String, String, i64) = sqlx::query_as(
        "SELECT a.org_id, a.app_key, a.name, s.tokens::bigint FROM sf_apps a JOIN app_summary s USING (org_id, app_key)
         WHERE a.kind = 'connected_app' ORDER BY s.tokens DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(tokens >= 200, "a few hundred authorizations: {tokens}");
    assert_eq!(sim.sim.tokens_for_app(&app_name) as i64, tokens);

    // Salesforce answers each revoke slowly, so the action takes seconds.
    sim.sim
        .set_fault(Fault::RevokeLatency(Duration::from_millis(100)));
    let requested = cockpit_db::actions::request(
        &pool,
        &NewAction {
            org_id,
            kind: ActionKind::RevokeAppAll,
            app_key: Some(&app_key),
            user_id: None,
            token_ids: &[],
            idle_days: None,
            requested_by: "user:alice@example.com",
            reason: "INC-9: the app's tokens leaked",
            idempotency_key: "kill-nine-mid-action-0001",
        },
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(requested.items, tokens);
    let id = requested.id;

    let mut child = serve(&db);
    // Kill once some items are done and more are in flight.
    let done_at_kill = wait_for(
        "the action to be under way",
        Duration::from_secs(60),
        || async {
            let (status, done, _) = action_state(&pool, id).await;
            (status == "running" && done >= 30).then_some(done)
        },
    )
    .await;
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    let (status, done_after_kill, total) = action_state(&pool, id).await;
    assert_eq!(status, "running", "killed mid-way");
    assert!(done_after_kill >= done_at_kill && done_after_kill < total);
    let sent_before_restart: u32 = sim.sim.revoke_calls().values().sum();
    assert!(
        i64::from(sent_before_restart) >= done_after_kill,
        "Salesforce saw at least the revokes the cockpit recorded"
    );

    // The restart resumes the durable intent (after the dead worker's lease).
    let mut child = serve(&db);
    let status = wait_for("the action to finish", Duration::from_secs(120), || async {
        let (status, _, _) = action_state(&pool, id).await;
        (!matches!(status.as_str(), "pending" | "running")).then_some(status)
    })
    .await;
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(status, "succeeded");

    // Every authorization revoked at most once, and none left.
    let calls = sim.sim.revoke_calls();
    assert!(
        calls.values().all(|n| *n == 1),
        "revoked twice: {:?}",
        calls.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    assert_eq!(calls.len() as i64, tokens, "every authorization revoked");
    assert_eq!(sim.sim.tokens_for_app(&app_name), 0);
    let (_, done, total) = action_state(&pool, id).await;
    assert_eq!(done, total);

    let audit: Vec<(String, i64)> = sqlx::query_as(
        "SELECT action, count(*) FROM audit_log WHERE target->>'action' = $1 GROUP BY action ORDER BY action",
    )
    .bind(id.to_string())
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        audit,
        [
            ("action.completed".to_owned(), 1),
            ("action.requested".to_owned(), 1)
        ]
    );
}
