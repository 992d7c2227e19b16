//! The review routine on sfsim data: import an inventory, run a monthly
//! review to completion, and a quarterly audit whose revocations are
//! verified in sfsim and listed in its evidence.

use cockpit_db::reviews;
use cockpit_domain::inventory::parse_csv;
use cockpit_worker::actions::{Next, execute};
use sfsim::SimConfig;
use sqlx::PgPool;

mod common;
use common::{SimOrg, synced_sim_org};

const ACTOR: &str = "user:rita@example.com";

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn inventory_monthly_review_and_quarterly_audit(pool: PgPool) {
    let SimOrg { sim, keyring, org } = synced_sim_org(
        &pool,
        SimConfig {
            tokens: 3_000,
            users: 600,
            apps: 25,
            ..SimConfig::default()
        },
        3,
    )
    .await;

    // Inventory: two apps seen in the org, one approved with a tiny expected population.
    let names: Vec<String> = sqlx::query_scalar("SELECT a.name FROM sf_apps a JOIN app_summary s USING (org_id, app_key) WHERE a.org_id = $1 AND a.name !~ '[<>\"]' ORDER BY s.users DESC LIMIT 2")
        .bind(org)
        .fetch_all(&pool)
        .await
        .unwrap();
    let csv = format!(
        "name,status,expected_users\n\"{}\",approved,1\n\"{}\",not_approved,\n",
        names[0], names[1]
    );
    let entries = parse_csv(csv.as_bytes()).unwrap();
    cockpit_db::inventory::import(&pool, &entries, ACTOR)
        .await
        .unwrap();

    // Monthly review: leavers and an app beyond its expected population are listed.
    let monthly = reviews::start_monthly(&pool, &[org], ACTOR).await.unwrap();
    let items = reviews::items(&pool, monthly, 10_000).await.unwrap();
    let categories: std::collections::BTreeSet<&str> =
        items.iter().map(|i| i.category.as_str()).collect();
    assert!(categories.contains("leaver"), "{categories:?}");
    assert!(categories.contains("over_expected"), "{categories:?}");
    assert!(
        categories.contains("new_app"),
        "first review: every app is new: {categories:?}"
    );
    assert_eq!(
        reviews::complete(&pool, monthly, ACTOR).await.unwrap(),
        Err(items.len() as i64),
        "undecided items block completion"
    );
    let seqs: Vec<i32> = items.iter().map(|i| i.seq).collect();
    reviews::decide(
        &pool,
        monthly,
        &seqs,
        "accepted",
        Some("known and expected"),
        ACTOR,
    )
    .await
    .unwrap();
    assert_eq!(
        reviews::complete(&pool, monthly, ACTOR).await.unwrap(),
        Ok(())
    );
    assert!(
        reviews::get(&pool, monthly)
            .await
            .unwrap()
            .unwrap()
            .completed_at
            .is_some()
    );

    // Quarterly audit: revoke the stale authorizations of one app, keep the rest.
    let quarterly = reviews::start_quarterly(&pool, &[org], ACTOR, 90)
        .await
        .unwrap();
    let items = reviews::items(&pool, quarterly, 100_000).await.unwrap();
    assert!(!items.is_empty(), "sfsim has stale grants");
    let app = items[0].app_key.clone().unwrap();
    let (revoke, keep): (Vec<_>, Vec<_>) = items
        .iter()
        .partition(|i| i.app_key.as_deref() == Some(app.as_str()));
    let revoke_seqs: Vec<i32> = revoke.iter().map(|i| i.seq).collect();
    let keep_seqs: Vec<i32> = keep.iter().map(|i| i.seq).collect();
    reviews::decide(
        &pool,
        quarterly,
        &revoke_seqs,
        "revoke",
        Some("unused for a quarter"),
        ACTOR,
    )
    .await
    .unwrap();
    reviews::decide(
        &pool,
        quarterly,
        &keep_seqs,
        "keep",
        Some("owner confirmed"),
        ACTOR,
    )
    .await
    .unwrap();
    let actions = reviews::send_revocations(&pool, quarterly, &[org], ACTOR, &|_, _| None)
        .await
        .unwrap();
    assert_eq!(actions.len(), 1, "one bulk action for the org");
    assert_eq!(
        execute(&pool, keyring.clone(), actions[0]).await.unwrap(),
        Next::Done("succeeded".into())
    );
    let revoked_ids: Vec<String> = revoke.iter().filter_map(|i| i.token_id.clone()).collect();
    for id in &revoked_ids {
        assert!(
            sim.sim.refresh_token_of(id).is_none(),
            "{id} still live in sfsim"
        );
    }
    reviews::complete(&pool, quarterly, ACTOR)
        .await
        .unwrap()
        .unwrap();
    let evidence = reviews::items(&pool, quarterly, 100_000).await.unwrap();
    assert_eq!(
        evidence.len(),
        items.len(),
        "every decision is in the evidence"
    );
    for item in &evidence {
        assert!(item.decided_by.is_some() && item.decided_at.is_some());
        if item.decision.as_deref() == Some("revoke") {
            assert_eq!(
                item.outcome.as_deref(),
                Some("revoked"),
                "verified outcome for {:?}",
                item.token_id
            );
        }
    }
}
