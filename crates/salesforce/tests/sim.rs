//! End to end against the org simulator, in process.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use cockpit_salesforce::{
    BlockTarget, ConnectedApplication, Error, ExposeSecret, InMemoryTokenProvider, OAuthClient,
    OAuthConfig, OauthToken, Renewal, SalesforceClient, SecretString, developer_name,
};
use common::{browser_login, connect_web, oauth, session};
use futures::{StreamExt, TryStreamExt};
use sfsim::{Fault, RunningSim, Sim, SimConfig};
use url::Url;

async fn sim(config: SimConfig) -> RunningSim {
    Sim::spawn(config).await.unwrap()
}

fn small() -> SimConfig {
    SimConfig {
        tokens: 300,
        users: 60,
        apps: 8,
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn web_server_flow_identity_and_versions() {
    let running = sim(small()).await;
    let (oauth, t) = connect_web(&running).await;
    assert!(t.refresh_token.is_some());
    let (org, user) = t.ids().unwrap();
    assert_eq!(org, running.credentials.org_id);
    let id = oauth
        .identity(t.id.as_ref().unwrap(), &t.access_token)
        .await
        .unwrap();
    assert_eq!(id.username, running.credentials.username);
    assert_eq!(id.organization_id, org);
    assert_eq!(id.user_id, user);

    let (client, _) = session(&oauth, &t);
    let versions = client.versions().await.unwrap();
    assert!(versions.iter().any(|v| v.version == "66.0"));
    let limits = client.limits().await.unwrap();
    assert!(limits["DailyApiRequests"].max > 0);
    assert!(client.api_usage().is_some(), "Sforce-Limit-Info recorded");
    let perms = client.user_permissions().await.unwrap();
    assert!(perms.sees_all_tokens());
}

#[tokio::test]
async fn code_cannot_be_replayed() {
    let running = sim(small()).await;
    let c = &running.credentials;
    let oauth = oauth(c);
    let auth = oauth.authorize_url().unwrap();
    let (code, _) = browser_login(&auth.url, &c.username, &c.password).await;
    oauth
        .exchange_code(&code, &auth.pkce_verifier)
        .await
        .unwrap();
    let err = oauth
        .exchange_code(&code, &auth.pkce_verifier)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NeedsReauthorization { .. }), "{err:?}");
}

#[tokio::test]
async fn jwt_bearer_flow() {
    let running = sim(small()).await;
    let c = &running.credentials;
    let oauth = oauth(c);
    let key = SecretString::from(c.jwt_private_key_pem.clone());
    let t = oauth.jwt_bearer(&c.username, &key).await.unwrap();
    assert!(t.refresh_token.is_none());
    let provider = Arc::new(InMemoryTokenProvider::new(
        oauth.clone(),
        Some(t.access_token.clone()),
        Renewal::JwtBearer {
            username: c.username.clone(),
            private_key_pem: key.clone(),
        },
    ));
    let client = common::client_with(t.instance_url.as_str(), provider.clone());
    client.limits().await.unwrap();
    // Renewal by a new assertion when the session expires.
    running.sim.expire_access_tokens();
    client.limits().await.unwrap();
    assert_eq!(provider.refresh_count().await, 1);

    let bad = OAuthClient::new(OAuthConfig {
        jwt_audience: Some("https://example.com".into()),
        ..oauth.config().clone()
    })
    .unwrap();
    let err = bad.jwt_bearer(&c.username, &key).await.unwrap_err();
    assert!(matches!(err, Error::NeedsReauthorization { .. }), "{err:?}");
}

#[tokio::test]
async fn client_credentials_flow() {
    let running = sim(small()).await;
    let oauth = oauth(&running.credentials);
    let t = oauth.client_credentials().await.unwrap();
    assert!(t.refresh_token.is_none());
    let provider = Arc::new(InMemoryTokenProvider::new(
        oauth.clone(),
        Some(t.access_token.clone()),
        Renewal::ClientCredentials,
    ));
    let client = common::client_with(t.instance_url.as_str(), provider);
    client.limits().await.unwrap();

    let mut wrong = oauth.config().clone();
    wrong.client_secret = Some(SecretString::from("not-the-secret"));
    let err = OAuthClient::new(wrong)
        .unwrap()
        .client_credentials()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidClient { .. }), "{err:?}");
}

#[tokio::test]
async fn refresh_with_rotation() {
    let running = sim(SimConfig {
        rotate_refresh_tokens: true,
        ..small()
    })
    .await;
    let (oauth, t) = connect_web(&running).await;
    let first_rt = t.refresh_token.clone().unwrap();
    let r = oauth.refresh(&first_rt).await.unwrap();
    let second_rt = r
        .refresh_token
        .clone()
        .expect("rotation returns a refresh token");
    assert_ne!(second_rt.expose_secret(), first_rt.expose_secret());
    // The new one works; the old one is dead (and replaying it kills the family).
    let r2 = oauth.refresh(&second_rt).await.unwrap();
    assert!(r2.refresh_token.is_some());
    let err = oauth.refresh(&first_rt).await.unwrap_err();
    assert!(matches!(err, Error::NeedsReauthorization { .. }), "{err:?}");
    assert!(err.needs_reauthorization());
}

#[tokio::test]
async fn refresh_without_rotation_keeps_the_refresh_token() {
    let running = sim(small()).await;
    let (oauth, t) = connect_web(&running).await;
    let rt = t.refresh_token.clone().unwrap();
    let r = oauth.refresh(&rt).await.unwrap();
    assert!(r.refresh_token.is_none());
    assert_ne!(r.access_token, t.access_token);
    oauth.refresh(&rt).await.unwrap();
}

#[tokio::test]
async fn session_refreshes_once_and_stores_rotated_token() {
    let running = sim(SimConfig {
        rotate_refresh_tokens: true,
        ..small()
    })
    .await;
    let (oauth, t) = connect_web(&running).await;
    let (client, provider) = session(&oauth, &t);
    client.limits().await.unwrap();
    running.sim.expire_access_tokens();
    client.limits().await.unwrap();
    assert_eq!(provider.refresh_count().await, 1);
    let stored = provider.refresh_token().await.unwrap();
    assert_ne!(
        stored.expose_secret(),
        t.refresh_token.as_ref().unwrap().expose_secret()
    );
    // A revoked grant: refresh fails with NeedsReauthorization, not a loop.
    oauth
        .revoke(client.instance_url(), &stored, None)
        .await
        .unwrap();
    running.sim.expire_access_tokens();
    let err = client.limits().await.unwrap_err();
    assert!(matches!(err, Error::NeedsReauthorization { .. }), "{err:?}");
}

#[tokio::test]
async fn fixed_token_fails_after_one_refresh_attempt() {
    let running = sim(small()).await;
    let (_, t) = connect_web(&running).await;
    let client = common::fixed_client(t.instance_url.as_str(), t.access_token.expose());
    client.limits().await.unwrap();
    running.sim.set_fault(Fault::ExpireSessions);
    let err = client.limits().await.unwrap_err();
    assert!(matches!(err, Error::InvalidSession), "{err:?}");
}

#[tokio::test]
async fn every_oauth_token_beyond_the_cap() {
    let running = sim(SimConfig {
        tokens: 6_000,
        users: 800,
        apps: 30,
        ..SimConfig::default()
    })
    .await;
    let (oauth, t) = connect_web(&running).await;
    let (client, _) = session(&oauth, &t);
    let expected = running.sim.token_count();
    assert!(expected > 2_500);

    let before = running.sim.request_count();
    let (tokens, stats) = client.oauth_tokens_all().await.unwrap();
    let calls = running.sim.request_count() - before;
    let ids: HashSet<&str> = tokens.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids.len(), tokens.len(), "no duplicates");
    assert_eq!(tokens.len(), expected);
    assert!(stats.complete);
    assert_eq!(stats.api_calls, calls);
    assert!(
        calls <= (expected as u64).div_ceil(500) + stats.parts + 3,
        "{stats:?}"
    );
    assert!(tokens.iter().all(|t| t.delete_token.is_some()));

    // The plain query stops at the cap and says so instead of returning a short list.
    let err = client
        .query_vec::<OauthToken>(&format!("SELECT {} FROM OauthToken", OauthToken::FIELDS))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Incomplete { got: 2_500, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn budget_stop_and_limit_backoff() {
    let running = sim(SimConfig {
        daily_api_limit: 1_000,
        ..small()
    })
    .await;
    let (oauth, t) = connect_web(&running).await;
    let (client, _) = session(&oauth, &t);
    running.sim.set_api_usage(740);
    client.limits().await.unwrap();
    assert_eq!(client.api_usage().unwrap().max, 1_000);
    running.sim.set_api_usage(760);
    client.limits().await.unwrap();
    let before = running.sim.request_count();
    let err = client.limits().await.unwrap_err();
    assert!(
        matches!(err, Error::BudgetPaused { max: 1_000, .. }),
        "{err:?}"
    );
    assert_eq!(running.sim.request_count(), before);

    // A fresh session that does not know the usage yet runs into the real limit.
    let (client2, _) = session(&oauth, &t);
    running.sim.set_fault(Fault::ExhaustBudget);
    let before = running.sim.request_count();
    let err = client2.limits().await.unwrap_err();
    assert!(
        matches!(err, Error::RequestLimitExceeded { attempts: 3 }),
        "{err:?}"
    );
    assert_eq!(running.sim.request_count() - before, 4);
}

#[tokio::test]
async fn sim_faults_are_typed_errors() {
    let running = sim(small()).await;
    let (oauth, t) = connect_web(&running).await;
    let (client, _) = session(&oauth, &t);
    // A read cut off once is asked again; cut off every time (the first try
    // and the three retries), it is a typed error.
    running.sim.set_fault(Fault::TruncateJson { nth: 1 });
    client
        .limits()
        .await
        .expect("a cut answer to a GET is asked again");
    running.sim.clear_faults();
    for nth in 1..=4 {
        running.sim.set_fault(Fault::TruncateJson { nth });
    }
    let err = client.limits().await.unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err:?}");
    running.sim.clear_faults();
    for nth in 1..=4 {
        running.sim.set_fault(Fault::DropConnectionMidBody { nth });
    }
    let err = client.limits().await.unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err:?}");
    running.sim.clear_faults();
    running.sim.set_fault(Fault::ServerErrorOnNth(1));
    client
        .limits()
        .await
        .expect("a single 503 on a GET is retried");
}

#[tokio::test]
async fn wrong_my_domain_or_version_is_clear() {
    let running = sim(small()).await;
    let (_, t) = connect_web(&running).await;
    let mut cfg = common::fast_config();
    cfg.api_version = "40.0".into();
    let client = SalesforceClient::new(
        cfg,
        t.instance_url.clone(),
        Arc::new(InMemoryTokenProvider::fixed(t.access_token.clone())),
    )
    .unwrap();
    let err = client.limits().await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 404, .. }), "{err:?}");

    // The login page is HTML (what a wrong My Domain serves): the client must say so.
    let oauth = oauth(&running.credentials);
    let login_page = oauth.authorize_url().unwrap().url;
    let err = oauth
        .identity(&login_page, &t.access_token)
        .await
        .unwrap_err();
    match &err {
        Error::NotJson {
            status,
            content_type,
            snippet,
        } => {
            assert_eq!(*status, 200);
            assert!(content_type.contains("html"), "{content_type}");
            assert!(snippet.contains("Login"), "{snippet}");
        }
        other => panic!("{other:?}"),
    }
}

async fn admin_client(running: &RunningSim) -> SalesforceClient {
    let (oauth, t) = connect_web(running).await;
    session(&oauth, &t).0
}

#[tokio::test]
async fn revoke_by_delete_token() {
    let running = sim(small()).await;
    let client = admin_client(&running).await;
    let tokens: Vec<OauthToken> = client
        .query_vec(&format!(
            "SELECT {} FROM OauthToken ORDER BY CreatedDate",
            OauthToken::FIELDS
        ))
        .await
        .unwrap();
    let user = tokens
        .iter()
        .filter_map(|t| t.user_id.clone())
        .find(|u| running.sim.tokens_for_user(u) >= 1)
        .unwrap();
    let before = running.sim.tokens_for_user(&user);
    let theirs: Vec<OauthToken> = client
        .query_vec(&format!(
            "SELECT {} FROM OauthToken WHERE UserId = '{user}'",
            OauthToken::FIELDS
        ))
        .await
        .unwrap();
    assert_eq!(theirs.len(), before);
    for t in &theirs {
        client
            .revoke_delete_token(t.delete_token.as_ref().unwrap())
            .await
            .unwrap();
    }
    assert_eq!(running.sim.tokens_for_user(&user), 0);
    let err = client
        .revoke_delete_token(theirs[0].delete_token.as_ref().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::OAuth { ref code, .. } if code == "invalid_token"),
        "{err:?}"
    );
}

#[tokio::test]
async fn block_and_unblock_through_metadata() {
    let running = sim(small()).await;
    let client = admin_client(&running).await;
    let apps: Vec<ConnectedApplication> = client
        .query_vec(&format!(
            "SELECT {} FROM ConnectedApplication",
            ConnectedApplication::FIELDS
        ))
        .await
        .unwrap();
    // A third-party app with tokens (not the cockpit's own, index 0).
    let app = apps
        .iter()
        .filter(|a| {
            running.sim.app_credentials(&a.name).map(|c| c.0)
                != Some(running.credentials.client_id.clone())
        })
        .max_by_key(|a| running.sim.tokens_for_app(&a.name))
        .unwrap();
    let tokens_before = running.sim.tokens_for_app(&app.name);
    assert!(tokens_before > 0);
    let (key, secret) = running.sim.app_credentials(&app.name).unwrap();
    let target = BlockTarget {
        developer_name: developer_name(&app.name),
        consumer_key: key.clone(),
        label: app.name.clone(),
    };
    let result = client.block_connected_app(&target).await.unwrap();
    assert!(result.done);
    assert!(running.sim.is_blocked(&key));
    assert_eq!(
        running.sim.tokens_for_app(&app.name),
        tokens_before,
        "a block keeps the authorizations; they are refused until revoked or unblocked"
    );

    let listed = client.list_metadata("BlacklistedConsumer").await.unwrap();
    assert!(
        listed.iter().any(|m| m.full_name == target.developer_name),
        "{listed:?}"
    );

    // The blocked app's own token calls now fail with AppBlocked.
    let mut cfg = OAuthConfig::new(
        Url::parse(&running.credentials.login_url).unwrap(),
        key.clone(),
    );
    cfg.client_secret = Some(SecretString::from(secret));
    let err = OAuthClient::new(cfg)
        .unwrap()
        .client_credentials()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AppBlocked { .. }), "{err:?}");

    client
        .unblock_connected_app(&target.developer_name)
        .await
        .unwrap();
    assert!(!running.sim.is_blocked(&key));

    let bad = BlockTarget {
        developer_name: "Nope".into(),
        consumer_key: "no-such-key".into(),
        label: "Nope".into(),
    };
    let err = client.block_connected_app(&bad).await.unwrap_err();
    match &err {
        Error::DeployFailed {
            status, failures, ..
        } => {
            assert_eq!(status, "Failed");
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].full_name, "Nope");
            assert!(failures[0].problem.contains("consumer key"), "{err}");
        }
        other => panic!("{other:?}"),
    }
    let err = client
        .unblock_connected_app("Never_Blocked")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DeployFailed { .. }), "{err:?}");
}

#[tokio::test]
async fn block_and_unblock_an_external_client_app_by_policy() {
    let running = sim(small()).await;
    let client = admin_client(&running).await;
    let ecas: Vec<cockpit_salesforce::ExternalClientApplication> = client
        .query_vec("SELECT Id, MasterLabel, DeveloperName, DistributionState FROM ExternalClientApplication")
        .await
        .unwrap();
    // Not the cockpit's own app: disabling that would end this session.
    let eca = ecas
        .iter()
        .find(|e| {
            e.master_label
                .as_deref()
                .and_then(|l| running.sim.app_credentials(l))
                .is_some_and(|(key, _)| key != running.credentials.client_id)
        })
        .expect("the sim has External Client Apps");
    let dev = eca.developer_name.clone().unwrap();
    let label = eca.master_label.clone().unwrap();
    let (key, _) = running.sim.app_credentials(&label).unwrap();
    let read = client.read_eca_policies(&[&dev]).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].is_enabled, Some(true));
    assert_eq!(
        read[0].external_client_application.as_deref(),
        Some(dev.as_str())
    );

    let result = client.set_eca_enabled(&dev, false).await.unwrap();
    assert!(result.done);
    assert!(running.sim.is_disabled(&key));
    let read = client.read_eca_policies(&[&dev]).await.unwrap();
    assert_eq!(read[0].is_enabled, Some(false));

    client.set_eca_enabled(&dev, true).await.unwrap();
    assert!(!running.sim.is_disabled(&key));
    let read = client.read_eca_policies(&[&dev]).await.unwrap();
    assert_eq!(read[0].is_enabled, Some(true));

    // An unknown ECA: the deploy fails, nothing is read back.
    let err = client
        .set_eca_enabled("No_Such_Eca", false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DeployFailed { .. }), "{err:?}");
    assert!(
        client
            .read_eca_policies(&["No_Such_Eca"])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn read_connected_app_consumer_key() {
    let running = sim(small()).await;
    let client = admin_client(&running).await;
    let apps: Vec<ConnectedApplication> = client
        .query_vec("SELECT Id, Name FROM ConnectedApplication")
        .await
        .unwrap();
    let names: Vec<String> = apps.iter().map(|a| developer_name(&a.name)).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let md = client.read_connected_apps(&refs).await.unwrap();
    assert!(!md.is_empty());
    let keys: HashSet<String> = apps
        .iter()
        .filter_map(|a| running.sim.app_credentials(&a.name).map(|c| c.0))
        .collect();
    assert!(
        md.iter()
            .filter_map(|m| m.consumer_key.clone())
            .any(|k| keys.contains(&k))
    );
}

#[tokio::test]
async fn eca_usage_and_revocation() {
    let running = sim(small()).await;
    let client = admin_client(&running).await;
    let admin = running.credentials.username.clone();
    let apps: Vec<_> = client.eca_apps(2).try_collect().await.unwrap();
    assert!(!apps.is_empty(), "sim has ECAs with usage");
    let mut revoked_one = false;
    let mut revoked_user = false;
    let mut revoked_all = false;
    for app in &apps {
        let users: Vec<_> = client
            .eca_app_users(&app.identifier, 3)
            .try_collect()
            .await
            .unwrap();
        // Never revoke the cockpit's own grant: it would end this session.
        let admin_uses_app = users.iter().any(|u| u.username.as_deref() == Some(&admin));
        let others: Vec<_> = users
            .iter()
            .filter(|u| u.username.as_deref() != Some(&admin))
            .collect();
        for u in &others {
            let tokens = client
                .eca_user_tokens(&app.identifier, &u.user_identifier)
                .await
                .unwrap();
            if !revoked_one
                && tokens.len() >= 2
                && let Some(id) = tokens[0].token_id()
            {
                client.eca_revoke_token(id).await.unwrap();
                let after = client
                    .eca_user_tokens(&app.identifier, &u.user_identifier)
                    .await
                    .unwrap();
                assert_eq!(after.len(), tokens.len() - 1);
                revoked_one = true;
            } else if !revoked_user && !tokens.is_empty() {
                client
                    .eca_revoke_user_tokens(&app.identifier, &u.user_identifier)
                    .await
                    .unwrap();
                assert!(
                    client
                        .eca_user_tokens(&app.identifier, &u.user_identifier)
                        .await
                        .unwrap()
                        .is_empty()
                );
                revoked_user = true;
            }
        }
        if !revoked_all && !admin_uses_app && !others.is_empty() {
            client.eca_revoke_all_tokens(&app.identifier).await.unwrap();
            let left: Vec<_> = client
                .eca_app_users(&app.identifier, 100)
                .try_collect()
                .await
                .unwrap();
            for u in left {
                assert!(
                    client
                        .eca_user_tokens(&app.identifier, &u.user_identifier)
                        .await
                        .unwrap()
                        .is_empty()
                );
            }
            revoked_all = true;
        }
    }
    assert!(
        revoked_user && revoked_all,
        "sim data exercised every revoke"
    );
    client.limits().await.expect("own session still alive");
}

#[tokio::test]
async fn api_total_usage_event_log() {
    let running = sim(small()).await;
    let client = admin_client(&running).await;
    running.sim.simulate_activity(50);
    let files = client.event_log_files("ApiTotalUsage", 30).await.unwrap();
    assert!(!files.is_empty(), "sim serves ApiTotalUsage logs");
    let mut records = client.event_log_records(&files[0]).await.unwrap();
    let header = records.next().await.unwrap().unwrap();
    let col = |name: &str| header.iter().position(|h| h == name.as_bytes()).unwrap();
    let (time, status) = (col("TIMESTAMP_DERIVED"), col("STATUS_CODE"));
    let mut n = 0;
    while let Some(rec) = records.next().await {
        let rec = rec.unwrap();
        assert_eq!(rec.len(), header.len());
        assert!(!rec[time].is_empty());
        assert!(
            std::str::from_utf8(&rec[status])
                .unwrap()
                .parse::<u16>()
                .is_ok()
        );
        n += 1;
    }
    assert!(n > 0);
}

#[tokio::test]
async fn typed_objects_parse_from_the_wire() {
    let running = sim(small()).await;
    let client = admin_client(&running).await;
    running.sim.simulate_activity(30);
    let users: Vec<_> = client.users().try_collect().await.unwrap();
    assert_eq!(users.len(), 60);
    let all: Vec<cockpit_salesforce::User> = client
        .query_all(&format!(
            "SELECT {} FROM User",
            cockpit_salesforce::User::FIELDS
        ))
        .try_collect()
        .await
        .unwrap();
    assert!(all.len() >= users.len());
    assert_eq!(client.count("SELECT COUNT() FROM User").await.unwrap(), 60);
    assert!(users.iter().any(|u| u.profile.is_some()));
    let apps: Vec<_> = client.connected_applications().try_collect().await.unwrap();
    assert!(!apps.is_empty());
    let items: Vec<_> = client.app_menu_items().try_collect().await.unwrap();
    assert!(items.iter().any(|i| i.application_id.is_some()));
    let _ecas: Vec<_> = client
        .external_client_applications()
        .try_collect()
        .await
        .unwrap();
    let _policies: Vec<_> = client.eca_oauth_policies().try_collect().await.unwrap();
    let since = running.sim.now() - chrono::Duration::days(180);
    let logins: Vec<_> = client
        .oauth_login_history(since)
        .try_collect()
        .await
        .unwrap();
    assert!(!logins.is_empty());
    let _audit: Vec<_> = client.setup_audit_trail(since).try_collect().await.unwrap();
}
