//! End to end, in a real browser, "were we hit?": sfsim stages an attack
//! with a stolen grant of "Drift" in the production org; after a sync the
//! overview shows the hit of the shipped Drift indicators, the hunt with
//! that set names the org, the app, the addresses and the user agents, one
//! click declares an incident for it, and the app's page shows the new
//! networks and user agents it was called from (also amber on the
//! overview), each marked reviewed in one click. Screenshots go to `target/e2e-screenshots/`
//! (`hunt-*`).

use chrono::{Duration, TimeZone, Utc};
use fantoccini::Locator;

mod common;
use common::browser::{ADMIN, Stage, expect, seed, shot, sign_in, text, wait_path};

#[sqlx::test(migrations = false)]
async fn a_staged_attack_is_found_hunted_and_declared(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    if !common::browser::browser_here("a_staged_attack_is_found_hunted_and_declared") {
        return;
    }
    let db = common::db_url(&opts);
    // Busy enough that Drift is used on most days: its quiet days are the
    // baseline the attack's networks are new to.
    let acme = common::SimOrg::start_with(sfsim::SimConfig {
        tokens: 1_500,
        users: 300,
        apps: 20,
        log_rows_per_day: Some(3_000),
        ..sfsim::SimConfig::default()
    })
    .await;
    // Yesterday, an hour of calls with a stolen grant of Drift.
    let day = acme.sim.sim.now().date_naive() - chrono::Days::new(1);
    let midnight = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap());
    let staged = acme
        .sim
        .sim
        .stage_attack(sfsim::AttackSpec {
            app: "Drift".into(),
            from: midnight + Duration::hours(1),
            to: midnight + Duration::hours(2),
            ips: Vec::new(),
            user_agents: Vec::new(),
            requests: Some(200),
        })
        .unwrap();
    // The org is added and synced: its logs are archived and the shipped
    // indicator sets matched against them.
    seed(&db, &acme, &[(ADMIN, "admin")]).await;

    let stage = Stage::start(&db, &[]).await;
    let b = stage.b.clone();
    sign_in(&b, &stage.base, ADMIN).await;

    // The overview's red signal.
    stage.goto("/").await;
    expect(&b, ".indicator-alert").await;
    let alert = text(&b, ".indicator-alert").await;
    assert!(
        alert.contains("Drift in Acme") && alert.contains("Salesloft Drift"),
        "{alert}"
    );
    expect(&b, ".new-sources-alert").await;
    let amber = text(&b, ".new-sources-alert").await;
    assert!(
        amber.contains("Drift in Acme") && amber.contains("new network"),
        "{amber}"
    );
    shot(&b, "hunt-01-overview").await;

    // A hunt with the shipped Drift set.
    stage.goto("/indicators").await;
    b.find(Locator::XPath(
        "//table[contains(@class,'sets')]//a[contains(., 'Drift')]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    expect(&b, "table.indicators").await;
    shot(&b, "hunt-02-set").await;
    b.find(Locator::XPath(
        "//button[contains(., 'Hunt with this set')]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    expect(&b, "table.hits").await;
    let hits = text(&b, "table.hits").await;
    assert!(hits.contains("Acme") && hits.contains("Drift"), "{hits}");
    for ip in &staged.ips {
        assert!(hits.contains(ip.as_str()), "{ip} in {hits}");
    }
    assert!(hits.contains("Salesforce-Multi-Org-Fetcher/1.0"), "{hits}");
    shot(&b, "hunt-03-results").await;

    // One click: an incident for Drift in Acme.
    b.find(Locator::Css("form.declare-from-hit button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        wait_path(&b, |p| p.starts_with("/incidents/")
            && p != "/incidents/new")
        .await,
        "the incident is declared"
    );
    expect(&b, "table.incident-apps").await;
    let apps = text(&b, "table.incident-apps").await;
    assert!(apps.contains("Drift") && apps.contains("Acme"), "{apps}");
    shot(&b, "hunt-04-incident").await;

    // Where Drift calls from, and the new networks.
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let app: i64 = sqlx::query_scalar("SELECT id FROM sf_apps WHERE name = 'Drift'")
        .fetch_one(&pool)
        .await
        .unwrap();
    stage.goto(&format!("/apps/{app}#sources")).await;
    expect(&b, "#sources .new-sources").await;
    let new = text(&b, "#sources .new-sources").await;
    assert!(new.contains("185.220.101.0/24"), "{new}");
    shot(&b, "hunt-05-app-sources").await;

    // Each one reviewed in one click, by name.
    b.find(Locator::Css("#sources tr.new-source form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    expect(&b, "#sources tr.new-source.muted").await;
    let reviewed = text(&b, "#sources tr.new-source.muted").await;
    assert!(reviewed.contains("Reviewed by"), "{reviewed}");
}
