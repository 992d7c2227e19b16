//! Revoke and block against sfsim: durable intent, execution, verification,
//! and the audit trail.

use cockpit_db::actions::{ActionKind, NewAction, request};
use cockpit_worker::actions::{Next, execute};
use sfsim::SimConfig;
use sqlx::PgPool;
use uuid::Uuid;

mod common;
use common::{SimOrg as Setup, synced_sim_org};

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

/// The busiest installed connected app and one of its users.
async fn busy_app(pool: &PgPool, org: Uuid) -> (String, String, String) {
    sqlx::query_as(
        "SELECT a.app_key, a.name, (SELECT user_id FROM sf_tokens t WHERE t.org_id = a.org_id AND t.app_key = a.app_key LIMIT 1)
         FROM sf_apps a JOIN app_summary s USING (org_id, app_key)
         WHERE a.org_id = $1 AND a.kind = 'connected_app' AND a.installed ORDER BY s.tokens DESC LIMIT 1",
    )
    .bind(org)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../../migrations")]
async fn revoke_one_users_authorizations_for_an_app(pool: PgPool) {
    let s = setup(&pool, 2_000).await;
    let (app_key, app_name, user) = busy_app(&pool, s.org).await;
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

#[sqlx::test(migrations = "../../migrations")]
async fn a_resumed_action_never_revokes_twice(pool: PgPool) {
    let s = setup(&pool, 2_000).await;
    let (app_key, app_name, _) = busy_app(&pool, s.org).await;
    let mut a = action(s.org, ActionKind::RevokeAppAll, "k2");
    a.app_key = Some(&app_key);
    let req = request(&pool, &a).await.unwrap().unwrap();
    // As if a previous run revoked some and died before recording them: the
    // tokens are gone from Salesforce, the items still pending.
    let items = cockpit_db::actions::pending_items(&pool, req.id, 3)
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

#[sqlx::test(migrations = "../../migrations")]
async fn block_then_unblock_an_app(pool: PgPool) {
    let s = setup(&pool, 2_000).await;
    let (app_key, app_name, _) = busy_app(&pool, s.org).await;
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
        0,
        "blocking removes every token"
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

#[sqlx::test(migrations = "../../migrations")]
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

#[sqlx::test(migrations = "../../migrations")]
async fn no_audit_no_action(pool: PgPool) {
    let s = setup(&pool, 1_000).await;
    let (app_key, app_name, _) = busy_app(&pool, s.org).await;
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
