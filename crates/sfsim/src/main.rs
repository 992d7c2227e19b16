//! `sfsim`: serve a simulated Salesforce org on a local port.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use sfsim::{Credentials, Sim, SimConfig};

/// A Salesforce org simulator speaking the real wire protocol (OAuth, REST query,
/// Metadata, Connect OAuth usage). Every option can also be set from the
/// environment (SFSIM_*).
#[derive(Parser, Debug)]
#[command(name = "sfsim", version, about, long_about = None)]
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
    /// Simulate a sandbox org.
    #[arg(long, env = "SFSIM_SANDBOX")]
    sandbox: bool,
    /// Extra redirect URI accepted by the cockpit's app (repeatable; http loopback URIs are always accepted).
    #[arg(long = "redirect-uri", env = "SFSIM_REDIRECT_URIS", value_delimiter = ',')]
    redirect_uris: Vec<String>,
}

fn write_files(path: &PathBuf, creds: &mut Credentials) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = dir.join("sfsim-jwt-key.pem");
    let cert = dir.join("sfsim-jwt-cert.pem");
    std::fs::write(&key, sfsim::JWT_PRIVATE_KEY_PEM).with_context(|| format!("writing {}", key.display()))?;
    std::fs::write(&cert, sfsim::JWT_CERTIFICATE_PEM).with_context(|| format!("writing {}", cert.display()))?;
    creds.jwt_key_path = Some(key.display().to_string());
    creds.jwt_certificate_path = Some(cert.display().to_string());
    let json = serde_json::to_string_pretty(creds)?;
    std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
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
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (is another sfsim running?)", args.listen))?;
    let addr = listener.local_addr()?;
    let started = std::time::Instant::now();
    let sim = Sim::new(config.clone());
    let base = format!("http://{addr}");
    let mut creds = sim.credentials(&base);
    if let Some(path) = &args.credentials_file {
        write_files(path, &mut creds)?;
    }
    println!("sfsim: org {} generated in {:.2?} (seed {}, {} users, {} apps, {} tokens)", creds.org_id, started.elapsed(), config.seed, config.users, config.apps, config.tokens);
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
