//! The review routine as a reviewer does it, through the pages: import the
//! inventory, see unknown apps flagged, run the monthly review to the end,
//! then a quarterly audit whose revocations are verified in sfsim and whose
//! evidence lists every decision.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use cockpit_domain::secret::{Keyring, MasterKey};
use cockpit_web::{AppState, TwoPersonRule};
use sfsim::{Sim, SimConfig};
use sqlx::PgPool;

mod common;
use common::{BASE, get, person, post, send_with as send};

fn texts(html: &str, css: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(css).unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

fn attrs(html: &str, css: &str, attr: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(css).unwrap();
    doc.select(&sel)
        .filter_map(|e| e.value().attr(attr).map(str::to_owned))
        .collect()
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn inventory_monthly_review_and_quarterly_audit_through_the_pages(pool: PgPool) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = Sim::spawn(SimConfig {
        tokens: 2_000,
        users: 300,
        apps: 10,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let keyring = Arc::new(Keyring::new(MasterKey::from_bytes([4; 32]), vec![]));
    let org = cockpit_worker::testing::connect_and_sync(&pool, &keyring, "Acme", &sim).await;
    let mut state = AppState::new(pool.clone(), BASE);
    state.keyring = Some(keyring.clone());
    // Revocations sent from a review fall under the two-person rule like
    // any bulk revoke.
    state.two_person = TwoPersonRule::parse("bulk:0").unwrap();
    let (cookie, csrf) = person(&pool, "rita@example.com", "admin", None).await;

    // Before any review, the overview reminds.
    let (_, _, home) = send(&state, get("/", Some(&cookie))).await;
    assert_eq!(
        texts(&home, ".reminder").len(),
        2,
        "{:?}",
        texts(&home, ".reminder")
    );

    // Import the inventory spreadsheet: one known app approved.
    let known: String = sqlx::query_scalar(
        "SELECT name FROM sf_apps WHERE org_id = $1 AND name !~ '[<>\"&,]' ORDER BY name LIMIT 1",
    )
    .bind(org)
    .fetch_one(&pool)
    .await
    .unwrap();
    let csv = format!("name,status,owner_team,expected_users\n{known},approved,IT,1\n");
    let boundary = "XxBoundaryxX";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"inventory.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n\
         --{boundary}--\r\n"
    );
    let req = axum::http::Request::post("/inventory/import")
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, BASE)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(axum::body::Body::from(body))
        .unwrap();
    let (status, _, page) = send(&state, req).await;
    // The anti-forgery check reads urlencoded forms; a multipart upload carries the token too.
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Imported: 1 new"), "{page}");

    // Unknown apps are flagged; the known one is not.
    let (_, _, apps) = send(
        &state,
        get(&format!("/apps?org={org}&flag=unknown"), Some(&cookie)),
    )
    .await;
    let names = texts(
        &apps,
        "table.grid tbody td.name a, table.grid tbody td a.trunc",
    );
    assert!(
        !names.is_empty(),
        "unknown apps listed: {}",
        texts(&apps, "main").join(" ")
    );
    assert!(
        !names.iter().any(|n| n == &known),
        "{known} is in the inventory"
    );

    // Monthly review, every item accepted with a note, then completed.
    let (status, headers, _) = send(
        &state,
        post(
            "/reviews",
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}&kind=monthly"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let review = headers[header::LOCATION].to_str().unwrap().to_owned();
    let (_, _, page) = send(&state, get(&review, Some(&cookie))).await;
    let seqs = attrs(&page, "input[name=seq]", "value");
    assert!(!seqs.is_empty(), "items to review");
    let form = seqs
        .iter()
        .map(|s| format!("seq={s}"))
        .collect::<Vec<_>>()
        .join("&");
    let (status, _, body) = send(
        &state,
        post(
            &format!("{review}/decide"),
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}&{form}&decision=accepted&note=expected"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (status, _, _) = send(
        &state,
        post(
            &format!("{review}/complete"),
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, page) = send(&state, get(&review, Some(&cookie))).await;
    assert!(page.contains("completed"), "{page}");
    let (_, _, home) = send(&state, get("/", Some(&cookie))).await;
    assert_eq!(
        texts(&home, ".reminder").len(),
        1,
        "only the quarterly audit is still due"
    );

    // Quarterly audit: revoke one app's stale authorizations, keep the others.
    let (_, headers, _) = send(
        &state,
        post(
            "/reviews",
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}&kind=quarterly&stale_days=90"),
        ),
    )
    .await;
    let audit = headers[header::LOCATION].to_str().unwrap().to_owned();
    let (_, _, page) = send(&state, get(&audit, Some(&cookie))).await;
    let apps = attrs(&page, "form input[name=app]", "value");
    assert!(
        apps.len() >= 2,
        "stale authorizations of several apps: {apps:?}"
    );
    let decide = |app: &str, decision: &str| {
        post(
            &format!("{audit}/decide"),
            Some(&cookie),
            Some(BASE),
            format!(
                "csrf={csrf}&app={}&decision={decision}&note=quarterly+check",
                url::form_urlencoded::byte_serialize(app.as_bytes()).collect::<String>()
            ),
        )
    };
    assert_eq!(
        send(&state, decide(&apps[0], "revoke")).await.0,
        StatusCode::SEE_OTHER
    );
    for app in &apps[1..] {
        assert_eq!(
            send(&state, decide(app, "keep")).await.0,
            StatusCode::SEE_OTHER
        );
    }
    let (status, _, _) = send(
        &state,
        post(
            &format!("{audit}/send"),
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (action, waiting): (i64, String) =
        sqlx::query_as("SELECT id, status FROM actions WHERE kind = 'bulk_revoke'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(waiting, "awaiting_approval");
    let (otto, otto_csrf) = person(&pool, "otto@example.com", "admin", None).await;
    let (status, _, _) = send(
        &state,
        post(
            &format!("/actions/{action}/approve"),
            Some(&otto),
            Some(BASE),
            format!("csrf={otto_csrf}&reason=reviewed+the+list"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    cockpit_worker::actions::execute(&pool, keyring.clone(), action)
        .await
        .unwrap();
    let revoked: Vec<String> = sqlx::query_scalar(
        "SELECT token_id FROM action_items WHERE action_id = $1 AND status = 'revoked'",
    )
    .bind(action)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!revoked.is_empty());
    for t in &revoked {
        assert!(
            sim.sim.refresh_token_of(t).is_none(),
            "{t} revoked in sfsim"
        );
    }
    let (status, _, _) = send(
        &state,
        post(
            &format!("{audit}/complete"),
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // The evidence pack: every decision, by whom, with the verified outcome.
    let (status, _, evidence) =
        send(&state, get(&format!("{audit}/evidence"), Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK);
    let decided = texts(&evidence, "table.grid tbody tr").len();
    let items: i64 = sqlx::query_scalar("SELECT count(*) FROM review_items r JOIN reviews v ON v.id = r.review_id WHERE v.kind = 'quarterly'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(decided as i64, items);
    assert!(
        evidence.contains("rita@example.com")
            && evidence.contains("revoked")
            && evidence.contains("keep")
    );
    let (status, headers, csv) =
        send(&state, get(&format!("{audit}/evidence.csv"), Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("evidence.csv")
    );
    assert_eq!(csv.lines().count() as i64, items + 1);
}
