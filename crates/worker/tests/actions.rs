//! Revoke and block against sfsim: durable intent, execution, verification,
//! and the audit trail.

use cockpit_db::actions::{ActionKind, NewAction, request};
use cockpit_worker::actions::{Next, execute};
use sfsim::SimConfig;
use sqlx::PgPool;
use uuid::Uuid;

mod common;
use common::{SimOrg as Setup, busy_app, synced_sim_org};

async fn setup(pool: &PgPool, tokens: usize) -> Setup {
    let config = SimConfig {
        tokens,
        users: 500,
        apps: 20,
        ..SimConfig::default()
    };
    synced_sim_org(pool, config, 7).await
}

fn action<'a>(org: Uuid, kind: ActionKind, key: &'a str) -> NewAction<'a> {
    NewAction {
        org_id: org,
        kind,
        app_key: None,
        user_id: None,
        token_ids: &[],
        idle_days: None,
        requested_by: "user:alice@example.com",
        reason: "incident 7: replayed refresh tokens",
        idempotency_key: key,
    }
}

async fn audit_actions(pool: &PgPool) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT action, outcome FROM audit_log WHERE action LIKE 'action.%' ORDER BY seq",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn revoke_one_users_authorizations_for_an_app(pool: PgPool) {
    let s = setup(&pool, 2_000).await;
    let (app_key, app_name, user, _) = busy_app(&pool, s.org).await;
    let before_user = s.sim.sim.tokens_for_user(&user);
    let before_app = s.sim.sim.tokens_for_app(&app_name);
    let mut a = action(s.org, ActionKind::RevokeUserApp, "k1");
    a.app_key = Some(&app_key);
    a.user_id = Some(&user);
    let req = request(&pool, &a).await.unwrap().unwrap();
    assert!(req.created && req.items >= 1);
    // A double submit of the same form creates nothing new.
    let again = request(&pool, &a).await.unwrap().unwrap();
    assert_eq!((again.id, again.created), (req.id, false));

    assert_eq!(
        execute(&pool, s.keyring.clone(), req.id).await.unwrap(),
        Next::Done("succeeded".into())
    );
    assert_eq!(
        s.sim.sim.tokens_for_user(&user),
        before_user - req.items as usize
    );
    assert_eq!(
        s.sim.sim.tokens_for_app(&app_name),
        before_app - req.items as usize
    );
    let counts = cockpit_db::actions::item_counts(&pool, req.id)
        .await
        .unwrap();
    assert_eq!(counts.revoked, req.items);
    let row = cockpit_db::actions::get(&pool, req.id)
        .await
        .unwrap()
        .unwrap();
    let peak = row
        .peak_in_flight
        .expect("the calls in flight are recorded");
    assert!(peak >= 1 && peak as usize <= cockpit_worker::actions::MAX_IN_FLIGHT);
    assert!(
        row.mean_in_flight
            .is_some_and(|m| m > 0.0 && m <= peak as f32)
    );
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sf_tokens WHERE org_id = $1 AND app_key = $2 AND user_id = $3 AND gone_at IS NULL",
    )
    .bind(s.org)
    .bind(&app_key)
    .bind(&user)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(live, 0, "the pages show the revoke at once");
    assert_eq!(
        audit_actions(&pool).await,
        vec![
            ("action.requested".into(), Some("pending".into())),
            ("action.completed".into(), Some("succeeded".into()))
        ]
    );
    assert!(
        cockpit_db::audit::verify(&pool, None)
            .await
            .unwrap()
            .problems
            .is_empty()
    );
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_resumed_action_never_revokes_twice(pool: PgPool) {
    let s = setup(&pool, 2_000).await;
    let (app_key, app_name, _, _) = busy_app(&pool, s.org).await;
    let mut a = action(s.org, ActionKind::RevokeAppAll, "k2");
    a.app_key = Some(&app_key);
    let req = request(&pool, &a).await.unwrap().unwrap();
    // As if a previous run revoked some and died before recording them: the
    // tokens are gone from Salesforce, the items still pending.
    let items = cockpit_db::actions::items(&pool, req.id, Some("pending"), 3)
        .await
        .unwrap();
    let deleted: Vec<String> = items.iter().map(|i| i.token_id.clone()).collect();
    let http = reqwest::Client::new();
    for id in &deleted {
        let refresh = s
            .sim
            .sim
            .refresh_token_of(id)
            .expect("refresh token of a live grant");
        let res = http
            .post(format!("{}/services/oauth2/revoke", s.sim.base_url))
            .form(&[("token", refresh)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    assert_eq!(
        execute(&pool, s.keyring.clone(), req.id).await.unwrap(),
        Next::Done("succeeded".into())
    );
    let counts = cockpit_db::actions::item_counts(&pool, req.id)
        .await
        .unwrap();
    assert_eq!(
        counts.gone,
        deleted.len() as i64,
        "found gone, not revoked again"
    );
    assert_eq!(counts.revoked + counts.gone, req.items);
    assert_eq!(s.sim.sim.tokens_for_app(&app_name), 0);
    // Running it again does nothing more.
    assert_eq!(
        execute(&pool, s.keyring.clone(), req.id).await.unwrap(),
        Next::Done("succeeded".into())
    );
    let requested: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'action.completed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(requested, 1);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn block_then_unblock_an_app(pool: PgPool) {
    let s = setup(&pool, 2_000).await;
    let (app_key, app_name, _, _) = busy_app(&pool, s.org).await;
    let tokens_before = s.sim.sim.tokens_for_app(&app_name);
    let mut a = action(s.org, ActionKind::BlockApp, "k3");
    a.app_key = Some(&app_key);
    let req = request(&pool, &a).await.unwrap().unwrap();
    assert_eq!(
        execute(&pool, s.keyring.clone(), req.id).await.unwrap(),
        Next::Done("succeeded".into())
    );
    let key: String =
        sqlx::query_scalar("SELECT consumer_key FROM sf_apps WHERE org_id = $1 AND app_key = $2")
            .bind(s.org)
            .bind(&app_key)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(s.sim.sim.is_blocked(&key));
    assert_eq!(
        s.sim.sim.tokens_for_app(&app_name),
        tokens_before,
        "a block ends sessions; the grants stay until revoked"
    );

    let mut u = action(s.org, ActionKind::UnblockApp, "k4");
    u.app_key = Some(&app_key);
    let req = request(&pool, &u).await.unwrap().unwrap();
    assert_eq!(
        execute(&pool, s.keyring.clone(), req.id).await.unwrap(),
        Next::Done("succeeded".into())
    );
    assert!(!s.sim.sim.is_blocked(&key));
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn block_then_unblock_an_external_client_app_by_policy(pool: PgPool) {
    let s = setup(&pool, 2_000).await;
    let ecas: Vec<(String, String)> = sqlx::query_as(
        "SELECT a.app_key, a.name FROM sf_apps a JOIN app_summary s USING (org_id, app_key)
         WHERE a.org_id = $1 AND a.kind = 'external_client_app' ORDER BY s.tokens DESC",
    )
    .bind(s.org)
    .fetch_all(&pool)
    .await
    .unwrap();
    // Not the cockpit's own app: blocking that would end its session.
    let (app_key, app_name, key) = ecas
        .into_iter()
        .find_map(|(k, n)| {
            let (key, _) = s.sim.sim.app_credentials(&n)?;
            (key != s.sim.credentials.client_id).then_some((k, n, key))
        })
        .expect("an External Client App");
    let tokens_before = s.sim.sim.tokens_for_app(&app_name);
    let mut a = action(s.org, ActionKind::BlockApp, "eca-block");
    a.app_key = Some(&app_key);
    let req = request(&pool, &a).await.unwrap().unwrap();
    assert_eq!(req.items, 0, "an ECA block revokes nothing");
    assert_eq!(
        execute(&pool, s.keyring.clone(), req.id).await.unwrap(),
        Next::Done("succeeded".into())
    );
    assert!(s.sim.sim.is_disabled(&key), "isEnabled=false deployed");
    assert_eq!(
        s.sim.sim.tokens_for_app(&app_name),
        tokens_before,
        "grants kept"
    );
    assert!(s.sim.sim.revoke_calls().is_empty(), "no revoke calls");

    let mut u = action(s.org, ActionKind::UnblockApp, "eca-unblock");
    u.app_key = Some(&app_key);
    let req = request(&pool, &u).await.unwrap().unwrap();
    assert_eq!(
        execute(&pool, s.keyring.clone(), req.id).await.unwrap(),
        Next::Done("succeeded".into())
    );
    assert!(!s.sim.sim.is_disabled(&key));
    assert_eq!(
        audit_actions(&pool).await,
        [
            ("action.requested".to_owned(), Some("pending".to_owned())),
            ("action.completed".to_owned(), Some("succeeded".to_owned())),
            ("action.requested".to_owned(), Some("pending".to_owned())),
            ("action.completed".to_owned(), Some("succeeded".to_owned())),
        ]
    );
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn no_audit_no_action(pool: PgPool) {
    let s = setup(&pool, 1_000).await;
    let (app_key, app_name, _, _) = busy_app(&pool, s.org).await;
    sqlx::raw_sql(
        "CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
         CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION fail_audit();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let before = s.sim.sim.tokens_for_app(&app_name);
    let mut a = action(s.org, ActionKind::RevokeAppAll, "k5");
    a.app_key = Some(&app_key);
    assert!(
        request(&pool, &a).await.is_err(),
        "an action that cannot be audited is refused"
    );
    let actions: i64 = sqlx::query_scalar("SELECT count(*) FROM actions")
        .fetch_one(&pool)
        .await
        .unwrap();
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'action'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((actions, jobs), (0, 0));
    assert_eq!(s.sim.sim.tokens_for_app(&app_name), before);
}

/// A Revoke All of the busiest app of a fresh org of 2,000 tokens:
/// the org, the app's name, the request.
async fn revoke_all_of_the_busiest_app(
    pool: &PgPool,
    key: &str,
) -> (Setup, String, cockpit_db::actions::Requested) {
    let s = setup(pool, 2_000).await;
    let (app_key, app_name, _, _) = busy_app(pool, s.org).await;
    let mut a = action(s.org, ActionKind::RevokeAppAll, key);
    a.app_key = Some(&app_key);
    let req = request(pool, &a).await.unwrap().unwrap();
    (s, app_name, req)
}

/// Works the job table the way `serve` does, with the clock skipped past
/// every backoff, until the action has finished.
async fn run_jobs_until_finished(pool: &PgPool, s: &Setup, id: i64) -> String {
    let config = cockpit_worker::runner::RunnerConfig::default();
    for _ in 0..200 {
        sqlx::query("UPDATE jobs SET run_after = now() WHERE kind = 'action'")
            .execute(pool)
            .await
            .unwrap();
        cockpit_worker::runner::run_one(pool, &s.keyring, &config)
            .await
            .unwrap();
        let status: String = sqlx::query_scalar("SELECT status FROM actions WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
        if !matches!(status.as_str(), "pending" | "running") {
            return status;
        }
    }
    panic!("action {id} never finished");
}

/// Each of the action's authorizations was named in exactly one revoke call.
async fn revoked_once_each(pool: &PgPool, s: &Setup, id: i64) {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT token_id FROM action_items WHERE action_id = $1")
            .bind(id)
            .fetch_all(pool)
            .await
            .unwrap();
    let calls = s.sim.sim.revoke_calls();
    for t in &ids {
        assert_eq!(calls.get(t), Some(&1), "revoke calls naming {t}");
    }
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn an_error_opening_the_session_is_retried_not_the_end_of_the_action(pool: PgPool) {
    let (s, app_name, req) = revoke_all_of_the_busiest_app(&pool, "k-session").await;
    // The very next call to the org (the executor's first) answers 503.
    s.sim.sim.set_fault(sfsim::Fault::ServerErrorOnNth(1));
    let next = execute(&pool, s.keyring.clone(), req.id).await.unwrap();
    assert!(
        matches!(&next, Next::Retry { why, progressed: false } if why.contains("503")),
        "{next:?}"
    );
    let counts = cockpit_db::actions::item_counts(&pool, req.id)
        .await
        .unwrap();
    assert_eq!(counts.pending, req.items, "nothing was decided yet");
    // The job takes it up again, and every token goes, each revoked once.
    assert_eq!(
        run_jobs_until_finished(&pool, &s, req.id).await,
        "succeeded"
    );
    assert_eq!(s.sim.sim.tokens_for_app(&app_name), 0);
    revoked_once_each(&pool, &s, req.id).await;
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn an_org_failing_a_third_of_its_calls_still_loses_every_token_once(pool: PgPool) {
    let (s, app_name, req) = revoke_all_of_the_busiest_app(&pool, "k-rate").await;
    s.sim.sim.set_fault(sfsim::Fault::ServerErrorRate(0.3));
    let status = run_jobs_until_finished(&pool, &s, req.id).await;
    let counts = cockpit_db::actions::item_counts(&pool, req.id)
        .await
        .unwrap();
    assert_eq!(counts.pending, 0, "no item is left pending ({status})");
    s.sim.sim.clear_faults();
    if counts.failed > 0 {
        cockpit_db::actions::retry(&pool, req.id, "user:alice@example.com")
            .await
            .unwrap();
        assert_eq!(
            run_jobs_until_finished(&pool, &s, req.id).await,
            "succeeded"
        );
    }
    assert_eq!(s.sim.sim.tokens_for_app(&app_name), 0);
    revoked_once_each(&pool, &s, req.id).await;
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn retrying_what_failed_gives_the_items_fresh_attempts(pool: PgPool) {
    let (s, app_name, req) = revoke_all_of_the_busiest_app(&pool, "k-retry").await;
    let before = s.sim.sim.tokens_for_app(&app_name);
    // Every revoke call fails until the org recovers.
    s.sim.sim.set_fault(sfsim::Fault::ServerErrorOnPath(
        "/services/oauth2/revoke".into(),
    ));
    assert_eq!(run_jobs_until_finished(&pool, &s, req.id).await, "failed");
    let counts = cockpit_db::actions::item_counts(&pool, req.id)
        .await
        .unwrap();
    assert_eq!((counts.failed, counts.pending), (req.items, 0));
    assert_eq!(s.sim.sim.tokens_for_app(&app_name), before);
    assert!(
        s.sim.sim.revoke_calls().is_empty(),
        "no revoke reached the org"
    );

    s.sim.sim.clear_faults();
    cockpit_db::actions::retry(&pool, req.id, "user:alice@example.com")
        .await
        .unwrap();
    assert_eq!(
        run_jobs_until_finished(&pool, &s, req.id).await,
        "succeeded"
    );
    assert_eq!(s.sim.sim.tokens_for_app(&app_name), 0);
    revoked_once_each(&pool, &s, req.id).await;
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn an_org_that_never_answers_ends_the_action_with_every_item_failed(pool: PgPool) {
    let (s, _, req) = revoke_all_of_the_busiest_app(&pool, "k-down").await;
    s.sim.sim.set_fault(sfsim::Fault::ServerErrorRate(1.0));
    assert_eq!(run_jobs_until_finished(&pool, &s, req.id).await, "failed");
    let items = cockpit_db::actions::items(&pool, req.id, None, i64::MAX)
        .await
        .unwrap();
    assert!(
        items
            .iter()
            .all(|i| i.status == "failed" && i.error.as_deref().unwrap_or("").contains("503")),
        "every item failed with the reason"
    );
    let runs: i32 =
        sqlx::query_scalar("SELECT count(*)::int FROM audit_log WHERE action = 'action.completed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(runs, 1);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn an_org_that_refuses_crowds_gets_fewer_calls_and_loses_every_token_once(pool: PgPool) {
    let (s, app_name, req) = revoke_all_of_the_busiest_app(&pool, "k-crowd").await;
    // Slow revokes, and the org refuses a fourth call in flight.
    s.sim.sim.set_fault(sfsim::Fault::RevokeLatency(
        std::time::Duration::from_millis(30),
    ));
    s.sim.sim.set_fault(sfsim::Fault::MaxInFlight(3));
    let mut next = cockpit_worker::actions::execute_with(&pool, s.keyring.clone(), req.id, 8)
        .await
        .unwrap();
    // Pushed back hard enough, the action waits and runs again.
    for _ in 0..20 {
        if !matches!(next, Next::Later(..) | Next::Retry { .. }) {
            break;
        }
        next = cockpit_worker::actions::execute_with(&pool, s.keyring.clone(), req.id, 8)
            .await
            .unwrap();
    }
    assert_eq!(next, Next::Done("succeeded".into()));
    assert_eq!(s.sim.sim.tokens_for_app(&app_name), 0);
    revoked_once_each(&pool, &s, req.id).await;
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_grant_made_after_the_plan_is_revoked_too(pool: PgPool) {
    let (s, app_name, req) = revoke_all_of_the_busiest_app(&pool, "k-late").await;
    // After the confirmation, before the action runs, someone authorizes
    // the app again.
    let (username, _) = s.sim.sim.ordinary_user();
    let late = s.sim.sim.grant(&app_name, &username).unwrap();
    assert_eq!(
        execute(&pool, s.keyring.clone(), req.id).await.unwrap(),
        Next::Done("succeeded".into())
    );
    assert_eq!(s.sim.sim.tokens_for_app(&app_name), 0, "the late grant too");
    let status: String = sqlx::query_scalar(
        "SELECT status FROM action_items WHERE action_id = $1 AND token_id = $2",
    )
    .bind(req.id)
    .bind(&late)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(status, "revoked");
    revoked_once_each(&pool, &s, req.id).await;
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_containment_blocks_before_it_revokes_whichever_job_comes_first(pool: PgPool) {
    let s = setup(&pool, 2_000).await;
    let (app_key, app_name, _, _) = busy_app(&pool, s.org).await;
    let (_, created) = common::declare_and_contain(&pool, s.org, &app_key, &app_name).await;
    let [block, revoke] = created[..] else {
        panic!("a block and a revocation: {created:?}")
    };
    // The revocation's job is taken first: it waits for the block.
    assert!(matches!(
        execute(&pool, s.keyring.clone(), revoke).await.unwrap(),
        Next::Later(..)
    ));
    assert!(
        s.sim.sim.tokens_for_app(&app_name) > 0,
        "nothing revoked yet"
    );
    assert_eq!(
        execute(&pool, s.keyring.clone(), block).await.unwrap(),
        Next::Done("succeeded".into())
    );
    assert_eq!(
        execute(&pool, s.keyring.clone(), revoke).await.unwrap(),
        Next::Done("succeeded".into())
    );
    assert_eq!(s.sim.sim.tokens_for_app(&app_name), 0);
}
