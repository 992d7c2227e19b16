//! `sfsim`: serve a simulated Salesforce org on a local port.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use sfsim::{Credentials, Fault, Sim, SimConfig};

/// A Salesforce org simulator speaking the real wire protocol (OAuth, REST query,
/// Metadata, Connect OAuth usage). Every option can also be set from the
/// environment (SFSIM_*).
#[derive(Parser, Debug)]
#[command(
    name = "sfsim",
    version,
    about,
    long_about = None,
    after_help = "Examples:\n  sfsim --listen 127.0.0.1:7070 --credentials-file sfsim/credentials.json\n  sfsim --tokens 1000000 --users 100000 --apps 2000 --control\n  sfsim --control --fault-latency-ms 200 --fault-error-rate 0.05\n\nWith --control: GET /_sim/status, POST /_sim/faults {\"type\":\"truncate_json\",\"nth\":1},\nDELETE /_sim/faults, POST /_sim/clock {\"advance_seconds\":86400}, POST /_sim/activity {\"steps\":100},\nPOST /_sim/expire-access-tokens, POST /_sim/api-usage {\"used\":99999}, GET /_sim/apps."
)]
struct Args {
    /// Address to listen on (login host, My Domain and instance URL are all this address).
    #[arg(long, env = "SFSIM_LISTEN", default_value = "127.0.0.1:7070")]
    listen: String,
    /// Seed for the deterministic org generator.
    #[arg(long, env = "SFSIM_SEED", default_value_t = 42)]
    seed: u64,
    /// Number of users to generate (at least 2).
    #[arg(long, env = "SFSIM_USERS", default_value_t = 200)]
    users: usize,
    /// Number of connected apps and External Client Apps to generate (at least 1).
    #[arg(long, env = "SFSIM_APPS", default_value_t = 20)]
    apps: usize,
    /// Number of OAuth tokens (grants) to generate.
    #[arg(long, env = "SFSIM_TOKENS", default_value_t = 2000)]
    tokens: usize,
    /// Enable the /_sim/ control API (faults, clock, activity, counters).
    #[arg(long, env = "SFSIM_CONTROL")]
    control: bool,
    /// Write the credentials as JSON to this file; the JWT key and certificate are
    /// written next to it.
    #[arg(long, env = "SFSIM_CREDENTIALS_FILE")]
    credentials_file: Option<PathBuf>,
    /// Daily API request limit.
    #[arg(long, env = "SFSIM_DAILY_API_LIMIT", default_value_t = 100_000)]
    daily_api_limit: u64,
    /// Rotate refresh tokens on the cockpit's own app.
    #[arg(long, env = "SFSIM_ROTATE_REFRESH_TOKENS")]
    rotate_refresh_tokens: bool,
    /// My Domain name used in usernames.
    #[arg(long, env = "SFSIM_MY_DOMAIN", default_value = "acme")]
    my_domain: String,
    /// ApiTotalUsage rows per daily event log file (default: from the org's size).
    #[arg(long, env = "SFSIM_LOG_ROWS_PER_DAY")]
    log_rows_per_day: Option<usize>,
    /// Simulate a sandbox org.
    #[arg(long, env = "SFSIM_SANDBOX")]
    sandbox: bool,
    /// Extra redirect URI accepted by the cockpit's app (repeatable; http loopback URIs are always accepted).
    #[arg(
        long = "redirect-uri",
        env = "SFSIM_REDIRECT_URIS",
        value_delimiter = ','
    )]
    redirect_uris: Vec<String>,
    /// Custom attribute of the cockpit's app for id_tokens and userinfo, as
    /// NAME=FORMULA (e.g. `cockpit_role=$Profile.Name`); repeatable.
    #[arg(long = "custom-attribute", env = "SFSIM_CUSTOM_ATTRIBUTES", value_delimiter = ',', value_parser = name_value)]
    custom_attributes: Vec<(String, String)>,
    /// Fault: delay every response by this many milliseconds.
    #[arg(long, env = "SFSIM_FAULT_LATENCY_MS")]
    fault_latency_ms: Option<u64>,
    /// Fault: answer this fraction of requests (0.0-1.0) with 503 SERVER_UNAVAILABLE.
    #[arg(long, env = "SFSIM_FAULT_ERROR_RATE")]
    fault_error_rate: Option<f64>,
    /// Fault: answer the Nth request with 503 SERVER_UNAVAILABLE.
    #[arg(long, env = "SFSIM_FAULT_ERROR_ON_NTH")]
    fault_error_on_nth: Option<u64>,
    /// Fault: drop the connection half-way through the Nth response body.
    #[arg(long, env = "SFSIM_FAULT_DROP_NTH")]
    fault_drop_nth: Option<u64>,
    /// Fault: truncate the Nth response body (invalid JSON).
    #[arg(long, env = "SFSIM_FAULT_TRUNCATE_NTH")]
    fault_truncate_nth: Option<u64>,
    /// Fault: start with the daily API budget spent.
    #[arg(long, env = "SFSIM_FAULT_EXHAUST_BUDGET")]
    fault_exhaust_budget: bool,
}

fn faults(args: &Args) -> Vec<Fault> {
    let mut v = Vec::new();
    if let Some(ms) = args.fault_latency_ms {
        v.push(Fault::Latency(std::time::Duration::from_millis(ms)));
    }
    if let Some(r) = args.fault_error_rate {
        v.push(Fault::ServerErrorRate(r.clamp(0.0, 1.0)));
    }
    if let Some(n) = args.fault_error_on_nth {
        v.push(Fault::ServerErrorOnNth(n));
    }
    if let Some(nth) = args.fault_drop_nth {
        v.push(Fault::DropConnectionMidBody { nth });
    }
    if let Some(nth) = args.fault_truncate_nth {
        v.push(Fault::TruncateJson { nth });
    }
    if args.fault_exhaust_budget {
        v.push(Fault::ExhaustBudget);
    }
    v
}

fn write_files(path: &PathBuf, creds: &mut Credentials) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = dir.join("sfsim-jwt-key.pem");
    let cert = dir.join("sfsim-jwt-cert.pem");
    std::fs::write(&key, sfsim::JWT_PRIVATE_KEY_PEM)
        .with_context(|| format!("writing {}", key.display()))?;
    std::fs::write(&cert, sfsim::JWT_CERTIFICATE_PEM)
        .with_context(|| format!("writing {}", cert.display()))?;
    creds.jwt_key_path = Some(key.display().to_string());
    creds.jwt_certificate_path = Some(cert.display().to_string());
    let json = serde_json::to_string_pretty(creds)?;
    std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn name_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(n, _)| !n.is_empty())
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected NAME=FORMULA, got {s:?}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let initial_faults = faults(&args);
    let config = SimConfig {
        seed: args.seed,
        users: args.users,
        apps: args.apps,
        tokens: args.tokens,
        control: args.control,
        daily_api_limit: args.daily_api_limit,
        my_domain: args.my_domain,
        sandbox: args.sandbox,
        rotate_refresh_tokens: args.rotate_refresh_tokens,
        extra_redirect_uris: args.redirect_uris,
        custom_attributes: args.custom_attributes,
        log_rows_per_day: args.log_rows_per_day,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another sfsim running?)",
                args.listen
            )
        })?;
    let addr = listener.local_addr()?;
    let started = std::time::Instant::now();
    let sim = Sim::new(config.clone());
    for f in initial_faults {
        println!("  fault active:   {f:?}");
        sim.set_fault(f);
    }
    let base = format!("http://{addr}");
    let mut creds = sim.credentials(&base);
    if let Some(path) = &args.credentials_file {
        write_files(path, &mut creds)?;
    }
    println!(
        "sfsim: org {} generated in {:.2?} (seed {}, {} users, {} apps, {} tokens)",
        creds.org_id,
        started.elapsed(),
        config.seed,
        config.users,
        config.apps,
        config.tokens
    );
    println!("  login URL:      {}", creds.login_url);
    println!("  instance URL:   {}", creds.instance_url);
    println!("  org id:         {}", creds.org_id);
    println!("  admin user:     {}", creds.username);
    println!("  admin password: {}", creds.password);
    println!("  client id:      {}", creds.client_id);
    println!("  client secret:  {}", creds.client_secret);
    match (&creds.jwt_key_path, &creds.jwt_certificate_path) {
        (Some(k), Some(c)) => println!("  JWT key:        {k}\n  JWT cert:       {c}"),
        _ => println!("  JWT key:        (pass --credentials-file to write the PEM files)"),
    }
    if let Some(p) = &args.credentials_file {
        println!("  credentials:    {}", p.display());
    }
    if config.control {
        println!("  control API:    {base}/_sim/status");
    }
    let app = sim.router();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
