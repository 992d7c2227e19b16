use std::time::Duration;

use reqwest::StatusCode;
use sfsim::Credentials;

use crate::client;

#[tokio::test]
async fn binary_writes_credentials_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let creds_path = dir.path().join("out/credentials.json");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sfsim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--users",
            "50",
            "--apps",
            "12",
            "--tokens",
            "300",
            "--control",
        ])
        .arg("--credentials-file")
        .arg(&creds_path)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start sfsim binary");
    let mut creds: Option<Credentials> = None;
    for _ in 0..200 {
        if let Ok(s) = std::fs::read_to_string(&creds_path)
            && let Ok(c) = serde_json::from_str(&s)
        {
            creds = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let creds = creds.expect("credentials file written");
    let key = std::fs::read_to_string(creds.jwt_key_path.as_ref().unwrap()).unwrap();
    assert!(key.contains("PRIVATE KEY"));
    assert_eq!(key, creds.jwt_private_key_pem);
    let cert = std::fs::read_to_string(creds.jwt_certificate_path.as_ref().unwrap()).unwrap();
    assert!(cert.contains("BEGIN CERTIFICATE"));
    let http = client();
    let mut ok = false;
    for _ in 0..100 {
        if let Ok(r) = http
            .get(format!("{}/services/data/", creds.login_url))
            .send()
            .await
        {
            assert_eq!(r.status(), StatusCode::OK);
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "binary serves HTTP");
    let tok = crate::password_login(
        &http,
        &creds.login_url,
        &creds.username,
        &creds.password,
        &creds.client_id,
        &creds.client_secret,
    )
    .await;
    assert_eq!(tok["instance_url"], creds.instance_url.as_str());
    let r = http
        .get(format!("{}/_sim/status", creds.login_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    child.kill().await.unwrap();
}
