//! End to end, in a real browser, the moment the product exists for: a
//! vendor's tokens are stolen. An admin searches the app, declares an
//! incident in both orgs, asks to contain it; a second admin approves; both
//! orgs end with the app blocked and none of its authorizations left. The
//! attacker then replays a stolen refresh token, the next sync sees it, and
//! it is on the incident's timeline and its evidence. Screenshots go to
//! `target/e2e-screenshots/` (`incident-*`).

use std::time::Duration;

use fantoccini::Locator;

mod common;
use common::browser::{
    ADMIN, Stage, click, cockpit, confirm_password_if_asked, expect, seed, shot, sign_in, sign_out,
    text, type_into,
};

/// The second admin, who approves.
const APPROVER: (&str, &str) = ("bea@example.com", "second pair of eyes please");

#[sqlx::test(migrations = false)]
async fn a_stolen_app_is_found_contained_with_approval_and_watched(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    if !common::browser::browser_here("a_stolen_app_is_found_contained_with_approval_and_watched") {
        return;
    }
    let db = common::db_url(&opts);
    let acme = common::SimOrg::start(1_500, 300, 20).await;
    let globex = common::SimOrg::start(1_500, 300, 20).await;
    seed(&db, &acme, &[(ADMIN, "admin"), (APPROVER, "admin")]).await;
    let (db2, add) = (db.clone(), globex.org_add("Globex"));
    tokio::task::spawn_blocking(move || {
        cockpit(&db2, &common::strs(&add), None);
        cockpit(&db2, &["sync"], None);
    })
    .await
    .unwrap();
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    // The app both orgs have authorized most: the vendor's integration.
    let app: String = sqlx::query_scalar(
        "SELECT a.name FROM sf_apps a JOIN app_summary s USING (org_id, app_key)
         WHERE a.kind = 'connected_app' AND a.installed AND s.tokens > 0
         GROUP BY a.name HAVING count(DISTINCT a.org_id) = 2 ORDER BY min(s.tokens) DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // A refresh token the attacker stole from Acme before anyone knew.
    let stolen_id: String = sqlx::query_scalar(
        "SELECT t.id FROM sf_tokens t JOIN orgs o ON o.id = t.org_id
         WHERE o.name = 'Acme' AND t.app_name = $1 AND t.gone_at IS NULL LIMIT 1",
    )
    .bind(&app)
    .fetch_one(&pool)
    .await
    .unwrap();
    let stolen = acme.sim.sim.refresh_token_of(&stolen_id).unwrap();

    let stage = Stage::start(&db, &[]).await;
    let (b, base) = (stage.b.clone(), stage.base.clone());
    sign_in(&b, &base, ADMIN).await;

    // Where is it? Then declare, confirming the match in each org.
    let q: String = url::form_urlencoded::byte_serialize(app.as_bytes()).collect();
    stage.goto(&format!("/apps/where?q={q}")).await;
    expect(&b, "table.where").await;
    shot(&b, "incident-01-where").await;
    stage.goto(&format!("/incidents/new?q={q}")).await;
    expect(&b, "form.declare").await;
    let boxes = b.find_all(Locator::Css("input[name=app]")).await.unwrap();
    assert_eq!(boxes.len(), 2, "the app in both orgs");
    for c in boxes {
        c.click().await.unwrap();
    }
    type_into(&b, "#n-title", "Vendor integration tokens stolen").await;
    type_into(&b, "#n-ticket", "SEC-2031").await;
    click(&b, "form.declare button[type=submit]").await;
    expect(&b, "section.danger-zone").await;
    let incident = b.current_url().await.unwrap().path().to_owned();

    // Asking to contain waits for a second admin.
    type_into(
        &b,
        "#c-reason",
        "Vendor advisory: tokens stolen; contain everywhere",
    )
    .await;
    click(&b, "section.danger-zone button[type=submit]").await;
    confirm_password_if_asked(&b, ADMIN.1).await;
    expect(&b, "section.approval-waiting").await;
    assert!(
        text(&b, "section.approval-waiting")
            .await
            .contains("You made this request")
    );
    shot(&b, "incident-02-waiting").await;
    sign_out(&b).await;

    // The second admin approves.
    sign_in(&b, &base, APPROVER).await;
    stage.goto(&incident).await;
    expect(&b, "#a-reason").await;
    shot(&b, "incident-03-approve").await;
    type_into(&b, "#a-reason", "Checked the advisory with the vendor").await;
    click(&b, "section.approval-waiting button.danger").await;
    confirm_password_if_asked(&b, APPROVER.1).await;
    let id: i64 = incident.trim_start_matches("/incidents/").parse().unwrap();
    let mut finished = false;
    for _ in 0..240 {
        let (all, done): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE status NOT IN ('pending', 'running'))
             FROM actions WHERE incident_id = $1",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
        if all == 4 && done == 4 {
            finished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(finished, "the containment finished");
    stage.goto(&incident).await;
    expect(&b, "table.incident-apps").await;
    shot(&b, "incident-04-contained").await;
    let statuses = text(&b, "table.incident-apps").await;
    assert_eq!(statuses.matches("succeeded").count(), 4, "{statuses}");
    for (name, org) in [("Acme", &acme), ("Globex", &globex)] {
        assert_eq!(
            org.sim.sim.tokens_for_app(&app),
            0,
            "no token of the app left in {name}"
        );
        let key: String = sqlx::query_scalar(
            "SELECT a.consumer_key FROM sf_apps a JOIN orgs o ON o.id = a.org_id WHERE o.name = $1 AND a.name = $2",
        )
        .bind(name)
        .bind(&app)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(org.sim.sim.is_blocked(&key), "blocked in {name}");
    }

    // The attacker replays the stolen token; the next sync sees it.
    let res = acme
        .sim
        .replay_refresh(&reqwest::Client::new(), &app, &stolen)
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "refused while blocked");
    let db2 = db.clone();
    tokio::task::spawn_blocking(move || cockpit(&db2, &["sync"], None))
        .await
        .unwrap();
    stage.goto(&incident).await;
    expect(&b, "section.watch-findings").await;
    assert!(
        text(&b, "section.watch-findings")
            .await
            .contains("failed OAuth logins")
    );
    assert!(
        text(&b, "table.timeline")
            .await
            .contains("watch_failed_logins")
    );
    shot(&b, "incident-05-watch").await;
    stage.goto("/").await;
    expect(&b, "p.watch-alert").await;

    // The evidence lists every step.
    stage.goto(&format!("{incident}/evidence")).await;
    let evidence = text(&b, "main").await;
    for step in [
        "declared",
        "approval_requested",
        "approved",
        "contain_requested",
        "action.requested",
        "action.completed",
        "watch_failed_logins",
    ] {
        assert!(evidence.contains(step), "{step} in the evidence");
    }
    shot(&b, "incident-06-evidence").await;
}
