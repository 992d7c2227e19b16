//! Incidents through the web interface and the API: declared from a search
//! (the matches confirmed per org), contained as one request (block, then
//! revoke all, in every org), contained once however many press it, closed
//! with a note, and every step on the timeline.

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use sqlx::PgPool;
use uuid::Uuid;

mod common;
use common::{BASE, get, person, post, seed_org, send};

async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Actions requested by incidents' containments.
async fn incident_actions(pool: &PgPool) -> i64 {
    count(
        pool,
        "SELECT count(*) FROM actions WHERE incident_id IS NOT NULL",
    )
    .await
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn declare_contain_once_and_close(pool: PgPool) {
    let (a, _) = seed_org(&pool, "Acme").await;
    let (b, _) = seed_org(&pool, "Globex").await;
    let (cookie, csrf) = person(&pool, "ada@example.com", "admin", None).await;

    // The declaration form lists the app in both orgs.
    let (status, _, page) = send(&pool, get("/incidents/new?q=app", Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("{a}:0H4AAA")) && page.contains(&format!("{b}:0H4AAA")));
    // Without a confirmed match, nothing is declared.
    let (status, _, page) = send(
        &pool,
        post(
            "/incidents",
            Some(&cookie),
            Some(BASE),
            format!("csrf={csrf}&q=app&title=T&severity=high"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("Confirm the app"));
    let body = format!(
        "csrf={csrf}&q=app&title=Stolen+tokens&severity=critical&ticket=SEC-9&app={a}%3A0H4AAA&app={b}%3A0H4AAA"
    );
    let (status, headers, _) =
        send(&pool, post("/incidents", Some(&cookie), Some(BASE), body)).await;
    assert!(status.is_redirection());
    let to = headers[header::LOCATION].to_str().unwrap().to_owned();
    let id: i64 = to.trim_start_matches("/incidents/").parse().unwrap();
    assert_eq!(count(&pool, "SELECT count(*) FROM incident_apps").await, 2);

    // A reason is needed; then one request for a second admin, whoever
    // presses again.
    let contain = |body: String| {
        post(
            &format!("/incidents/{id}/contain"),
            Some(&cookie),
            Some(BASE),
            body,
        )
    };
    let (status, _, _) = send(&pool, contain(format!("csrf={csrf}&reason="))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for _ in 0..2 {
        let (status, _, _) =
            send(&pool, contain(format!("csrf={csrf}&reason=INC-9+contain"))).await;
        assert!(status.is_redirection());
    }
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM approvals WHERE status = 'pending'"
        )
        .await,
        1
    );
    assert_eq!(
        incident_actions(&pool).await,
        0,
        "nothing runs before the second admin approves"
    );
    let (_, _, page) = send(&pool, get(&to, Some(&cookie))).await;
    assert!(page.contains("Waiting for a second admin") && page.contains("You made this request"));
    assert!(
        !page.contains("Approve and contain"),
        "not offered to the requester"
    );
    // The requester cannot approve their own request.
    let decide = |who: &str, csrf: &str, verb: &str, reason: &str| {
        post(
            &format!("/incidents/{id}/{verb}"),
            Some(who),
            Some(BASE),
            format!("csrf={csrf}&reason={reason}"),
        )
    };
    let (status, _, _) = send(&pool, decide(&cookie, &csrf, "approve", "mine")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A second admin sees the request, must give a reason, and approves.
    let (bob, bob_csrf) = person(&pool, "bob@example.com", "admin", None).await;
    let (_, _, page) = send(&pool, get(&to, Some(&bob))).await;
    assert!(page.contains("Approve and contain in 2 place(s)"), "{page}");
    let (status, _, _) = send(&pool, decide(&bob, &bob_csrf, "approve", "")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = send(
        &pool,
        decide(&bob, &bob_csrf, "approve", "Checked+with+SEC-9"),
    )
    .await;
    assert!(status.is_redirection());
    let (status, _, _) = send(&pool, decide(&bob, &bob_csrf, "approve", "again")).await;
    assert_eq!(status, StatusCode::CONFLICT, "decided already");
    let requested_by: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT requested_by FROM actions WHERE incident_id = $1")
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        requested_by,
        ["user:ada@example.com"],
        "the requester's intent"
    );
    let kinds: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT org_id, kind FROM actions WHERE incident_id = $1 ORDER BY org_id, id",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        kinds.len(),
        4,
        "block and revoke all in each org, once: {kinds:?}"
    );
    for org in [a, b] {
        let mine: Vec<&str> = kinds
            .iter()
            .filter(|(o, _)| *o == org)
            .map(|(_, k)| k.as_str())
            .collect();
        assert_eq!(mine, ["block_app", "revoke_app_all"], "block first");
    }
    let (_, _, page) = send(&pool, get(&to, Some(&cookie))).await;
    for kind in [
        "declared",
        "approval_requested",
        "approved",
        "contain_requested",
    ] {
        assert!(page.contains(kind), "{kind} on the timeline");
    }
    assert!(
        !page.contains("Contain in") && !page.contains("Ask a second admin"),
        "no second containment offered"
    );

    // Closing needs a note, and is audited.
    let close = |body: String| {
        post(
            &format!("/incidents/{id}/close"),
            Some(&cookie),
            Some(BASE),
            body,
        )
    };
    assert_eq!(
        send(&pool, close(format!("csrf={csrf}&note="))).await.0,
        StatusCode::BAD_REQUEST
    );
    assert!(
        send(&pool, close(format!("csrf={csrf}&note=Vendor+clean")))
            .await
            .0
            .is_redirection()
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM audit_log WHERE action LIKE 'incident.%'"
        )
        .await,
        5,
        "declared, approval requested, approved, contain requested, closed"
    );
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn an_admin_of_one_org_cannot_contain_an_incident_that_spans_two(pool: PgPool) {
    let (a, _) = seed_org(&pool, "Acme").await;
    let (b, _) = seed_org(&pool, "Globex").await;
    let (admin, csrf) = person(&pool, "ada@example.com", "admin", None).await;
    let body = format!("csrf={csrf}&q=app&title=T&severity=high&app={a}%3A0H4AAA&app={b}%3A0H4AAA");
    let (_, headers, _) = send(&pool, post("/incidents", Some(&admin), Some(BASE), body)).await;
    let to = headers[header::LOCATION].to_str().unwrap().to_owned();
    let (one, csrf1) = person(&pool, "one@example.com", "admin", Some(a)).await;
    let (status, _, page) = send(&pool, get(&to, Some(&one))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("orgs you have no role in") && !page.contains("Globex"),
        "only their org"
    );
    let (status, _, _) = send(
        &pool,
        post(
            &format!("{to}/contain"),
            Some(&one),
            Some(BASE),
            format!("csrf={csrf1}&reason=x"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(incident_actions(&pool).await, 0);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn declared_and_read_through_the_api(pool: PgPool) {
    let (a, _) = seed_org(&pool, "Acme").await;
    let token = common::api_token(&pool, "analyst").await;
    let req = Request::post("/api/v1/incidents")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            r#"{"title":"Drift tokens","severity":"critical","q":"App"}"#,
        ))
        .unwrap();
    let (status, _, body) = send(&pool, req).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = v["incident"]["id"].as_i64().unwrap();
    assert_eq!(v["apps"][0]["org_id"], a.to_string());
    let req = Request::get(format!("/api/v1/incidents/{id}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(&pool, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["incident"]["title"], "Drift tokens");
    assert_eq!(v["complete"], true);
    assert_eq!(v["timeline"][0]["kind"], "declared");
}

/// An incident in orgs A and B, declared by ada (global admin); its path.
async fn declared(pool: &PgPool) -> (String, i64, (String, String)) {
    let (a, _) = seed_org(pool, "Acme").await;
    let (b, _) = seed_org(pool, "Globex").await;
    let (ada, csrf) = person(pool, "ada@example.com", "admin", None).await;
    let body = format!("csrf={csrf}&q=app&title=T&severity=high&app={a}%3A0H4AAA&app={b}%3A0H4AAA");
    let (_, headers, _) = send(pool, post("/incidents", Some(&ada), Some(BASE), body)).await;
    let to = headers[header::LOCATION].to_str().unwrap().to_owned();
    let id = to.trim_start_matches("/incidents/").parse().unwrap();
    (to, id, (ada, csrf))
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_rejected_or_expired_request_contains_nothing(pool: PgPool) {
    let (to, _, (ada, csrf)) = declared(&pool).await;
    let ask = || {
        post(
            &format!("{to}/contain"),
            Some(&ada),
            Some(BASE),
            format!("csrf={csrf}&reason=contain"),
        )
    };
    send(&pool, ask()).await;
    let (bob, bob_csrf) = person(&pool, "bob@example.com", "admin", None).await;
    let (status, _, _) = send(
        &pool,
        post(
            &format!("{to}/reject"),
            Some(&bob),
            Some(BASE),
            format!("csrf={bob_csrf}&reason=wrong+app"),
        ),
    )
    .await;
    assert!(status.is_redirection());
    // Asked again, and left to expire.
    send(&pool, ask()).await;
    sqlx::query(
        "UPDATE approvals SET expires_at = now() - interval '1 second' WHERE status = 'pending'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (status, _, _) = send(
        &pool,
        post(
            &format!("{to}/approve"),
            Some(&bob),
            Some(BASE),
            format!("csrf={bob_csrf}&reason=late"),
        ),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "an expired request cannot be approved"
    );
    let statuses: Vec<String> = sqlx::query_scalar("SELECT status FROM approvals ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(statuses, ["rejected", "expired"]);
    assert_eq!(incident_actions(&pool).await, 0);
    let (_, _, page) = send(&pool, get(&to, Some(&ada))).await;
    assert!(page.contains("rejected") && page.contains("approval_expired"));
    assert!(page.contains("Ask a second admin"), "can be asked again");
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn a_global_admin_breaks_glass_with_a_reason_and_it_shows(pool: PgPool) {
    let (to, id, (ada, csrf)) = declared(&pool).await;
    send(
        &pool,
        post(
            &format!("{to}/contain"),
            Some(&ada),
            Some(BASE),
            format!("csrf={csrf}&reason=contain"),
        ),
    )
    .await;
    let glass = |who: &str, csrf: &str, reason: &str| {
        post(
            &format!("{to}/break-glass"),
            Some(who),
            Some(BASE),
            format!("csrf={csrf}&reason={reason}"),
        )
    };
    // An admin of both orgs who is not a global admin may not.
    let (a, b): (Uuid, Uuid) = sqlx::query_as(
        "SELECT min(org_id::text)::uuid, max(org_id::text)::uuid FROM incident_apps",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let (two, two_csrf) = person(&pool, "two@example.com", "admin", Some(a)).await;
    sqlx::query("INSERT INTO account_org_roles (account_id, org_id, role) SELECT id, $1, 'admin' FROM accounts WHERE email = 'two@example.com'")
        .bind(b)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        send(&pool, glass(&two, &two_csrf, "now")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&pool, glass(&ada, &csrf, "")).await.0,
        StatusCode::BAD_REQUEST,
        "a reason is mandatory"
    );
    assert!(
        send(&pool, glass(&ada, &csrf, "Vendor+confirmed+replay"))
            .await
            .0
            .is_redirection()
    );
    assert_eq!(incident_actions(&pool).await, 4);
    let status: String = sqlx::query_scalar("SELECT status FROM approvals")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "broken_glass");
    let (_, _, page) = send(&pool, get(&to, Some(&ada))).await;
    assert!(page.contains("Glass broken:") && page.contains("Vendor confirmed replay"));
    assert!(
        page.contains("class=\"break-glass\""),
        "red on the timeline"
    );
    let audit: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'incident.break_glass' AND reason = 'Vendor confirmed replay'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audit, 1, "incident {id}");
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn with_the_rule_off_one_admin_contains_alone(pool: PgPool) {
    let (to, _, (ada, csrf)) = declared(&pool).await;
    let mut state = cockpit_web::AppState::new(pool.clone(), BASE);
    state.two_person.contain = false;
    let (_, _, page) = common::send_with(&state, get(&to, Some(&ada))).await;
    assert!(page.contains("Contain in 2 place(s)") && !page.contains("Break glass"));
    let (status, _, _) = common::send_with(
        &state,
        post(
            &format!("{to}/contain"),
            Some(&ada),
            Some(BASE),
            format!("csrf={csrf}&reason=contain"),
        ),
    )
    .await;
    assert!(status.is_redirection());
    assert_eq!(incident_actions(&pool).await, 4);
    assert_eq!(count(&pool, "SELECT count(*) FROM approvals").await, 0);
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn containing_through_the_api_waits_for_approval_with_202(pool: PgPool) {
    let (to, id, _) = declared(&pool).await;
    let token = common::api_token(&pool, "admin").await;
    let contain = |body: &'static str| {
        Request::post(format!("/api/v1/incidents/{id}/contain"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let (status, _, body) = send(&pool, contain(r#"{"reason":""}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, body) = send(&pool, contain(r#"{"reason":"SOAR playbook 12"}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "awaiting_approval");
    assert_eq!(v["approval"]["status"], "pending");
    let (_, _, again) = send(&pool, contain(r#"{"reason":"SOAR playbook 12"}"#)).await;
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["approval"]["id"], v["approval"]["id"], "one request");
    assert_eq!(incident_actions(&pool).await, 0);
    // A person approves in the web interface.
    let (bob, bob_csrf) = person(&pool, "bob@example.com", "admin", None).await;
    let (status, _, _) = send(
        &pool,
        post(
            &format!("{to}/approve"),
            Some(&bob),
            Some(BASE),
            format!("csrf={bob_csrf}&reason=ok"),
        ),
    )
    .await;
    assert!(status.is_redirection());
    assert_eq!(incident_actions(&pool).await, 4);
    let (status, _, body) = send(&pool, contain(r#"{"reason":"again"}"#)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn the_evidence_lists_every_step_in_utc_and_defuses_hostile_text(pool: PgPool) {
    let (to, id, (ada, csrf)) = declared(&pool).await;
    // A reason a spreadsheet would run, and markup.
    let reason = "=HYPERLINK(\"http://evil\")<script>x</script>";
    let body = format!("csrf={csrf}&reason={}", urlencode(reason));
    send(
        &pool,
        post(&format!("{to}/contain"), Some(&ada), Some(BASE), body),
    )
    .await;
    let (bob, bob_csrf) = person(&pool, "bob@example.com", "admin", None).await;
    send(
        &pool,
        post(
            &format!("{to}/approve"),
            Some(&bob),
            Some(BASE),
            format!("csrf={bob_csrf}&reason=ok"),
        ),
    )
    .await;

    let (status, headers, csv) = send(&pool, get(&format!("{to}/evidence.csv"), Some(&ada))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let kinds: Vec<String> = rows.records().map(|r| r.unwrap()[3].to_owned()).collect();
    for kind in [
        "declared",
        "approval_requested",
        "approved",
        "contain_requested",
        "action.requested",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    assert!(
        csv.lines()
            .skip(1)
            .all(|l| l.starts_with(&format!("{id},20"))),
        "UTC times: {csv}"
    );
    assert!(
        !csv.contains(",=HYPERLINK"),
        "no cell starts a formula: {csv}"
    );

    let (status, _, page) = send(&pool, get(&format!("{to}/evidence"), Some(&ada))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("<script>x"), "escaped");
    assert!(page.contains("Two-person rule") && page.contains("bob@example.com"));

    let (status, _, json) = send(&pool, get(&format!("{to}/evidence.json"), Some(&ada))).await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["approvals"][0]["status"], "approved");
    assert_eq!(v["complete"], true);
    assert_eq!(v["exported_by"], "user:ada@example.com");
    assert!(v["timeline"].as_array().unwrap().len() >= 5);
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn the_app_coming_back_is_red_on_the_overview_and_the_incident(pool: PgPool) {
    let (to, id, (ada, _)) = declared(&pool).await;
    let org: Uuid = sqlx::query_scalar("SELECT min(org_id::text)::uuid FROM incident_apps")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE incidents SET status = 'contained', contained_at = now() WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO incident_watch (incident_id, org_id, app_key, kind, ref, count)
         VALUES ($1, $2, '0H4AAA', 'live_token', '<b>0CQ</b>', 1), ($1, $2, '0H4AAA', 'block_removed', '2026-12-06', 1)",
    )
    .bind(id)
    .bind(org)
    .execute(&pool)
    .await
    .unwrap();
    let (_, _, home) = send(&pool, get("/", Some(&ada))).await;
    assert!(
        home.contains("the contained app was seen again") && home.contains("2 finding(s)"),
        "{home}"
    );
    let (_, _, page) = send(&pool, get(&to, Some(&ada))).await;
    assert!(page.contains("block removed outside the cockpit"));
    assert!(
        (page.contains("&lt;b&gt;0CQ") || page.contains("&#60;b&#62;0CQ"))
            && !page.contains("<b>0CQ"),
        "escaped"
    );
    // A person with no role in the org sees no alert.
    let (third, _) = seed_org(&pool, "Initech").await;
    let (other, _) = person(&pool, "other@example.com", "admin", Some(third)).await;
    let (_, _, home) = send(&pool, get("/", Some(&other))).await;
    assert!(!home.contains("the contained app was seen again"));
}

#[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
async fn the_follow_up_checklist_is_prefilled_edited_audited_and_exported(pool: PgPool) {
    let (to, id, (ada, csrf)) = declared(&pool).await;
    let tasks: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, title FROM incident_tasks WHERE incident_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(tasks.len(), 6, "the guidance");
    assert!(tasks[0].1.starts_with("Rotate every credential"));
    let (_, _, page) = send(&pool, get(&to, Some(&ada))).await;
    assert!(page.contains("Follow-up") && page.contains("Rotate every credential"));

    // Owner, due date, done, and a hostile note.
    let task = |body: String| {
        post(
            &format!("{to}/tasks/{}", tasks[0].0),
            Some(&ada),
            Some(BASE),
            body,
        )
    };
    let (status, _, _) = send(&pool, task(format!("csrf={csrf}&owner=ops&due=31-12-2026"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a day as YYYY-MM-DD");
    let (status, _, _) = send(
        &pool,
        task(format!(
            "csrf={csrf}&owner=ops&due=2026-12-31&note=%3Cscript%3Ex%3C%2Fscript%3E&done=on"
        )),
    )
    .await;
    assert!(status.is_redirection());
    // The same again changes nothing and records nothing.
    send(
        &pool,
        task(format!(
            "csrf={csrf}&owner=ops&due=2026-12-31&note=%3Cscript%3Ex%3C%2Fscript%3E&done=on"
        )),
    )
    .await;
    let (status, _, _) = send(
        &pool,
        post(
            &format!("{to}/tasks"),
            Some(&ada),
            Some(BASE),
            format!("csrf={csrf}&title=Tell+the+DPO&owner=legal"),
        ),
    )
    .await;
    assert!(status.is_redirection());
    let (status, _, _) = send(
        &pool,
        post(
            &format!("{to}/tasks/999999"),
            Some(&ada),
            Some(BASE),
            format!("csrf={csrf}&owner=x"),
        ),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a task of this incident only"
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM audit_log WHERE action IN ('incident.task_done', 'incident.task_added')").await,
        2
    );
    let (_, _, page) = send(&pool, get(&to, Some(&ada))).await;
    assert!(!page.contains("<script>x"), "escaped");
    assert!(page.contains("task-done") && page.contains("Tell the DPO"));
    let (_, _, evidence) = send(&pool, get(&format!("{to}/evidence"), Some(&ada))).await;
    assert!(evidence.contains("Tell the DPO") && evidence.contains("by user:ada@example.com"));
    let (_, _, csv) = send(&pool, get(&format!("{to}/evidence.csv"), Some(&ada))).await;
    assert!(csv.contains("task_done") && csv.contains("task_added"));

    // A closed incident keeps its checklist as it was.
    send(
        &pool,
        post(
            &format!("{to}/close"),
            Some(&ada),
            Some(BASE),
            format!("csrf={csrf}&note=done"),
        ),
    )
    .await;
    let (status, _, _) = send(&pool, task(format!("csrf={csrf}&owner=late"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
}
