//! `oauth-cockpit demo`: the whole product against two simulated orgs, with
//! nothing to configure. The orgs are connected and synced through exactly
//! the code a real org goes through; only their URLs point at sfsim.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use clap::Args;
use cockpit_domain::secret::{Keyring, MasterKey};
use cockpit_worker::connect::{ConnectRequest, connect};
use sfsim::{RunningSim, Sim, SimConfig};

use crate::{cli::DbArgs, demo_db::Cluster};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address of the cockpit's web interface.
    #[arg(long, env = "COCKPIT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Folder for the demo's master key and the simulators' credentials.
    #[arg(long, env = "COCKPIT_DEMO_DIR", default_value = "demo-data")]
    pub data_dir: PathBuf,
    /// Database the demo creates on the PostgreSQL server of DATABASE_URL.
    #[arg(long, default_value = "oauth_cockpit_demo")]
    pub database: String,
    /// Port of the simulated production org (the sandbox uses the next one).
    #[arg(long, default_value_t = 7071)]
    pub sim_port: u16,
    /// Tokens in the simulated production org.
    #[arg(long, default_value_t = 20_000)]
    pub tokens: usize,
    /// Seconds between bursts of simulated activity (new grants, use, leavers).
    #[arg(long, default_value_t = 20)]
    pub activity_every: u64,
    /// Which requests wait for a second admin, as for `serve`
    /// (`contain,block,revoke_all,bulk:N` or `off`).
    #[arg(long, env = "COCKPIT_TWO_PERSON_RULE", default_value = "contain", value_parser = cockpit_web::TwoPersonRule::parse)]
    pub two_person_rule: cockpit_web::TwoPersonRule,
}

fn load_or_create_key(dir: &std::path::Path) -> anyhow::Result<Arc<Keyring>> {
    let path = dir.join("master.key");
    let key = match std::fs::read_to_string(&path) {
        Ok(k) => k,
        Err(_) => {
            let k = MasterKey::generate_base64();
            write_private(&path, &k)?;
            k
        }
    };
    Ok(Arc::new(Keyring::new(
        MasterKey::from_base64(&key).with_context(|| format!("{}", path.display()))?,
        vec![],
    )))
}

fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::write_all(&mut file, contents.as_bytes())?;
    Ok(())
}

async fn start_sim(
    config: SimConfig,
    port: u16,
    dir: &std::path::Path,
    file: &str,
) -> anyhow::Result<RunningSim> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| {
            format!(
                "port {port} is taken (is another demo running?); choose others with --sim-port"
            )
        })?;
    let sim = Sim::spawn_on(config, listener).await?;
    write_private(
        &dir.join(file),
        &serde_json::to_string_pretty(&sim.credentials)?,
    )?;
    Ok(sim)
}

pub async fn run(db: &DbArgs, args: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let keyring = load_or_create_key(&args.data_dir)?;
    eprintln!("OAuth Cockpit demo");
    // A server named by DATABASE_URL, or the demo's own.
    let mut cluster = None;
    let url = match db.database_url.as_deref() {
        Some(named) => {
            let mut url = url::Url::parse(named).context("DATABASE_URL")?;
            url.set_path(&args.database);
            eprintln!(
                "  database: {} on {}:{}",
                args.database,
                url.host_str().unwrap_or("?"),
                url.port().unwrap_or(5432)
            );
            url.to_string()
        }
        None => {
            let dir = args.data_dir.clone();
            let started = tokio::task::spawn_blocking(move || Cluster::start(&dir))
                .await
                .context("starting the demo's PostgreSQL")??;
            let url = started.url(&args.database);
            cluster = Some(started);
            url
        }
    };
    // Ctrl-C while the orgs are connected and synced stops the demo (and
    // its PostgreSQL) too; once serving, the server's own shutdown does.
    let outcome = tokio::select! {
        ready = prepare(&url, db.db_connect_attempts, &args, keyring.clone()) => match ready {
            Ok(ready) => ready.serve(keyring, args.two_person_rule).await,
            Err(e) => Err(e),
        },
        _ = tokio::signal::ctrl_c(), if cluster.is_some() => Ok(()),
    };
    if let Some(mut c) = cluster {
        tokio::task::spawn_blocking(move || c.stop()).await.ok();
    }
    outcome
}

/// Everything the demo serves, once its orgs are connected and synced.
struct Ready {
    pool: sqlx::PgPool,
    listener: tokio::net::TcpListener,
    public: String,
    sso: cockpit_web::oidc::SsoConfig,
    sim_hosts: Vec<String>,
    /// The simulated orgs live as long as this.
    _sims: [RunningSim; 2],
}

impl Ready {
    async fn serve(
        self,
        keyring: Arc<Keyring>,
        rule: cockpit_web::TwoPersonRule,
    ) -> anyhow::Result<()> {
        crate::serve::run_server(
            self.pool,
            Some(keyring),
            self.listener,
            crate::serve::Site {
                public_url: self.public,
                sso: Some(self.sso),
                page_cache: true,
                salesforce_hosts: self.sim_hosts,
                two_person: rule,
                worker_jobs: 4,
                max_in_flight: cockpit_worker::actions::MAX_IN_FLIGHT,
                log_retention_days: 400,
                notification_retention_days: 90,
                outside_inventory_people: 10,
                siem_roots: Vec::new(),
                metrics_token: None,
            },
        )
        .await
    }
}

async fn prepare(
    url: &str,
    attempts: u32,
    args: &DemoArgs,
    keyring: Arc<Keyring>,
) -> anyhow::Result<Ready> {
    let pool = crate::serve::open_database_url(url, attempts).await?;

    eprintln!("  starting two simulated Salesforce orgs…");
    let prod = start_sim(
        SimConfig {
            seed: 42,
            users: 3_000,
            apps: 120,
            tokens: args.tokens,
            control: true,
            // The production org is also the demo's single sign-on provider:
            // its connected app tells the cockpit each person's profile.
            custom_attributes: vec![("cockpit_role".into(), "$Profile.Name".into())],
            ..SimConfig::default()
        },
        args.sim_port,
        &args.data_dir,
        "sfsim-production.json",
    )
    .await?;
    let sandbox = start_sim(
        SimConfig {
            seed: 7,
            users: 600,
            apps: 40,
            tokens: (args.tokens / 6).max(1_000),
            control: true,
            sandbox: true,
            my_domain: "acme--uat".into(),
            ..SimConfig::default()
        },
        args.sim_port + 1,
        &args.data_dir,
        "sfsim-sandbox.json",
    )
    .await?;

    // Yesterday, someone used stolen grants of Drift in production the way
    // the 2025 campaign did: the first sync archives the day's logs and the
    // shipped indicators find it (the overview, Hunts, Drift's page).
    let yesterday = prod.sim.now().date_naive() - chrono::Days::new(1);
    if let Some(start) = yesterday.and_hms_opt(14, 0, 0) {
        let from = start.and_utc();
        match prod.sim.stage_attack(sfsim::AttackSpec {
            app: "Drift".into(),
            from,
            to: from + chrono::Duration::minutes(40),
            ips: Vec::new(),
            user_agents: Vec::new(),
            requests: Some(300),
        }) {
            Ok(a) => eprintln!(
                "  staged in production: yesterday, {} people's Drift grants used from {} attacker addresses",
                a.users.len(),
                a.ips.len()
            ),
            Err(e) => eprintln!("  no attack staged in production: {e}"),
        }
    }

    for (name, sim) in [("Acme Production", &prod), ("Acme UAT sandbox", &sandbox)] {
        let id = match cockpit_db::orgs::find_by_name(&pool, name).await? {
            Some(id) => id,
            None => {
                let c = &sim.credentials;
                let connected = connect(
                    &pool,
                    &keyring,
                    ConnectRequest::jwt(
                        name,
                        &c.login_url,
                        &c.client_id,
                        Some(&c.client_secret),
                        &c.jwt_private_key_pem,
                        &c.username,
                        c.sandbox,
                    )?,
                )
                .await
                .with_context(|| format!("connecting {name}"))?;
                eprintln!(
                    "  connected {name} (Salesforce org {}) through the JWT bearer flow",
                    connected.sf_org_id
                );
                connected.id
            }
        };
        match crate::sync::sync_with_progress(&pool, keyring.clone(), id, name, "cli").await {
            Ok(o) => eprintln!(
                "  {name}: {} users, {} apps, {} tokens synced with {} API calls",
                o.users, o.apps, o.tokens, o.api_calls
            ),
            Err(e) => eprintln!("  {name}: first sync failed: {e} (the scheduler will try again)"),
        }
    }

    // Two demo admins, with passwords kept in the data folder: the second
    // approves what the first asks for (the two-person rule).
    let admin_email = "admin@demo.example";
    let password = demo_admin(&pool, &args.data_dir, admin_email, "Demo admin").await?;
    let approver_email = "approver@demo.example";
    let approver_password =
        demo_admin(&pool, &args.data_dir, approver_email, "Demo approver").await?;

    // Life goes on in the simulated orgs, so the next syncs see change.
    let sims = [prod.sim.clone(), sandbox.sim.clone()];
    let every = Duration::from_secs(args.activity_every.max(1));
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            for sim in &sims {
                sim.simulate_activity(25);
            }
        }
    });

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (set --listen)", args.listen))?;
    let public = format!("http://{}", args.listen);
    eprintln!();
    eprintln!("  Open {public} and sign in as {admin_email} with password {password}");
    let covered = args
        .two_person_rule
        .describe()
        .unwrap_or_else(|| "nothing: the two-person rule is off".into());
    eprintln!(
        "  A second admin approves {covered}: {approver_email} with password {approver_password}"
    );
    eprintln!(
        "  Simulated orgs: {} and {} (credentials in {})",
        prod.base_url,
        sandbox.base_url,
        args.data_dir.display()
    );
    let sso = cockpit_web::oidc::SsoConfig {
        issuer: prod.base_url.clone(),
        client_id: prod.credentials.client_id.clone(),
        client_secret: Some(prod.credentials.client_secret.clone().into()),
        scopes: vec!["email".into(), "profile".into()],
        role_claim: "custom_attributes.cockpit_role".into(),
        role_map: vec![(
            "System Administrator".into(),
            cockpit_domain::role::Role::Admin,
        )],
        default_role: Some(cockpit_domain::role::Role::Viewer),
        label: "Salesforce (demo production org)".into(),
    };
    eprintln!(
        "  Or use \"Sign in with Salesforce\" as {} with password {} (admin), or any other user of that org (viewer)",
        prod.credentials.username, prod.credentials.password
    );
    eprintln!("  Syncs run every 15 minutes; press Ctrl-C to stop.");
    // "Connect an org" accepts the simulated orgs' loopback addresses.
    let sim_hosts = [&prod.base_url, &sandbox.base_url]
        .iter()
        .filter_map(|u| url::Url::parse(u).ok())
        .filter_map(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        .collect();
    Ok(Ready {
        pool,
        listener,
        public,
        sso,
        sim_hosts,
        _sims: [prod, sandbox],
    })
}

/// A global admin of the demo, its password kept in `data_dir` (made once,
/// read back on the next run).
async fn demo_admin(
    pool: &cockpit_db::PgPool,
    data_dir: &std::path::Path,
    email: &str,
    name: &str,
) -> anyhow::Result<String> {
    let local = email.split('@').next().unwrap_or("admin");
    let file = data_dir.join(if local == "admin" {
        "admin-password".to_owned()
    } else {
        format!("{local}-password")
    });
    if let Ok(p) = std::fs::read_to_string(&file)
        && cockpit_db::accounts::by_email(pool, email).await?.is_some()
    {
        return Ok(p.trim().to_owned());
    }
    let p = crate::user::generate_password();
    let hash = cockpit_domain::password::hash(&p);
    match cockpit_db::accounts::by_email(pool, email).await? {
        Some(a) => cockpit_db::accounts::set_password(pool, a.id, &hash).await?,
        None => {
            cockpit_db::accounts::create(
                pool,
                email,
                Some(name),
                Some(&hash),
                Some(cockpit_domain::role::Role::Admin),
            )
            .await?;
        }
    }
    write_private(&file, &p)?;
    Ok(p)
}
