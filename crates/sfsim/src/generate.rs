//! Deterministic org generator (ChaCha20 seeded from `SimConfig::seed`).

use std::collections::{BTreeMap, HashMap};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::SimConfig;
use crate::model::*;

const DAY: Ts = 86_400_000;
const MIN: Ts = 60_000;

pub const COCKPIT_APP_NAME: &str = "OAuth Usage Cockpit";

const WELL_KNOWN_APPS: &[&str] = &[
    "Drift",
    "Gainsight",
    "Salesloft",
    "Outreach",
    "Slack",
    "Zoom for Salesforce",
    "DocuSign",
    "HubSpot",
    "Tableau Cloud",
    "Dataloader Partner",
    "Salesforce CLI",
    "Workbench",
    "Zapier",
    "Marketo",
    "Gong",
    "ZoomInfo",
    "LinkedIn Sales Navigator",
    "Jira Cloud",
    "Calendly",
    "Conga Composer",
    "Clari",
    "Seismic",
    "Mailchimp",
];

fn hostile_apps() -> Vec<String> {
    let long = format!(
        "Very Long Vendor Name {} End",
        "Enterprise Integration Connector ".repeat(7)
    );
    vec![
        "<script>alert(1)</script>".to_string(),
        "Robert'); DROP TABLE apps;--".to_string(),
        "\"Quoted\" & <b>Bold</b> Sync".to_string(),
        "\u{202E}ppA ylticiffO\u{202C}".to_string(),
        "تطبيق المبيعات".to_string(),
        "🚀 Rocket Sync 🦄".to_string(),
        "営業アプリ Connector".to_string(),
        long.chars().take(250).collect(),
    ]
}

const APP_WORDS_A: &[&str] = &[
    "Cloud", "Data", "Lead", "Deal", "Pipe", "Sync", "Smart", "Quick", "Bright", "Nimbus", "Orbit",
    "Vector", "Signal", "Atlas", "Pulse", "Zen",
];
const APP_WORDS_B: &[&str] = &[
    "Connector",
    "Bridge",
    "Insights",
    "Sync",
    "Hub",
    "Flow",
    "Reports",
    "Mailer",
    "Dialer",
    "Forms",
    "Backup",
    "Scheduler",
    "Analytics",
    "Enrich",
];

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Ana",
    "Mohammed",
    "Wei",
    "Yuki",
    "Priya",
    "Olga",
    "Chidi",
    "Søren",
    "José",
    "Zoë",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Nguyen",
    "Kim",
    "Müller",
    "Kowalski",
    "Okafor",
    "Tanaka",
    "Ivanova",
    "O'Brien",
    "Ng",
    "Dubois",
];

fn hostile_users() -> Vec<(String, String)> {
    vec![
        ("<img src=x onerror=alert(1)>".into(), "Hacker".into()),
        ("Seamus \"The Quote\"".into(), "O'Brien".into()),
        (
            "\u{202E}nhoJ".into(),
            "ﬁ Right\u{200F}To\u{200F}Left".into(),
        ),
        ("🦊 Foxy".into(), "Emoji 😀".into()),
        ("محمد".into(), "العربي".into()),
        ("Long".into(), "Name".repeat(58)),
        ("</td><script>alert('x')</script>".into(), "Markup".into()),
    ]
}

struct Zipf {
    cum: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut acc = 0.0;
        let cum = (0..n.max(1))
            .map(|i| {
                acc += 1.0 / ((i + 1) as f64).powf(s);
                acc
            })
            .collect();
        Zipf { cum }
    }
    fn sample(&self, rng: &mut ChaCha20Rng) -> usize {
        let total = *self.cum.last().unwrap_or(&1.0);
        let x = rng.random::<f64>() * total;
        self.cum.partition_point(|&c| c < x).min(self.cum.len() - 1)
    }
}

fn ascii_slug(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect::<String>()
        .to_ascii_lowercase()
}

fn dev_name(name: &str, idx: usize, seen: &mut HashMap<String, ()>) -> String {
    let mut s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    s = s
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    s.truncate(30);
    if s.is_empty() || !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s = format!("App_{idx}{}", if s.is_empty() { "" } else { "_" }) + &s;
    }
    if seen.insert(s.clone(), ()).is_some() {
        s = format!("{s}_{idx}");
        seen.insert(s.clone(), ());
    }
    s
}

/// Start of the UTC day containing `now`: generated history is anchored here so that
/// the same seed gives the same org all day long while date literals still work.
pub fn anchor_for(now: Ts) -> Ts {
    now - now.rem_euclid(DAY)
}

pub fn generate(cfg: &SimConfig, anchor: Ts) -> OrgState {
    let mut rng = ChaCha20Rng::seed_from_u64(cfg.seed);
    let secrets = Secrets::new(cfg.seed);
    let n_users = cfg.users.max(2);
    let n_apps = cfg.apps.max(1);
    let domain = &cfg.my_domain;
    let org_created = anchor - 2200 * DAY;

    // ---- users
    let hostile = hostile_users();
    let n_managers = (n_users / 20).max(1);
    let mut users = Vec::with_capacity(n_users);
    let mut deactivated = vec![0 as Ts; n_users];
    for i in 0..n_users {
        let (first, last, username, profile, active) = match i {
            0 => (
                "Cockpit".to_string(),
                "Integration".to_string(),
                format!("integration@{domain}.example.com"),
                PROFILE_SYSADMIN,
                true,
            ),
            1 => (
                "Jane".to_string(),
                "Doe".to_string(),
                format!("jane.doe@{domain}.example.com"),
                PROFILE_STANDARD,
                true,
            ),
            _ => {
                let (f, l) = if i - 2 < hostile.len() {
                    hostile[i - 2].clone()
                } else {
                    (
                        FIRST[rng.random_range(0..FIRST.len())].to_string(),
                        LAST[rng.random_range(0..LAST.len())].to_string(),
                    )
                };
                let mut fs = ascii_slug(&f);
                if fs.is_empty() {
                    fs = "user".into();
                }
                let ls = ascii_slug(&l);
                let username = format!("{fs}.{ls}{i}@{domain}.example.com");
                let r: f64 = rng.random();
                let profile = if r < 0.01 {
                    PROFILE_SYSADMIN
                } else if r < 0.03 {
                    6
                } else {
                    1 + rng.random_range(0..5u8)
                };
                let active = rng.random::<f64>() >= 0.12;
                (f, l, username, profile, active)
            }
        };
        let created = anchor - rng.random_range(30..2000) * DAY - rng.random_range(0..DAY);
        let mut last_login = 0;
        let mut modified = created + rng.random_range(0..10) * DAY;
        if active {
            if rng.random::<f64>() < 0.93 {
                last_login = anchor - rng.random_range(MIN..60 * DAY);
            }
        } else {
            let d = created + ((anchor - DAY - created) as f64 * rng.random_range(0.2..1.0)) as Ts;
            deactivated[i] = d;
            modified = d;
            if rng.random::<f64>() < 0.9 {
                last_login = d - rng.random_range(MIN..(d - created).max(MIN + 1));
            }
        }
        let manager = if i > n_managers && rng.random::<f64>() < 0.8 {
            rng.random_range(1..=n_managers as u32)
        } else {
            NONE
        };
        users.push(User {
            first,
            last,
            username,
            profile,
            perm_set: perm_set_for(i, profile),
            department: rng.random_range(0..DEPARTMENTS.len() as u8),
            title: rng.random_range(0..TITLES.len() as u8),
            manager,
            active,
            created,
            modified: modified.min(anchor - MIN),
            last_login,
        });
    }

    // ---- apps
    let hostile_a = hostile_apps();
    let mut names: Vec<String> = Vec::with_capacity(n_apps);
    names.push(COCKPIT_APP_NAME.to_string());
    let (mut w, mut h) = (0, 0);
    while names.len() < n_apps && (w < WELL_KNOWN_APPS.len() || h < hostile_a.len()) {
        if w < WELL_KNOWN_APPS.len() && (names.len() % 2 == 1 || h >= hostile_a.len()) {
            names.push(WELL_KNOWN_APPS[w].to_string());
            w += 1;
        } else {
            names.push(hostile_a[h].clone());
            h += 1;
        }
    }
    let mut k = 0usize;
    while names.len() < n_apps {
        let a = APP_WORDS_A[k % APP_WORDS_A.len()];
        let b = APP_WORDS_B[(k / APP_WORDS_A.len()) % APP_WORDS_B.len()];
        let round = k / (APP_WORDS_A.len() * APP_WORDS_B.len());
        names.push(if round == 0 {
            format!("{a}{b}")
        } else {
            format!("{a}{b} {round}")
        });
        k += 1;
    }
    let mut seen = HashMap::new();
    let mut apps = Vec::with_capacity(n_apps);
    for (i, name) in names.into_iter().enumerate() {
        let cockpit = i == 0;
        let kind = if cockpit || rng.random::<f64>() < 0.15 {
            AppKind::External
        } else {
            AppKind::Connected
        };
        let usage = if cockpit {
            Usage::Normal
        } else {
            let r: f64 = rng.random();
            if r < 0.1 {
                Usage::Service
            } else if r < 0.25 {
                Usage::Abandoned
            } else {
                Usage::Normal
            }
        };
        let installed = cockpit || kind == AppKind::External || rng.random::<f64>() < 0.8;
        let admin_approved_only =
            !cockpit && (usage == Usage::Service || rng.random::<f64>() < 0.25);
        let mut permitted_users = Vec::new();
        if usage == Usage::Service {
            for _ in 0..rng.random_range(1..=3) {
                permitted_users.push(
                    rng.random_range(2..n_users.max(3) as u32)
                        .min(n_users as u32 - 1),
                );
            }
        }
        if cockpit {
            permitted_users.push(0);
        }
        let refresh_validity_days = if cockpit {
            Some(90)
        } else if rng.random::<f64>() < 0.4 {
            None
        } else {
            Some([1, 7, 30, 90, 365][rng.random_range(0..5)])
        };
        let dev = dev_name(&name, i, &mut seen);
        let consumer_key = format!("3MVG9{}", random_string(&mut rng, 80));
        let consumer_secret = hex::encode((0..32).map(|_| rng.random::<u8>()).collect::<Vec<u8>>())
            .to_ascii_uppercase();
        let callback_urls = if cockpit {
            let mut v = vec!["http://localhost:8080/oauth/callback".to_string()];
            v.extend(cfg.extra_redirect_uris.iter().cloned());
            v
        } else {
            vec![format!(
                "https://app.{}.example.com/oauth/callback",
                dev.to_ascii_lowercase()
            )]
        };
        let created = if cockpit {
            anchor - 2 * DAY
        } else {
            org_created + rng.random_range(DAY..(anchor - org_created - 30 * DAY))
        };
        apps.push(App {
            name,
            dev_name: dev,
            kind,
            consumer_key,
            consumer_secret,
            installed,
            admin_approved_only,
            refresh_validity_days,
            refresh_inactivity: rng.random(),
            ip_relax: rng.random_range(0..3),
            created,
            usage,
            callback_urls,
            run_as: if cockpit { 0 } else { NONE },
            jwt_cert: cockpit,
            permitted_users,
            permitted_profiles: if cockpit || admin_approved_only {
                1 << PROFILE_SYSADMIN
            } else {
                0
            },
            rotate_refresh: cockpit && cfg.rotate_refresh_tokens,
            disabled: false,
            managed_namespace: if !cockpit && i % 3 == 0 {
                Some("vendor")
            } else {
                None
            },
        });
    }

    // ---- tokens. App popularity is Zipf-like over a shuffled rank order; the cockpit
    // (app 0) starts with no grants.
    // An org with some history has blocked an app before: the last generated connected
    // app (for 12+ apps) carries a BlacklistedConsumer; its grants were purged then, so
    // it gets none here and the live token count stays exactly `cfg.tokens`.
    let blocked_app = (n_apps >= 12)
        .then(|| {
            (1..n_apps)
                .rev()
                .find(|&i| apps[i].kind == AppKind::Connected)
        })
        .flatten();
    let third_party: Vec<u32> = (1..n_apps as u32)
        .filter(|&i| Some(i as usize) != blocked_app)
        .collect();
    let mut ranked = third_party.clone();
    for i in (1..ranked.len()).rev() {
        let j = rng.random_range(0..=i);
        ranked.swap(i, j);
    }
    let app_zipf = Zipf::new(ranked.len().max(1), 1.05);
    let user_zipf = Zipf::new(n_users, 0.7);
    let mut per_pair: HashMap<u64, u8> = HashMap::with_capacity(cfg.tokens.min(4_000_000));
    let mut tokens: Vec<Token> = Vec::with_capacity(cfg.tokens);
    let mut by_user: Vec<Vec<u32>> = vec![Vec::new(); n_users];
    let stale_cut = anchor - 91 * DAY;
    if !ranked.is_empty() {
        let mut attempts = 0usize;
        while tokens.len() < cfg.tokens && attempts < cfg.tokens * 20 + 100 {
            attempts += 1;
            let app_idx = ranked[app_zipf.sample(&mut rng)];
            let app = &apps[app_idx as usize];
            let user_idx: u32 = match app.usage {
                // Service-account apps only ever get their 1-3 integration users.
                Usage::Service if !app.permitted_users.is_empty() => {
                    app.permitted_users[rng.random_range(0..app.permitted_users.len())]
                }
                Usage::Abandoned => rng.random_range(0..n_users as u32),
                _ => {
                    let r = user_zipf.sample(&mut rng) as u64;
                    ((r * 7919 + app_idx as u64 * 131) % n_users as u64) as u32
                }
            };
            let user_idx = if user_idx == 0 && rng.random::<f64>() < 0.9 {
                rng.random_range(1..n_users as u32)
            } else {
                user_idx
            };
            let pair = (user_idx as u64) << 32 | app_idx as u64;
            let c = per_pair.entry(pair).or_insert(0);
            if *c >= 5 {
                continue;
            }
            *c += 1;
            let user = &users[user_idx as usize];
            let lo = user.created.max(app.created);
            let hi = if user.active {
                anchor - MIN
            } else {
                deactivated[user_idx as usize]
            };
            let hi = hi.max(lo + MIN);
            let u: f64 = rng.random();
            let created = hi - ((hi - lo) as f64 * u.powf(1.6)) as Ts;
            let (last_used, use_count) = match app.usage {
                Usage::Service => (
                    hi - rng.random_range(0..6 * 3_600_000).min(hi - created),
                    rng.random_range(5_000..2_000_000),
                ),
                Usage::Abandoned => {
                    let lu = created + rng.random_range(0..(5 * DAY).min(hi - created + 1));
                    (lu, rng.random_range(1..4))
                }
                Usage::Normal => {
                    let r: f64 = rng.random();
                    if r < 0.04 {
                        (0, 0)
                    } else if r < 0.30 && created < stale_cut {
                        (
                            created + rng.random_range(0..(stale_cut.min(hi) - created + 1)),
                            rng.random_range(1..60),
                        )
                    } else {
                        let from = created.max(hi - 30 * DAY);
                        (
                            from + rng.random_range(0..(hi - from + 1)),
                            1 + (1.0 / rng.random_range(0.002f64..1.0)) as u32,
                        )
                    }
                }
            };
            let seq = tokens.len() as u32;
            tokens.push(Token {
                user: user_idx,
                app: app_idx,
                created,
                last_used,
                use_count,
                revoked: false,
                generation: 0,
            });
            by_user[user_idx as usize].push(seq);
        }
    }
    drop(per_pair);
    for list in by_user.iter_mut() {
        list.sort_unstable_by_key(|&t| (tokens[t as usize].created, t));
    }
    let mut by_created: Vec<u32> = (0..tokens.len() as u32).collect();
    by_created.sort_unstable_by_key(|&t| (tokens[t as usize].created, t));

    // ---- login history: last browser login per user plus OAuth logins for a sample of grants,
    // from the networks the event logs use (the random draw picks the host).
    let integration = crate::traffic::classify(n_users, &apps, &tokens);
    let mut logins = Vec::with_capacity(n_users + tokens.len() / 8);
    for (i, u) in users.iter().enumerate() {
        if u.last_login != 0 && u.last_login > anchor - 180 * DAY {
            logins.push(Login {
                user: i as u32,
                time: u.last_login,
                app: NONE,
                subtype: 0,
                status: 0,
                ip: crate::traffic::user_net(cfg.seed, i as u32)
                    .host(u64::from(rng.random::<u32>())),
            });
        }
    }
    for (seq, t) in tokens.iter().enumerate() {
        if seq % 8 == 0 && t.last_used > anchor - 180 * DAY {
            let status = if rng.random::<f64>() < 0.05 {
                rng.random_range(1..4)
            } else {
                0
            };
            logins.push(Login {
                user: t.user,
                time: t.last_used,
                app: t.app,
                subtype: 2,
                status,
                ip: crate::eventlog::session_ip(
                    cfg.seed,
                    &integration,
                    t.app,
                    t.user,
                    u64::from(rng.random::<u32>()),
                ),
            });
        }
    }
    logins.sort_unstable_by_key(|l| l.time);

    // ---- setup audit trail: every deactivation (the only source of deactivation dates),
    // recent user creations and some other noise.
    let mut audits = Vec::new();
    for (i, u) in users.iter().enumerate() {
        if !u.active {
            audits.push(Audit {
                action: AUDIT_DEACTIVATED,
                target: i as u32,
                time: deactivated[i],
                by: 0,
            });
        }
        if u.created > anchor - 180 * DAY {
            audits.push(Audit {
                action: AUDIT_CREATED,
                target: i as u32,
                time: u.created,
                by: 0,
            });
        }
        if rng.random::<f64>() < 0.05 {
            audits.push(Audit {
                action: rng.random_range(3..6),
                target: i as u32,
                time: anchor - rng.random_range(MIN..170 * DAY),
                by: 0,
            });
        }
    }
    audits.sort_unstable_by_key(|a| a.time);

    let event_logs =
        crate::eventlog::generate_logs(cfg, anchor, &users, &apps, &tokens, &integration);

    let mut blocked = BTreeMap::new();
    if let Some(i) = blocked_app {
        let a = &apps[i];
        blocked.insert(
            a.dev_name.clone(),
            Blocked {
                consumer_key: a.consumer_key.clone(),
                consumer_name: a.dev_name.clone(),
                master_label: a.name.clone(),
            },
        );
        audits.push(Audit {
            action: AUDIT_BLOCKED,
            target: i as u32,
            time: anchor - 20 * DAY,
            by: 0,
        });
        audits.sort_unstable_by_key(|a| a.time);
    }

    OrgState {
        org_name: format!("{} Corp (sfsim)", capitalise(domain)),
        created: org_created,
        users,
        apps,
        tokens,
        by_created,
        by_user,
        logins,
        audits,
        event_logs,
        integration,
        attacks: Vec::new(),
        sessions: HashMap::new(),
        codes: HashMap::new(),
        blocked,
        deploys: HashMap::new(),
        deploy_seq: 0,
        deploy_delay_ms: 0,
        rng: ChaCha20Rng::seed_from_u64(cfg.seed ^ 0x5EED_F00D ^ secrets_tag(&secrets)),
    }
}

fn secrets_tag(s: &Secrets) -> u64 {
    u64::from_str_radix(&s.mac("rng", 0, 0)[..15], 16).unwrap_or(7)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(users: usize, apps: usize, tokens: usize) -> SimConfig {
        SimConfig {
            users,
            apps,
            tokens,
            ..SimConfig::default()
        }
    }

    #[test]
    fn tiny_and_degenerate_configs_generate() {
        let anchor = 1_790_000_000_000;
        for (u, a, t) in [
            (0, 0, 0),
            (1, 1, 10),
            (2, 2, 1_000),
            (3, 12, 50),
            (5, 30, 0),
        ] {
            let st = generate(&cfg(u, a, t), anchor);
            assert!(st.users.len() >= 2 && !st.apps.is_empty());
            assert!(
                st.tokens.iter().all(|t| t.app != 0),
                "the cockpit app starts without grants"
            );
            // At most 5 grants per user per app.
            let mut per: HashMap<(u32, u32), usize> = HashMap::new();
            for tok in &st.tokens {
                *per.entry((tok.user, tok.app)).or_default() += 1;
            }
            assert!(per.values().all(|&n| n <= 5));
            assert_eq!(st.by_created.len(), st.tokens.len());
        }
    }

    #[test]
    fn timestamps_carry_varied_milliseconds() {
        let st = generate(&SimConfig::default(), 1_790_000_000_000);
        let whole = |ts: &mut dyn Iterator<Item = Ts>| {
            let all: Vec<Ts> = ts.collect();
            (all.iter().filter(|t| *t % 1000 == 0).count(), all.len())
        };
        for (what, (on_second, n)) in [
            ("tokens", whole(&mut st.tokens.iter().map(|t| t.created))),
            ("users", whole(&mut st.users.iter().map(|u| u.created))),
            (
                "apps",
                whole(&mut st.apps.iter().skip(1).map(|a| a.created)),
            ),
        ] {
            // About one in a thousand lands on a whole second by chance.
            assert!(
                on_second * 50 <= n,
                "{what}: {on_second} of {n} end in .000"
            );
        }
    }

    #[test]
    fn default_org_has_the_advertised_shape() {
        let anchor = 1_790_000_000_000;
        let st = generate(&SimConfig::default(), anchor);
        assert_eq!(st.tokens.len(), 2_000);
        assert_eq!(st.apps[0].name, COCKPIT_APP_NAME);
        assert!(
            st.apps.iter().any(|a| a.name == "Drift")
                && st.apps.iter().any(|a| a.name == "Gainsight")
        );
        assert!(st.apps.iter().any(|a| a.name.contains("<script>")));
        assert!(st.apps.iter().any(|a| a.name.chars().count() >= 240));
        assert!(st.apps.iter().any(|a| !a.installed));
        assert!(st.apps.iter().any(|a| a.refresh_validity_days.is_none()));
        assert!(st.apps.iter().any(|a| a.usage == Usage::Service));
        assert!(st.apps.iter().any(|a| a.usage == Usage::Abandoned));
        assert!(st.users.iter().any(|u| !u.active));
        assert_eq!(st.users[0].perms(), perm::ALL);
        assert_eq!(st.users[1].perms() & perm::CUSTOMIZE_APP, 0);
        assert_eq!(st.blocked.len(), 1);
        let inactive: Vec<u32> = (0..st.users.len() as u32)
            .filter(|&u| !st.users[u as usize].active)
            .collect();
        assert!(
            st.tokens.iter().any(|t| inactive.contains(&t.user)),
            "deactivated users still hold tokens"
        );
        let stale = anchor - 91 * DAY;
        assert!(
            st.tokens
                .iter()
                .any(|t| t.last_used != 0 && t.last_used < stale),
            "stale grants"
        );
        // Sorted index.
        assert!(
            st.by_created
                .windows(2)
                .all(|w| st.tokens[w[0] as usize].created <= st.tokens[w[1] as usize].created)
        );
        // Deterministic.
        let again = generate(&SimConfig::default(), anchor);
        assert_eq!(again.apps[5].consumer_key, st.apps[5].consumer_key);
        assert_eq!(again.tokens[1234].created, st.tokens[1234].created);
    }
}
