//! The two-person rule for single-org actions, as an operator sets it
//! (`block,revoke_all,bulk:N`): the action is recorded but waits for a
//! second admin of its org, who approves (it is queued) or rejects; the
//! requester cannot approve their own; a request expires; a global admin
//! may break glass; the API answers 202.

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use cockpit_web::{AppState, TwoPersonRule};
use sqlx::PgPool;
use uuid::Uuid;

mod common;
use common::{BASE, get, person, post, seed_org, send_with};

fn state(pool: &PgPool) -> AppState {
    let mut state = AppState::new(pool.clone(), BASE);
    state.two_person = TwoPersonRule {
        expires_after: std::time::Duration::from_secs(3600),
        ..TwoPersonRule::parse("contain,block,revoke_all,bulk:1").unwrap()
    };
    state
}

async fn status_of(pool: &PgPool, id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM actions WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn jobs_for(pool: &PgPool, id: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE kind = 'action' AND payload->>'action_id' = $1::text",
    )
    .bind(id.to_string())
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Asks for a block of the seeded app through the form; returns the action.
async fn ask_block(state: &AppState, org: Uuid, cookie: &str, csrf: &str, key: &str) -> i64 {
    let body = format!(
        "csrf={csrf}&org={org}&kind=block_app&app=0H4AAA&reason=vendor+breach&idempotency_key={key}"
    );
    let (status, headers, page) =
        send_with(state, post("/actions", Some(cookie), Some(BASE), body)).await;
    assert!(status.is_redirection(), "{status} {page}");
    headers[header::LOCATION]
        .to_str()
        .unwrap()
        .trim_start_matches("/actions/")
        .parse()
        .unwrap()
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_block_waits_for_a_second_admin_of_its_org(pool: PgPool) {
    let state = state(&pool);
    let (org, _) = seed_org(&pool, "Acme").await;
    let (other_org, _) = seed_org(&pool, "Globex").await;
    let (ada, ada_csrf) = person(&pool, "ada@example.com", "admin", Some(org)).await;
    let (bob, bob_csrf) = person(&pool, "bob@example.com", "admin", Some(org)).await;
    let (eve, eve_csrf) = person(&pool, "eve@example.com", "admin", Some(other_org)).await;

    // The confirmation page says a second admin approves first.
    let (_, _, page) = send_with(
        &state,
        get(
            &format!("/actions/new?org={org}&kind=block_app&app=0H4AAA"),
            Some(&ada),
        ),
    )
    .await;
    assert!(page.contains("id=\"two-person\""), "{page}");
    assert!(page.contains("Ask a second admin"));
    let id = ask_block(&state, org, &ada, &ada_csrf, "block-key-0123456789").await;
    assert_eq!(status_of(&pool, id).await, "awaiting_approval");
    assert_eq!(jobs_for(&pool, id).await, 0, "nothing runs before approval");
    let (_, _, page) = send_with(&state, get(&format!("/actions/{id}"), Some(&ada))).await;
    assert!(page.contains("Waiting for a second admin"), "{page}");
    assert!(page.contains("You made this request"));
    assert!(
        !page.contains("/approve\""),
        "no approve form for the requester"
    );

    // The requester cannot approve their own request.
    let approve = |cookie: &str, csrf: &str, verb: &str| {
        post(
            &format!("/actions/{id}/{verb}"),
            Some(cookie),
            Some(BASE),
            format!("csrf={csrf}&reason=checked+with+the+vendor"),
        )
    };
    let (status, _, _) = send_with(&state, approve(&ada, &ada_csrf, "approve")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An admin of another org does not even see it.
    let (status, _, _) = send_with(&state, approve(&eve, &eve_csrf, "approve")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(status_of(&pool, id).await, "awaiting_approval");
    // A reason is required.
    let (status, _, _) = send_with(
        &state,
        post(
            &format!("/actions/{id}/approve"),
            Some(&bob),
            Some(BASE),
            format!("csrf={bob_csrf}&reason=+"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, _, page) = send_with(&state, get(&format!("/actions/{id}"), Some(&bob))).await;
    assert!(
        page.contains(&format!("action=\"/actions/{id}/approve\"")),
        "{page}"
    );
    let (status, _, _) = send_with(&state, approve(&bob, &bob_csrf, "approve")).await;
    assert!(status.is_redirection());
    assert_eq!(status_of(&pool, id).await, "pending");
    assert_eq!(jobs_for(&pool, id).await, 1, "queued once approved");
    // Deciding again finds nothing waiting.
    let (status, _, _) = send_with(&state, approve(&bob, &bob_csrf, "reject")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let audit: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE target->>'action' = $1::text ORDER BY seq",
    )
    .bind(id.to_string())
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(audit, ["action.requested", "action.approved"]);

    // A second request, rejected: it never runs.
    let id2 = ask_block(&state, org, &ada, &ada_csrf, "block-key-abcdefghij").await;
    let (status, _, _) = send_with(
        &state,
        post(
            &format!("/actions/{id2}/reject"),
            Some(&bob),
            Some(BASE),
            format!("csrf={bob_csrf}&reason=not+our+app"),
        ),
    )
    .await;
    assert!(status.is_redirection());
    assert_eq!(status_of(&pool, id2).await, "rejected");
    assert_eq!(jobs_for(&pool, id2).await, 0);
    // A retry cannot start what was rejected.
    send_with(
        &state,
        post(
            &format!("/actions/{id2}/retry"),
            Some(&ada),
            Some(BASE),
            format!("csrf={ada_csrf}"),
        ),
    )
    .await;
    assert_eq!(status_of(&pool, id2).await, "rejected");
    assert_eq!(jobs_for(&pool, id2).await, 0);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn requests_expire_and_a_global_admin_may_break_glass(pool: PgPool) {
    let state = state(&pool);
    let (org, _) = seed_org(&pool, "Acme").await;
    let (ada, ada_csrf) = person(&pool, "ada@example.com", "admin", Some(org)).await;
    let (root, root_csrf) = person(&pool, "root@example.com", "admin", None).await;

    let id = ask_block(&state, org, &ada, &ada_csrf, "expire-key-0123456789").await;
    sqlx::query(
        "UPDATE approvals SET expires_at = now() - interval '1 minute' WHERE action_id = $1",
    )
    .bind(id)
    .execute(&pool)
    .await
    .unwrap();
    // The worker's tick expires it, and its action, with nobody looking.
    assert_eq!(
        cockpit_db::action_approvals::expire_due(&pool)
            .await
            .unwrap(),
        1
    );
    assert_eq!(status_of(&pool, id).await, "expired");
    let (_, _, page) = send_with(&state, get(&format!("/actions/{id}"), Some(&ada))).await;
    assert!(!page.contains("Waiting for a second admin"));
    let expired: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'action.approval_expired'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(expired, 1);
    assert_eq!(jobs_for(&pool, id).await, 0);

    let id = ask_block(&state, org, &ada, &ada_csrf, "glass-key-0123456789").await;
    // An admin of the org alone cannot break glass.
    let (status, _, _) = send_with(
        &state,
        post(
            &format!("/actions/{id}/break-glass"),
            Some(&ada),
            Some(BASE),
            format!("csrf={ada_csrf}&reason=urgent"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send_with(
        &state,
        post(
            &format!("/actions/{id}/break-glass"),
            Some(&root),
            Some(BASE),
            format!("csrf={root_csrf}&reason=replay+seen+now"),
        ),
    )
    .await;
    assert!(status.is_redirection());
    assert_eq!(status_of(&pool, id).await, "pending");
    assert_eq!(jobs_for(&pool, id).await, 1);
    let (_, _, page) = send_with(&state, get(&format!("/actions/{id}"), Some(&ada))).await;
    assert!(page.contains("Glass broken"), "{page}");
    let glass: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'action.break_glass' AND reason = 'replay seen now'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(glass, 1);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn the_rule_applies_by_kind_and_size_and_the_api_answers_202(pool: PgPool) {
    let state = state(&pool);
    let (org, _) = seed_org(&pool, "Acme").await;
    let token = common::api_token(&pool, "admin").await;
    let create = |body: String| {
        Request::post("/api/v1/actions")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    // One authorization is under the bulk size: it goes at once.
    let (status, _, body) = send_with(
        &state,
        create(format!(
            r#"{{"org":"{org}","kind":"revoke_token","token":["0CQAAA"],"reason":"one","idempotency_key":"api-one-0123456789"}}"#
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Revoke All waits, answered 202 with its state.
    let (status, _, body) = send_with(
        &state,
        create(format!(
            r#"{{"org":"{org}","kind":"revoke_app_all","app":"0H4AAA","reason":"all","idempotency_key":"api-all-0123456789"}}"#
        )),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["action"]["status"], "awaiting_approval", "{v}");
    assert_eq!(v["approval"]["status"], "pending", "{v}");
    // The same key again: the same waiting action.
    let (status, _, again) = send_with(
        &state,
        create(format!(
            r#"{{"org":"{org}","kind":"revoke_app_all","app":"0H4AAA","reason":"all","idempotency_key":"api-all-0123456789"}}"#
        )),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["action"]["id"], v["action"]["id"]);
}

#[test]
fn the_setting_parses_and_says_what_is_wrong() {
    let r = TwoPersonRule::parse("contain, block,bulk:500").unwrap();
    assert!(r.contain && r.block && !r.revoke_all);
    assert_eq!(r.bulk_above, Some(500));
    let off = TwoPersonRule::parse("off").unwrap();
    assert!(!off.contain && !off.block && off.bulk_above.is_none());
    assert_eq!(off.describe(), None);
    assert_eq!(
        r.describe().as_deref(),
        Some("containments, blocks and unblocks, revocations of more than 500 authorizations")
    );
    use cockpit_db::actions::ActionKind;
    assert!(r.wait_for(ActionKind::BulkRevoke, 501).is_some());
    assert!(r.wait_for(ActionKind::BulkRevoke, 500).is_none());
    assert!(r.wait_for(ActionKind::UnblockApp, 0).is_some());
    assert!(r.wait_for(ActionKind::RevokeAppAll, 10_000).is_none());
    assert!(
        TwoPersonRule::parse("bulk:many")
            .unwrap_err()
            .contains("bulk:500")
    );
    assert!(TwoPersonRule::parse("everything").is_err());
}
