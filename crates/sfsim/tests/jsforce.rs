//! Third-party client test: the unmodified jsforce library against sfsim:
//! logins (SOAP, password, JWT bearer, web server with PKCE), the silent
//! cap, complete reads by CreatedDate, user and Id keysets, describe,
//! Metadata list/read/create/delete (block and unblock), revoke by body and
//! by query string, and error mapping.
//! Needs `npm ci --prefix crates/sfsim/tests/jsforce` and node on PATH.

use std::path::PathBuf;

mod tiers;

use sfsim::{Sim, SimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsforce_logs_in_reads_every_token_blocks_and_revokes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/jsforce");
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !tiers::runs_here(
        "jsforce_logs_in_queries_past_the_cap_and_revokes",
        node && dir.join("node_modules/jsforce").exists(),
        "needs node v20+ and `npm ci --prefix crates/sfsim/tests/jsforce`",
    ) {
        return;
    }
    let rs = Sim::spawn(SimConfig {
        tokens: 6_000,
        users: 600,
        ..SimConfig::default()
    })
    .await
    .expect("spawn");
    let creds = serde_json::to_string(&rs.credentials).expect("creds");
    let out = tokio::process::Command::new("node")
        .arg(dir.join("run.js"))
        .env("SFSIM_CREDS", creds)
        .current_dir(&dir)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run `node` ({e}); install node v20+ and run `npm ci --prefix crates/sfsim/tests/jsforce`"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "node failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON output: {stdout} {stderr}"));
    let v: serde_json::Value = serde_json::from_str(line).expect("json");
    assert_eq!(v["orgId"], rs.credentials.org_id.as_str());
    assert_eq!(v["count"], 6000);
    assert_eq!(v["naive"], 2500, "autoFetch stops at the OauthToken cap");
    assert_eq!(v["naiveTotalSize"], 6000);
    assert_eq!(v["byDate"], 6000);
    assert_eq!(v["byUser"], 6000);
    assert_eq!(v["revokedStillThere"], 0);
    assert_eq!(v["oauthUsername"], rs.credentials.username.as_str());
    assert_eq!(v["dailyMax"], 100000);
    // Every token once, by Id keyset, in ascending Id order (after the revoke).
    assert_eq!(v["byId"], 5999);
    assert_eq!(v["byIdSorted"], true);
    assert!(v["describeKeys"].as_u64().unwrap() >= 40, "{v}");
    assert_eq!(v["describePicklists"], true);
    // Block and unblock through the Metadata API.
    assert_eq!(v["blockCreated"], true, "{v}");
    assert_eq!(v["blockListed"], true);
    assert_eq!(v["unblocked"], true);
    assert!(!rs.sim.is_blocked(v["blockTargetKey"].as_str().unwrap()));
    assert_eq!(v["jwtUsername"], rs.credentials.username.as_str());
    assert_eq!(v["webServerUsername"], rs.credentials.username.as_str());
    assert_eq!(v["webServerRefresh"], true);
    assert_eq!(v["revokeByQuery"], 200);
    assert_eq!(v["revokedSessionRefused"], true, "{v}");
    assert_eq!(v["malformed"], "MALFORMED_QUERY", "{v}");
    // One revoked, one granted by the web server flow.
    assert_eq!(rs.sim.token_count(), 6000);
}
