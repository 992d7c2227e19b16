//! End to end, in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) drives the real `oauth-cockpit serve` against sfsim.
//! Each page visited is saved as a screenshot under
//! `target/e2e-screenshots/`.

use fantoccini::Locator;

mod common;
use common::browser::{
    ADMIN, Stage, VIEWER, confirm_password_if_asked, seed, shot, sign_in, sign_out,
    submit_with_reason, text, wait_for_action, wait_path,
};

#[sqlx::test(migrations = false)]
async fn a_security_admin_revokes_and_blocks_in_a_real_browser(
    _p: sqlx::postgres::PgPoolOptions,
    opts: sqlx::postgres::PgConnectOptions,
) {
    if !common::browser::browser_here("a_security_admin_revokes_and_blocks_in_a_real_browser") {
        return;
    }
    let db = common::db_url(&opts);
    let org = common::SimOrg::start(3_000, 500, 20).await;
    let sim = &org.sim;
    seed(&db, &org, &[(ADMIN, "admin"), (VIEWER, "viewer")]).await;
    let stage = Stage::start(&db, &[]).await;
    let (b, base) = (stage.b.clone(), stage.base.clone());

    // Sign in.
    b.goto(&base).await.unwrap();
    assert!(
        b.current_url().await.unwrap().path().starts_with("/signin"),
        "anonymous people are sent to sign in"
    );
    shot(&b, "01-signin").await;
    sign_in(&b, &base, ADMIN).await;
    shot(&b, "02-overview").await;

    // Find the stalest app (the stale-authorizations report lists the
    // longest-unused first) and open it.
    b.goto(&format!("{base}/apps")).await.unwrap();
    shot(&b, "03-apps").await;
    b.goto(&format!("{base}/reports/stale")).await.unwrap();
    shot(&b, "03b-stale-report").await;
    b.find(Locator::Css("table.grid tbody tr td.app a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::Css("section.actions"))
        .await
        .unwrap();
    let app_url = b.current_url().await.unwrap();
    let app_name = text(&b, "h1").await;
    shot(&b, "04-app-detail").await;

    // Revoke one user's authorization, with a reason.
    let revoke = b
        .find(Locator::Css("a[data-action=revoke_token]"))
        .await
        .unwrap();
    let href = revoke.attr("href").await.unwrap().unwrap();
    let token_id = url::Url::parse(&format!("{base}{href}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(sim.sim.refresh_token_of(&token_id).is_some());
    revoke.click().await.unwrap();
    b.wait()
        .for_element(Locator::Css("textarea#reason"))
        .await
        .unwrap();
    shot(&b, "05-confirm-revoke").await;
    submit_with_reason(&b, "INC-42: token replayed from an unknown IP").await;
    if b.wait()
        .for_element(Locator::Css("#count-revoked"))
        .await
        .is_err()
    {
        shot(&b, "05-error").await;
        panic!("no action page after submit: {}", text(&b, "main").await);
    }
    assert_eq!(wait_for_action(&b).await, "succeeded");
    assert_eq!(text(&b, "#count-revoked").await, "1");
    shot(&b, "06-revoke-confirmed").await;
    assert!(
        sim.sim.refresh_token_of(&token_id).is_none(),
        "the token is gone in sfsim"
    );

    // The audit history shows it.
    b.goto(&format!("{base}/audit")).await.unwrap();
    let audit = text(&b, "main").await;
    assert!(
        audit.contains("action.completed") && audit.contains("INC-42: token replayed"),
        "{audit}"
    );
    shot(&b, "07-audit").await;

    // Block the app: every token gone, new authorizations refused by sfsim.
    b.goto(app_url.as_str()).await.unwrap();
    b.find(Locator::Css("a[data-action=block_app]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(wait_path(&b, |p| p == "/actions/new" || p == "/reauth").await);
    confirm_password_if_asked(&b, ADMIN.1).await;
    b.wait()
        .for_element(Locator::Css("textarea#reason"))
        .await
        .unwrap();
    let warning = text(&b, "main").await;
    assert!(
        warning.contains("immediate and affects everyone"),
        "{warning}"
    );
    shot(&b, "08-confirm-block").await;
    submit_with_reason(&b, "Vendor breach: block until rotated").await;
    b.wait()
        .for_element(Locator::Css("p.block-outcome"))
        .await
        .unwrap();
    assert_eq!(wait_for_action(&b).await, "succeeded");
    assert!(
        text(&b, "p.block-outcome")
            .await
            .contains("Salesforce confirmed the block")
    );
    shot(&b, "09-block-confirmed").await;
    assert!(
        sim.sim.tokens_for_app(&app_name) > 0,
        "a block keeps {app_name}'s authorizations (they are refused, not revoked)"
    );
    let (client_id, secret) = sim
        .sim
        .app_credentials(&app_name)
        .expect("sfsim knows the blocked app");
    let res = reqwest::Client::new()
        .post(format!("{}/services/oauth2/token", sim.base_url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    let body = res.text().await.unwrap();
    assert!(
        body.contains("app_blocked"),
        "new authorizations are refused: {body}"
    );
    sign_out(&b).await;

    // A viewer sees no action buttons and cannot post them.
    sign_in(&b, &base, VIEWER).await;
    b.goto(app_url.as_str()).await.unwrap();
    b.wait()
        .for_element(Locator::Css("section.actions"))
        .await
        .unwrap();
    assert!(
        b.find_all(Locator::Css(
            "section.actions a, section.actions button, a[data-action]"
        ))
        .await
        .unwrap()
        .is_empty()
    );
    shot(&b, "10-viewer-app-detail").await;
    let csrf = b
        .find(Locator::Css("form[action='/signout'] input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    let cookie = b
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name().contains("cockpit_session"))
        .unwrap();
    let org = app_url
        .query_pairs()
        .find(|(k, _)| k == "org")
        .map(|(_, v)| v.into_owned());
    let res = reqwest::Client::new()
        .post(format!("{base}/actions"))
        .header("cookie", format!("{}={}", cookie.name(), cookie.value()))
        .header("origin", &base)
        .form(&[
            ("csrf", csrf.as_str()),
            (
                "org",
                org.as_deref()
                    .unwrap_or("00000000-0000-0000-0000-000000000000"),
            ),
            ("kind", "revoke_token"),
            ("token", "0CQ000000000001AAA"),
            ("reason", "viewer tries"),
            ("idempotency_key", "viewer-attempt-123456"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        matches!(res.status().as_u16(), 403 | 404),
        "a viewer cannot act: {}",
        res.status()
    );
    b.close().await.unwrap();
}
