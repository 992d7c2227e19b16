//! A full session against the simulator with every log line captured at TRACE: no secret may
//! appear in it. (Its own test binary: a global subscriber sees every thread.)

mod common;

use std::sync::{Arc, Mutex};

use cockpit_salesforce::{Error, ExposeSecret, OAuthClient, OAuthConfig, OauthToken, SecretString};
use futures::TryStreamExt;
use sfsim::{Sim, SimConfig};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use url::Url;

/// A `MakeWriter` appending to a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs() {
    let buffer = Buffer::default();
    // Everything on the client side at TRACE (our crate, reqwest, hyper, rustls, oauth2); the
    // simulator's own server logs are not the client's business.
    let filter = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("sfsim", LevelFilter::OFF);
    let subscriber = tracing_subscriber::registry().with(filter).with(
        tracing_subscriber::fmt::layer()
            .with_writer(buffer.clone())
            .with_ansi(false),
    );
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let running = Sim::spawn(SimConfig {
        tokens: 600,
        users: 80,
        apps: 8,
        rotate_refresh_tokens: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let c = running.credentials.clone();
    let mut secrets: Vec<String> = vec![c.client_secret.clone(), c.password.clone()];
    // A line from the middle of the private key.
    secrets.push(c.jwt_private_key_pem.lines().nth(3).unwrap().to_owned());

    // Web-server flow, identity, API calls, refresh on expiry (with rotation).
    let oauth = common::oauth(&c);
    let auth = oauth.authorize_url().unwrap();
    secrets.push(auth.pkce_verifier.expose_secret().to_owned());
    let (code, _) = common::browser_login(&auth.url, &c.username, &c.password).await;
    secrets.push(code.clone());
    let t = oauth
        .exchange_code(&code, &auth.pkce_verifier)
        .await
        .unwrap();
    secrets.push(t.access_token.expose().to_owned());
    secrets.push(t.refresh_token.as_ref().unwrap().expose_secret().to_owned());
    oauth
        .identity(t.id.as_ref().unwrap(), &t.access_token)
        .await
        .unwrap();
    let (client, provider) = common::session(&oauth, &t);
    client.limits().await.unwrap();
    running.sim.expire_access_tokens();
    let tokens: Vec<OauthToken> = client.oauth_tokens_all().await.unwrap().0;
    secrets.push(
        provider
            .refresh_token()
            .await
            .unwrap()
            .expose_secret()
            .to_owned(),
    );
    let revoked = tokens
        .iter()
        .find(|t| t.user_id.is_some() && t.app_name.is_some())
        .unwrap();
    for tok in tokens.iter().take(50) {
        secrets.push(tok.delete_token.as_ref().unwrap().expose().to_owned());
    }
    client
        .revoke_delete_token(revoked.delete_token.as_ref().unwrap())
        .await
        .unwrap();
    let _: Vec<_> = client.eca_apps(100).try_collect().await.unwrap();
    let _ = client.list_metadata("BlacklistedConsumer").await.unwrap();
    oauth
        .revoke(
            client.instance_url(),
            &provider.refresh_token().await.unwrap(),
            None,
        )
        .await
        .unwrap();

    // Errors on the way: a replayed code, a stale refresh token, a bad secret.
    let err = oauth
        .exchange_code(&code, &auth.pkce_verifier)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NeedsReauthorization { .. }));
    let err = oauth
        .refresh(t.refresh_token.as_ref().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NeedsReauthorization { .. }));
    let mut wrong = oauth.config().clone();
    wrong.client_secret = Some(SecretString::from("wrong-secret-value"));
    let _ = OAuthClient::new(wrong).unwrap().client_credentials().await;

    // JWT bearer and client credentials.
    let key = SecretString::from(c.jwt_private_key_pem.clone());
    let jwt = oauth.jwt_bearer(&c.username, &key).await.unwrap();
    secrets.push(jwt.access_token.expose().to_owned());
    let mut cfg = OAuthConfig::new(Url::parse(&c.login_url).unwrap(), c.client_id.clone());
    cfg.client_secret = Some(SecretString::from(c.client_secret.clone()));
    let cc = OAuthClient::new(cfg)
        .unwrap()
        .client_credentials()
        .await
        .unwrap();
    secrets.push(cc.access_token.expose().to_owned());
    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("salesforce request"),
        "our requests are logged"
    );
    assert!(logs.contains("/services/oauth2/token"), "paths are logged");
    for secret in &secrets {
        assert!(secret.len() >= 8, "test secrets are real values");
        assert!(
            !logs.contains(secret.as_str()),
            "a secret leaked into the logs"
        );
    }
}
