//! The log archive and indicator matching, end to end against sfsim: a
//! sync archives the Login and ApiTotalUsage logs, an attack staged with a
//! stolen grant of "Drift" is found by the shipped Drift indicators as the
//! logs arrive (and on an open incident's timeline), and a hunt names the
//! org, the app, the addresses and the user agents.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use cockpit_domain::secret::{Keyring, MasterKey};
use cockpit_worker::sync::{SyncSettings, sync_org};
use sfsim::{AttackSpec, Sim, SimConfig};
use sqlx::PgPool;
use uuid::Uuid;

fn keyring() -> Arc<Keyring> {
    Arc::new(Keyring::new(MasterKey::from_bytes([42; 32]), vec![]))
}

async fn count(pool: &PgPool, sql: &'static str, org: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(org)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Log lines the org's archived files held, and the calls and logins the
/// archive counted from them.
async fn lines_and_counted(pool: &PgPool, org: Uuid) -> (i64, i64) {
    let lines = count(
        pool,
        "SELECT coalesce(sum(lines), 0)::int8 FROM log_files WHERE org_id = $1",
        org,
    )
    .await;
    let counted = count(
        pool,
        "SELECT coalesce(sum(requests), 0)::int8 FROM log_activity WHERE org_id = $1 AND file_id IS NOT NULL",
        org,
    )
    .await;
    (lines, counted)
}

async fn sync(pool: &PgPool, keyring: &Arc<Keyring>, org: Uuid) {
    sync_org(pool, keyring.clone(), org, "cli", &SyncSettings::default())
        .await
        .expect("the sync succeeds");
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_staged_attack_is_archived_matched_and_named(pool: PgPool) {
    let sim = Sim::spawn(SimConfig {
        tokens: 3_000,
        users: 900,
        apps: 25,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    // The attack: yesterday (by the simulator's clock), an hour of calls
    // with a stolen grant of Drift.
    let day = sim.sim.now().date_naive() - chrono::Days::new(1);
    let midnight = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap());
    let (from, to) = (midnight + Duration::hours(1), midnight + Duration::hours(2));
    let staged = sim
        .sim
        .stage_attack(AttackSpec {
            app: "Drift".into(),
            from,
            to,
            ips: Vec::new(),
            user_agents: Vec::new(),
            requests: Some(300),
        })
        .unwrap();
    let keyring = keyring();
    cockpit_db::hunts::install_shipped(&pool).await.unwrap();
    let org = cockpit_worker::testing::connect_sim(&pool, &keyring, "Acme production", &sim).await;
    sync(&pool, &keyring, org).await;

    // Every daily file the org lists, once, none failed.
    let files = count(
        &pool,
        "SELECT count(*) FROM log_files WHERE org_id = $1 AND status = 'archived'",
        org,
    )
    .await;
    let types = count(
        &pool,
        "SELECT count(DISTINCT event_type) FROM log_files WHERE org_id = $1",
        org,
    )
    .await;
    assert!(files >= 2 && types == 2, "{files} files of {types} types");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM log_files WHERE org_id = $1 AND status = 'failed'",
            org
        )
        .await,
        0
    );
    let (lines, summed) = lines_and_counted(&pool, org).await;
    assert!(lines > 0);
    assert_eq!(summed, lines, "every line read is counted once");
    assert!(
        count(
            &pool,
            "SELECT count(*) FROM log_activity WHERE org_id = $1 AND source = 'login' AND app_key IS NOT NULL",
            org
        )
        .await
            > 0,
        "Login rows get the app the same person called from the same address"
    );

    // Found as the logs arrived: Drift's calls in the attack's hour, and
    // nothing on the quiet days around it.
    let drift: String =
        sqlx::query_scalar("SELECT app_key FROM sf_apps WHERE org_id = $1 AND name = 'Drift'")
            .bind(org)
            .fetch_one(&pool)
            .await
            .unwrap();
    let live = cockpit_db::hunts::live_hits(&pool, &[org], 500)
        .await
        .unwrap();
    assert!(!live.is_empty(), "the attack is found as its logs arrive");
    for h in &live {
        assert!(
            h.app_key.is_none() || h.app_key.as_deref() == Some(drift.as_str()),
            "only Drift's calls match: {h:?}"
        );
        assert!(
            h.first_seen >= from && h.last_seen < to,
            "only the attack's hour: {h:?}"
        );
    }
    assert!(
        live.iter()
            .any(|h| h.kind == "ip" && h.value == "208.68.36.90")
    );
    assert!(
        live.iter()
            .any(|h| h.kind == "user_agent" && h.value == "Salesforce-Multi-Org-Fetcher/1.0")
    );

    // "New network" and "new user agent", found as the logs arrived: the
    // attack's networks and clients for Drift, and nothing else in the org
    // (no other app, no quiet day before the attack).
    let month_ago = day - chrono::Days::new(30);
    let new = cockpit_db::sources::of_app(&pool, org, &drift, month_ago)
        .await
        .unwrap();
    let attack_nets: std::collections::BTreeSet<String> = staged
        .ips
        .iter()
        .map(|ip| {
            let o: Vec<&str> = ip.split('.').collect();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        })
        .collect();
    assert!(
        new.iter().any(|n| n.is_network()),
        "the attack raises new networks: {new:?}"
    );
    assert!(
        new.iter().any(|n| !n.is_network()),
        "the attack raises new user agents: {new:?}"
    );
    for n in &new {
        if n.is_network() {
            assert!(attack_nets.contains(&n.value), "{n:?} is not the attack's");
        } else {
            assert!(
                staged.user_agents.contains(&n.value),
                "{n:?} is not the attack's"
            );
        }
        assert_eq!(n.first_day, day);
        assert!(n.first_seen >= from && n.first_seen < to, "{n:?}");
    }
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM new_sources WHERE org_id = $1",
            org
        )
        .await,
        new.len() as i64,
        "no other app of the org is flagged"
    );
    let open = cockpit_db::sources::open_apps(&pool, &[org], month_ago, 10)
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].app_name.as_deref(), Some("Drift"));
    assert!(
        cockpit_db::sources::acknowledge(&pool, new[0].id, org, "user:t")
            .await
            .unwrap()
    );
    assert!(
        !cockpit_db::sources::acknowledge(&pool, new[0].id, org, "user:t")
            .await
            .unwrap(),
        "reviewed once"
    );

    // With an incident open for Drift, the hits go on its timeline.
    let incident: i64 = sqlx::query_scalar(
        "INSERT INTO incidents (title, severity, query, declared_by) VALUES ('Drift', 'high', 'Drift', 'user:t') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO incident_apps (incident_id, org_id, app_key, matched_by) VALUES ($1, $2, $3, 'name')")
        .bind(incident)
        .bind(org)
        .bind(&drift)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM hunt_hits WHERE hunt_id IS NULL")
        .execute(&pool)
        .await
        .unwrap();
    let again = cockpit_db::hunts::match_active(&pool, org).await.unwrap();
    assert_eq!(again.len(), live.len());
    let on_timeline = count(
        &pool,
        "SELECT count(*) FROM incident_events WHERE org_id = $1 AND kind = 'indicator_hit'",
        org,
    )
    .await;
    assert_eq!(
        on_timeline as usize,
        live.iter().filter(|h| h.app_key.is_some()).count(),
        "each hit of the app once on the open incident's timeline"
    );
    assert!(
        cockpit_db::hunts::match_active(&pool, org)
            .await
            .unwrap()
            .is_empty(),
        "a hit seen before is not news"
    );
    assert!(
        cockpit_db::sources::detect(&pool, org, month_ago)
            .await
            .unwrap()
            .is_empty(),
        "a new source found before is not news again"
    );
    sqlx::query("DELETE FROM new_sources")
        .execute(&pool)
        .await
        .unwrap();
    let found = cockpit_db::sources::detect(&pool, org, month_ago)
        .await
        .unwrap();
    assert_eq!(found.len(), new.len());
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM incident_events WHERE org_id = $1 AND kind = 'new_source'",
            org
        )
        .await,
        new.len() as i64,
        "each new source of the app once on the open incident's timeline"
    );

    // A hunt with the shipped Drift set names the org, app, addresses and
    // user agents.
    let sets = cockpit_db::hunts::sets(&pool).await.unwrap();
    let drift_set = sets.iter().find(|s| s.name.contains("Drift")).unwrap();
    let hunt = cockpit_db::hunts::run(&pool, &[drift_set.id], &[org], "user:t")
        .await
        .unwrap();
    let hits = cockpit_db::hunts::hits(&pool, hunt, &[org]).await.unwrap();
    assert!(hits.iter().all(|h| h.org_id == org));
    assert!(hits.iter().any(|h| h.app_name.as_deref() == Some("Drift")));
    let ips: Vec<&str> = hits
        .iter()
        .flat_map(|h| h.ips.iter().map(String::as_str))
        .collect();
    for ip in &staged.ips {
        assert!(ips.contains(&ip.as_str()), "{ip} named in {ips:?}");
    }
    let uas: Vec<&str> = hits
        .iter()
        .flat_map(|h| h.user_agents.iter().map(String::as_str))
        .collect();
    assert!(uas.contains(&"Salesforce-Multi-Org-Fetcher/1.0"), "{uas:?}");
    let users: Vec<&str> = hits.iter().filter_map(|h| h.user_name.as_deref()).collect();
    assert!(staged.users.iter().any(|u| users.contains(&u.as_str())));

    // Another sync archives nothing twice and finds nothing new.
    let archived = "SELECT count(*) FROM log_activity WHERE org_id = $1 AND file_id IS NOT NULL";
    let rows = count(&pool, archived, org).await;
    sync(&pool, &keyring, org).await;
    assert_eq!(count(&pool, archived, org).await, rows);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM (SELECT sf_id FROM log_files WHERE org_id = $1 GROUP BY sf_id HAVING count(*) > 1) d",
            org
        )
        .await,
        0
    );

    // Retention takes the old days' rows, calls and files together; the
    // org's removal takes the rest (there are no cascades to do it).
    let old_day = "SELECT (SELECT count(*) FROM log_activity WHERE org_id = $1 AND day < current_date - 3)
                        + (SELECT count(*) FROM log_api_calls WHERE org_id = $1 AND day < current_date - 3)
                        + (SELECT count(*) FROM log_files WHERE org_id = $1 AND log_date < current_date - 3)";
    assert!(count(&pool, old_day, org).await > 0);
    cockpit_db::log_archive::apply_retention(&pool, org, 3)
        .await
        .unwrap();
    assert_eq!(count(&pool, old_day, org).await, 0);
    assert!(
        count(
            &pool,
            "SELECT count(*) FROM log_activity WHERE org_id = $1",
            org
        )
        .await
            > 0
    );
    let mut conn = pool.acquire().await.unwrap();
    assert!(cockpit_db::orgs::delete(&mut conn, org).await.unwrap());
    let left = "SELECT (SELECT count(*) FROM log_activity WHERE org_id = $1)
                     + (SELECT count(*) FROM log_api_calls WHERE org_id = $1)
                     + (SELECT count(*) FROM log_files WHERE org_id = $1)";
    assert_eq!(count(&pool, left, org).await, 0);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_log_file_that_cannot_be_read_is_noted_and_archived_once_later(pool: PgPool) {
    let sim = Sim::spawn(SimConfig {
        tokens: 1_000,
        users: 900,
        apps: 20,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let keyring = keyring();
    let org = cockpit_worker::testing::connect_sim(&pool, &keyring, "Acme production", &sim).await;
    // The first file's download fails (after the client's retries): the
    // sync still succeeds, the file is noted with the reason, and nothing
    // of it is kept.
    let first = sfsim::ids::make_id(sfsim::ids::EVENT_LOG_FILE, 0);
    sim.sim
        .set_fault(sfsim::Fault::ServerErrorOnPath(format!("{first}/LogFile")));
    sync(&pool, &keyring, org).await;
    sim.sim.clear_faults();
    let failed = count(
        &pool,
        "SELECT count(*) FROM log_files WHERE org_id = $1 AND status = 'failed' AND error <> ''",
        org,
    )
    .await;
    assert_eq!(failed, 1, "the file is noted as failed");
    let kept = count(
        &pool,
        "SELECT count(*) FROM log_activity a JOIN log_files f ON f.id = a.file_id
         WHERE a.org_id = $1 AND f.status = 'failed'",
        org,
    )
    .await;
    assert_eq!(kept, 0, "nothing of it is kept");
    let others = count(
        &pool,
        "SELECT count(*) FROM log_files WHERE org_id = $1 AND status = 'archived'",
        org,
    )
    .await;
    assert!(others >= 1, "the other files are archived");
    let summary = cockpit_db::log_archive::summary(&pool, org).await.unwrap();
    assert_eq!(
        summary.failed.len() as i64,
        failed,
        "the org page lists them"
    );

    // The next sync archives each of them, once.
    sync(&pool, &keyring, org).await;
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM log_files WHERE org_id = $1 AND status = 'failed'",
            org
        )
        .await,
        0
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM log_files WHERE org_id = $1 AND status = 'archived' AND attempts = 2", org).await,
        1,
        "archived on its second try"
    );
    let (lines, summed) = lines_and_counted(&pool, org).await;
    assert_eq!(summed, lines);
    let summary = cockpit_db::log_archive::summary(&pool, org).await.unwrap();
    assert!(
        summary.failed.is_empty() && summary.files == others + 1 && summary.first_day.is_some()
    );
}
