//! End to end, in a real browser, for what admins do besides single
//! revokes: single sign-on through sfsim as the identity provider, bulk
//! revoke of a selection on the stale-authorizations report, and API tokens
//! made and revoked on the admin pages. Screenshots go to
//! `target/e2e-screenshots/` (`sso-*`, `bulk-*`, `api-*`).

use std::{collections::BTreeSet, time::Duration};

use fantoccini::{Client, Locator};
use sfsim::SimConfig;

mod common;
use common::{
    SimOrg,
    browser::{
        ADMIN, Stage, click, confirm_password_if_asked, expect, seed, shot, sign_in, sign_out,
        submit_with_reason, text, type_into, wait_for_action, wait_path,
    },
};

/// What the identity provider's button says.
const SSO_LABEL: &str = "Acme Salesforce";

/// `serve` arguments that make sfsim's org the single sign-on provider: its
/// System Administrators are admins here, everyone else a viewer.
fn sso_args(org: &SimOrg) -> Vec<String> {
    let c = &org.sim.credentials;
    [
        "--oidc-issuer",
        &org.sim.base_url,
        "--oidc-client-id",
        &c.client_id,
        "--oidc-client-secret",
        &c.client_secret,
        "--oidc-role-claim",
        "custom_attributes.cockpit_role",
        "--oidc-role-map",
        "System Administrator=admin",
        "--oidc-default-role",
        "viewer",
        "--oidc-label",
        SSO_LABEL,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// "Sign in with …", then sfsim's login and consent pages, back to the cockpit.
async fn sign_in_with_sso(c: &Client, stage: &Stage, who: (&str, &str)) {
    stage.goto("/signin").await;
    click(c, "form.sso button[type=submit]").await;
    expect(c, "form#login_form").await;
    type_into(c, "#username", who.0).await;
    type_into(c, "#password", who.1).await;
    click(c, "#Login").await;
    expect(c, "#oaapprove").await;
    click(c, "#oaapprove").await;
    let back = async {
        for _ in 0..100 {
            let url = c.current_url().await.unwrap();
            if url.as_str().starts_with(&stage.base) && !url.path().starts_with("/signin") {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    if !back.await {
        shot(c, "sso-failed").await;
        panic!(
            "single sign-on as {} failed: {}",
            who.0,
            text(c, "body").await
        );
    }
    expect(c, "h1").await;
}

/// The first app on the apps page, opened; returns its action links.
async fn action_links_on_an_app(c: &Client, stage: &Stage) -> usize {
    stage.goto("/apps").await;
    click(c, "table.grid tbody tr td a").await;
    expect(c, "section.actions").await;
    c.find_all(Locator::Css(
        "section.actions a, section.actions button, a[data-action]",
    ))
    .await
    .unwrap()
    .len()
}

#[sqlx::test(migrations = false)]
async fn sim_admins_sign_in_as_admins_and_everyone_else_as_viewers(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    if !common::browser::browser_here("sim_admins_sign_in_as_admins_and_everyone_else_as_viewers") {
        return;
    }
    let db = common::db_url(&opts);
    let org = SimOrg::start_with(SimConfig {
        tokens: 400,
        users: 60,
        apps: 8,
        custom_attributes: vec![("cockpit_role".into(), "$Profile.Name".into())],
        ..SimConfig::default()
    })
    .await;
    seed(&db, &org, &[(ADMIN, "admin")]).await;
    let stage = Stage::start(&db, &sso_args(&org)).await;
    let b = &stage.b;

    // The sign-in page offers the provider beside the password form.
    stage.goto("/").await;
    assert!(wait_path(b, |p| p.starts_with("/signin")).await);
    assert_eq!(
        text(b, "form.sso button").await,
        format!("Sign in with {SSO_LABEL}")
    );
    shot(b, "sso-01-signin").await;

    // The sim's admin lands signed in as an admin.
    let admin = &org.sim.credentials;
    sign_in_with_sso(b, &stage, (&admin.username, &admin.password)).await;
    assert_eq!(text(b, ".signout .me").await, admin.username);
    assert!(
        !b.find_all(Locator::Css("nav a[href='/admin/accounts']"))
            .await
            .unwrap()
            .is_empty(),
        "an admin is offered the admin pages"
    );
    shot(b, "sso-02-admin-overview").await;
    assert!(action_links_on_an_app(b, &stage).await > 0);
    stage.goto("/admin/accounts").await;
    let row = format!(
        "//tr[td[@class='email']/a[normalize-space()='{}']]/td[@class='role']",
        admin.username
    );
    assert_eq!(
        b.find(Locator::XPath(&row))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "admin"
    );
    sign_out(b).await;

    // An ordinary user of the org lands as a viewer: no actions, no admin.
    let (user, password) = org.sim.sim.ordinary_user();
    sign_in_with_sso(b, &stage, (&user, &password)).await;
    assert_eq!(text(b, ".signout .me").await, user);
    assert!(
        b.find_all(Locator::Css("nav a[href='/admin/accounts']"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        action_links_on_an_app(b, &stage).await,
        0,
        "a viewer sees no action buttons"
    );
    shot(b, "sso-03-viewer-app-detail").await;
    stage.b.clone().close().await.unwrap();
}

/// Scopes every page to the org "Acme" with the switch in the top bar.
async fn choose_org(c: &Client, name: &str) {
    c.find(Locator::Css("#org-switch"))
        .await
        .unwrap()
        .select_by_label(name)
        .await
        .unwrap();
    click(c, "form.org-switch button").await;
    // Polled: the click returns before the browser has followed the form.
    let mut scoped = false;
    for _ in 0..100 {
        let url = c.current_url().await.unwrap();
        if url.query_pairs().any(|(k, v)| k == "org" && !v.is_empty()) {
            scoped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(scoped, "the page is scoped to {name}");
}

/// Ticks the report rows at `rows` (0-based) and returns their token ids.
async fn tick(c: &Client, rows: &[usize]) -> BTreeSet<String> {
    let boxes = c
        .find_all(Locator::Css(
            "table.grid tbody td.pick input[type=checkbox]",
        ))
        .await
        .unwrap();
    let mut ids = BTreeSet::new();
    for &i in rows {
        boxes[i].click().await.unwrap();
        ids.insert(boxes[i].prop("value").await.unwrap().unwrap());
    }
    ids
}

/// The status badge of an action page, as it reloads itself (`Refresh`
/// header): every distinct status seen, until a final one.
async fn watch_action(c: &Client) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..600 {
        // The page may be reloading under us: a miss is not an answer.
        if let Ok(badge) = c.find(Locator::Css("h1 .badge")).await
            && let Ok(status) = badge.text().await
        {
            if seen.last() != Some(&status) {
                seen.push(status.clone());
            }
            if !matches!(status.as_str(), "pending" | "running") {
                return seen;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the action did not finish: saw {seen:?}");
}

#[sqlx::test(migrations = false)]
async fn an_admin_revokes_a_selection_from_the_stale_report(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    if !common::browser::browser_here("an_admin_revokes_a_selection_from_the_stale_report") {
        return;
    }
    let db = common::db_url(&opts);
    let org = SimOrg::start(600, 100, 8).await;
    let sim = &org.sim.sim;
    seed(&db, &org, &[(ADMIN, "admin")]).await;
    let stage = Stage::start(&db, &[]).await;
    let b = &stage.b;
    sign_in(b, &stage.base, ADMIN).await;

    // Scoped to one org, the report offers checkboxes; tick three.
    stage.goto("/reports/stale").await;
    assert!(
        b.find_all(Locator::Css("td.pick input"))
            .await
            .unwrap()
            .is_empty(),
        "no selection across every org"
    );
    choose_org(b, "Acme").await;
    expect(b, "section.bulk-revoke").await;
    let chosen = tick(b, &[0, 2, 3]).await;
    assert_eq!(chosen.len(), 3);
    shot(b, "bulk-01-stale-selection").await;

    // Revoking is slow at Salesforce today, so the action is seen at work.
    sim.set_fault(sfsim::Fault::RevokeLatency(Duration::from_millis(1_500)));
    click(b, "#bulk-revoke button[type=submit]").await;
    assert!(wait_path(b, |p| p == "/actions/new" || p == "/reauth").await);
    confirm_password_if_asked(b, ADMIN.1).await;
    expect(b, "textarea#reason").await;
    let radius = text(b, "dl.facts").await;
    assert!(
        radius.contains("Authorizations that will be revoked\n3"),
        "{radius}"
    );
    shot(b, "bulk-02-confirm").await;
    submit_with_reason(b, "INC-77: stale grants found in the quarterly review").await;
    expect(b, "#count-revoked").await;
    assert!(
        text(b, "p[role=status]").await.contains("refreshes itself"),
        "a running action says it refreshes itself"
    );
    shot(b, "bulk-03-running").await;

    // Without anyone pressing reload, the page goes on to the end.
    let seen = watch_action(b).await;
    assert!(
        matches!(
            seen.first().map(String::as_str),
            Some("pending" | "running")
        ),
        "{seen:?}"
    );
    assert_eq!(
        seen.last().map(String::as_str),
        Some("succeeded"),
        "{seen:?}"
    );
    assert_eq!(text(b, "#count-revoked").await, "3");
    assert!(
        text(b, "dd.in-flight").await.starts_with("at most "),
        "the page says how many revokes were in flight"
    );
    assert!(
        b.find_all(Locator::Css("p[role=status]"))
            .await
            .unwrap()
            .is_empty()
    );
    shot(b, "bulk-04-done").await;
    sim.clear_faults();

    // In Salesforce exactly those three were revoked, once each.
    let calls = sim.revoke_calls();
    assert_eq!(calls.keys().cloned().collect::<BTreeSet<_>>(), chosen);
    assert!(calls.values().all(|&n| n == 1), "{calls:?}");
    for id in &chosen {
        assert!(sim.refresh_token_of(id).is_none(), "{id} is gone in sfsim");
    }

    // Then every stale authorization of one app, past what one page shows:
    // the server picks them when the admin confirms.
    stage.goto("/reports/stale").await;
    choose_org(b, "Acme").await;
    expect(b, "a.revoke-app-stale").await;
    let app = text(b, "table.bulk-apps tr:first-child th bdi").await;
    click(b, "a.revoke-app-stale").await;
    assert!(wait_path(b, |p| p == "/actions/new" || p == "/reauth").await);
    confirm_password_if_asked(b, ADMIN.1).await;
    expect(b, "textarea#reason").await;
    assert_eq!(text(b, "dd.idle-days").await, "90 days");
    let n: usize = text(b, "dl.facts dd.num")
        .await
        .replace(',', "")
        .parse()
        .unwrap();
    assert!(n > 0);
    shot(b, "bulk-05-confirm-stale-app").await;
    submit_with_reason(b, "INC-78: every stale grant of this app").await;
    expect(b, "#count-revoked").await;
    assert_eq!(wait_for_action(b).await, "succeeded");
    assert_eq!(
        text(b, "#count-revoked").await.replace(',', ""),
        n.to_string()
    );
    let calls = sim.revoke_calls();
    assert_eq!(calls.len(), chosen.len() + n, "{calls:?}");
    assert!(calls.values().all(|&n| n == 1), "{calls:?}");
    // The app has nothing stale left on the report.
    stage.goto("/reports/stale").await;
    choose_org(b, "Acme").await;
    let apps = b
        .find_all(Locator::Css("table.report td.app bdi"))
        .await
        .unwrap();
    for a in apps {
        assert_ne!(a.text().await.unwrap(), app, "{app} still listed");
    }
    stage.b.clone().close().await.unwrap();
}

/// Creates an API token on the admin page and reads it, once, from the page.
async fn create_api_token(c: &Client, name: &str) -> String {
    type_into(c, "#token-name", name).await;
    c.find(Locator::Css("#token-role"))
        .await
        .unwrap()
        .select_by_value("viewer")
        .await
        .unwrap();
    click(c, "form.new-token-form button[type=submit]").await;
    expect(c, "section.new-token code.token").await;
    text(c, "section.new-token code.token").await
}

async fn api_apps(base: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/apps"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn an_admin_makes_an_api_token_that_works_until_revoked(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    if !common::browser::browser_here("an_admin_makes_an_api_token_that_works_until_revoked") {
        return;
    }
    let db = common::db_url(&opts);
    let org = SimOrg::start(200, 40, 6).await;
    seed(&db, &org, &[(ADMIN, "admin")]).await;
    let stage = Stage::start(&db, &[]).await;
    let b = &stage.b;
    sign_in(b, &stage.base, ADMIN).await;

    // From the accounts page to the tokens page.
    click(b, "nav a[href='/admin/accounts']").await;
    expect(b, "table.accounts").await;
    click(b, "main a[href='/admin/api-tokens']").await;
    expect(b, "form.new-token-form").await;
    let token = create_api_token(b, "SIEM export").await;
    shot(b, "api-01-token-created").await;

    // The token reads the API.
    let res = api_apps(&stage.base, &token).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let items = body["items"].as_array().expect("a list of apps");
    assert!(!items.is_empty() && items[0]["name"].is_string(), "{body}");

    // Shown once: the list has it, the page no longer shows the secret.
    stage.goto("/admin/api-tokens").await;
    assert!(!text(b, "main").await.contains(&token));
    let status = "//tr[td[@class='name' and normalize-space()='SIEM export']]/td[@class='status']";
    b.find(Locator::XPath(&format!("{status}//button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    confirm_password_if_asked(b, ADMIN.1).await;
    expect(b, "table.api-tokens").await;
    let now = b
        .find(Locator::XPath(status))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(now.starts_with("revoked"), "{now}");
    shot(b, "api-02-token-revoked").await;

    // And the API turns it away.
    assert_eq!(api_apps(&stage.base, &token).await.status(), 401);
    stage.b.clone().close().await.unwrap();
}

/// A webhook receiver on loopback: what it was sent (headers, body).
type Inbox = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

async fn receiver() -> (std::net::SocketAddr, Inbox) {
    let inbox = Inbox::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let inbox = inbox.clone();
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                inbox.lock().unwrap().push((headers, body.to_vec()));
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, inbox)
}

#[sqlx::test(migrations = false)]
async fn an_admin_adds_a_webhook_and_its_test_message_arrives_signed(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    if !common::browser::browser_here("an_admin_adds_a_webhook_and_its_test_message_arrives_signed")
    {
        return;
    }
    let db = common::db_url(&opts);
    let org = SimOrg::start(200, 40, 6).await;
    seed(&db, &org, &[(ADMIN, "admin")]).await;
    let (addr, inbox) = receiver().await;
    let stage = Stage::start(&db, &[]).await;
    let b = &stage.b;
    sign_in(b, &stage.base, ADMIN).await;

    // From the accounts page to the channels page; add a webhook.
    click(b, "nav a[href='/admin/accounts']").await;
    expect(b, "table.accounts").await;
    click(b, "main a[href='/admin/channels']").await;
    expect(b, "form.new-channel-form").await;
    type_into(b, "#channel-name", "SOC webhook").await;
    b.find(Locator::Css("#channel-kind"))
        .await
        .unwrap()
        .select_by_value("webhook")
        .await
        .unwrap();
    type_into(b, "#channel-url", &format!("http://{addr}/hook")).await;
    b.execute(
        "document.querySelector('#channel-digest').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    shot(b, "channels-00-form").await;
    click(b, "form.new-channel-form button[type=submit]").await;
    expect(b, "section.new-channel code.secret").await;
    let secret = text(b, "section.new-channel code.secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(
        text(b, "table.channels td.target").await,
        format!("http://{addr}")
    );
    shot(b, "channels-01-created").await;

    // "Send a test": it arrives within the deliverer's next rounds, signed.
    click(b, "table.channels form.test button").await;
    expect(b, "p.tested").await;
    let mut got = Vec::new();
    for _ in 0..100 {
        got = inbox.lock().unwrap().clone();
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got.len(), 1, "the test message arrived once");
    let (headers, body) = &got[0];
    let h = |n: &str| headers[n].to_str().unwrap().to_owned();
    assert_eq!(
        h("webhook-signature"),
        cockpit_domain::notify::sign(
            &secret,
            &h("webhook-id"),
            h("webhook-timestamp").parse().unwrap(),
            body
        )
    );
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["type"], "test");
    assert_eq!(json["id"], h("webhook-id"));

    // The delivery log says so.
    let mut status = String::new();
    for _ in 0..50 {
        stage.goto("/admin/deliveries").await;
        status = text(b, "table.deliveries td.status").await;
        if status == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, "delivered");
    assert_eq!(text(b, "table.deliveries td.channel").await, "SOC webhook");
    shot(b, "channels-02-delivery-log").await;
    stage.b.clone().close().await.unwrap();
}

/// Adds a channel on the channels page: `extra` fills more fields by id.
async fn add_channel(b: &Client, name: &str, kind: &str, url: &str, extra: &[(&str, &str)]) {
    expect(b, "form.new-channel-form").await;
    type_into(b, "#channel-name", name).await;
    b.find(Locator::Css("#channel-kind"))
        .await
        .unwrap()
        .select_by_value(kind)
        .await
        .unwrap();
    type_into(b, "#channel-url", url).await;
    for (id, value) in extra {
        type_into(b, id, value).await;
    }
    click(b, "form.new-channel-form button[type=submit]").await;
    expect(b, "section.new-channel").await;
}

/// The demo, as a security team would try it: a webhook and a mailbox on
/// the team's own machine, the simulated orgs' life (new apps, leavers),
/// and a person authorizing an app again after the cockpit revoked it;
/// each reaches both, and the delivery log shows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_tells_a_webhook_and_a_mailbox_what_happens_in_its_orgs() {
    if !common::browser::browser_here(
        "the_demo_tells_a_webhook_and_a_mailbox_what_happens_in_its_orgs",
    ) {
        return;
    }
    let server_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let database = format!("oauth_cockpit_demo_notify_{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let sims = common::browser::free_pair();
    let (stage, password) = Stage::demo(&server_url, &database, dir.path(), sims).await;
    let b = &stage.b;
    let (hook, inbox) = receiver().await;
    let (smtp, mails) = cockpit_worker::testing::smtp_server().await;
    sign_in(b, &stage.base, ("admin@demo.example", &password)).await;

    stage.goto("/admin/channels").await;
    add_channel(
        b,
        "SOC webhook",
        "webhook",
        &format!("http://{hook}/hook"),
        &[],
    )
    .await;
    add_channel(
        b,
        "SOC mailbox",
        "email",
        &format!("smtp://{smtp}"),
        &[
            ("#channel-from", "cockpit@demo.example"),
            ("#channel-to", "soc@demo.example"),
        ],
    )
    .await;
    assert_eq!(
        text(b, "table.channels tbody")
            .await
            .matches("Send a test")
            .count(),
        2
    );

    // The cockpit revokes one person's authorization of the busiest app.
    stage.goto("/apps").await;
    click(b, "table.grid tbody tr td.name a").await;
    expect(b, "#authorizations").await;
    let app_name = text(b, "h1").await;
    let username: String = b
        .execute(
            "return document.querySelector('#authorizations tbody tr td:nth-child(2)').innerText",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .trim()
        .to_owned();
    click(b, "#authorizations a[data-action=revoke_token]").await;
    confirm_password_if_asked(b, &password).await;
    expect(b, "textarea#reason").await;
    submit_with_reason(b, "DEMO-1: the person left the project").await;
    expect(b, "#count-revoked").await;
    assert_eq!(wait_for_action(b).await, "succeeded");

    // The person clicks "Allow" again; life goes on in both orgs.
    let http = reqwest::Client::new();
    let mut granted = false;
    for port in [sims, sims + 1] {
        let sim = format!("http://127.0.0.1:{port}");
        let res = http
            .post(format!("{sim}/_sim/grant"))
            .json(&serde_json::json!({ "app": app_name, "username": username }))
            .send()
            .await
            .unwrap();
        granted |= res.status().is_success();
        http.post(format!("{sim}/_sim/activity"))
            .json(&serde_json::json!({ "steps": 600 }))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }
    assert!(granted, "{username} authorized {app_name} again");

    // "Sync now" on each org.
    stage.goto("/orgs").await;
    let orgs: Vec<String> = {
        let mut hrefs = Vec::new();
        for a in b
            .find_all(Locator::Css("table.grid tbody a[href^='/orgs/']"))
            .await
            .unwrap()
        {
            hrefs.push(a.attr("href").await.unwrap().unwrap());
        }
        hrefs
    };
    assert_eq!(orgs.len(), 2, "{orgs:?}");
    for org in &orgs {
        stage.goto(org).await;
        click(b, &format!("form[action='{org}/sync'] button")).await;
    }

    // Both receivers hear of the re-authorization, a leaver and a new app.
    let wanted = ["app.reauthorized", "user.leaver_with_tokens", "app.new"];
    let mut types = BTreeSet::new();
    for _ in 0..240 {
        types = inbox
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, body)| serde_json::from_slice::<serde_json::Value>(body).ok())
            .map(|v| v["type"].as_str().unwrap_or_default().to_owned())
            .collect();
        if wanted.iter().all(|w| types.contains(*w)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for w in wanted {
        assert!(types.contains(w), "the webhook never got {w}: {types:?}");
    }
    let again = inbox
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, body)| serde_json::from_slice::<serde_json::Value>(body).ok())
        .find(|v| v["type"] == "app.reauthorized")
        .unwrap();
    assert_eq!(again["data"]["app"], app_name.as_str());
    let mut subjects = Vec::new();
    for _ in 0..120 {
        subjects = mails
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, data)| {
                // Long headers are folded (RFC 5322): a line that starts
                // with white space continues the one before.
                let head = data.split("\n\n").next().unwrap_or_default();
                head.replace("\n ", " ")
                    .replace("\n\t", " ")
                    .lines()
                    .find(|l| l.starts_with("Subject:"))
                    .map(str::to_owned)
            })
            .collect();
        if subjects.iter().any(|s| s.contains("authorized again"))
            && subjects.iter().any(|s| s.contains("still holds"))
            && subjects.iter().any(|s| s.contains("New app"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for said in ["authorized again", "still holds", "New app"] {
        assert!(
            subjects.iter().any(|s| s.contains(said)),
            "no mail says {said:?}: {subjects:?}"
        );
    }
    assert!(
        mails
            .lock()
            .unwrap()
            .iter()
            .all(|(to, _)| to == &["soc@demo.example"])
    );

    // The delivery log shows them delivered to both channels, newest
    // first, a hundred to a page.
    stage.goto("/admin/deliveries?status=delivered").await;
    shot(b, "channels-03-demo-delivery-log").await;
    let mut log = String::new();
    for _ in 0..20 {
        let Ok(table) = b.find(Locator::Css("table.deliveries")).await else {
            break;
        };
        log.push_str(&table.text().await.unwrap());
        let Ok(older) = b.find(Locator::Css("a[rel=next]")).await else {
            break;
        };
        let href = older.attr("href").await.unwrap().unwrap();
        stage.goto(&href).await;
    }
    for w in [
        "SOC webhook",
        "SOC mailbox",
        "app.reauthorized",
        "user.leaver_with_tokens",
        "app.new",
    ] {
        assert!(log.contains(w), "the delivery log lacks {w}");
    }
    stage.b.clone().close().await.unwrap();
    drop(stage);
    // The demo made its database; the test removes it.
    if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&server_url).await {
        // The name is the test's own (digits and underscores).
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
    }
}
