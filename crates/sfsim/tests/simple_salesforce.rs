//! Third-party client test, second ecosystem: the unmodified Python library
//! simple-salesforce (pinned in `tests/python/requirements.txt`) against
//! sfsim: logins by SOAP, password, JWT bearer and client credentials, the
//! OauthToken cap and complete reads by Id and by CreatedDate, describe,
//! limits, Metadata describe/list/read/create/delete (block and unblock),
//! error mapping, revoke by body and by query string. `scripts/test` makes
//! the virtual environment (`python3 -m venv crates/sfsim/tests/python/.venv`
//! and `pip install -r requirements.txt`).

use std::path::PathBuf;

mod tiers;

use sfsim::{Sim, SimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_salesforce_logs_in_reads_every_token_blocks_and_revokes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let python = dir.join(".venv/bin/python");
    let ready = std::process::Command::new(&python)
        .args(["-c", "import simple_salesforce"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !tiers::runs_here(
        "simple_salesforce_logs_in_reads_every_token_blocks_and_revokes",
        ready,
        "needs python3 with the pinned simple-salesforce in crates/sfsim/tests/python/.venv",
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
    let out = tokio::process::Command::new(&python)
        .arg(dir.join("run.py"))
        .env("SFSIM_CREDS", creds)
        .current_dir(&dir)
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "simple-salesforce failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    // The policy update reached the org, not only the client's view of it.
    let key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("policies set on "))
        .expect("the script names the app it changed");
    assert!(rs.sim.is_admin_approved_only(key), "{stdout}");
}
