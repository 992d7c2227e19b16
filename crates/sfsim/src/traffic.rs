//! Where an org's API traffic comes from: stable networks and user agents per
//! app and per user. Everything here is a hash of the seed and an index (not
//! the generator's random stream), so adding it left every other generated
//! figure as it was.
//!
//! - Integration-like apps (server-side: the `Service` usage pattern, the
//!   cockpit's own app, or few users relative to the org) call from 2-3 fixed
//!   /24 networks in cloud ranges (one app in seven has an IPv6 /48 instead of
//!   its last /24) with ONE user agent of their own, derived from the app name.
//! - People's apps call from each user's home network (one /24 per user, in
//!   ISP-like ranges) with that user's browser or mobile user agent.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{App, NONE, Token, Usage};

pub const TAG_APP_NET: u64 = 1;
pub const TAG_APP_UA: u64 = 2;
pub const TAG_USER_NET: u64 = 3;
pub const TAG_USER_UA: u64 = 4;
pub const TAG_FLOW: u64 = 5;
pub const TAG_DAY: u64 = 6;
pub const TAG_ATTACK: u64 = 7;

/// SplitMix64 finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A hash of the seed, a purpose tag and two numbers.
pub fn h(seed: u64, tag: u64, a: u64, b: u64) -> u64 {
    mix(seed ^ mix(tag.wrapping_mul(0x100_0000_01B3) ^ mix(a ^ mix(b.rotate_left(17)))))
}

/// A small, fast deterministic generator (SplitMix64) for per-row figures:
/// cheap even in debug builds, where a million log rows are drawn.
#[derive(Clone, Debug)]
pub struct Mix(pub u64);

impl Mix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(0) as u64) as i64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// A network an app or a user calls from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Net {
    /// An IPv4 /24 (its first three octets).
    V4([u8; 3]),
    /// An IPv6 /48 (its first three groups).
    V6([u16; 3]),
}

impl Net {
    /// A host in the network, picked by `r`.
    pub fn host(&self, r: u64) -> IpAddr {
        match *self {
            Net::V4([a, b, c]) => IpAddr::V4(Ipv4Addr::new(a, b, c, 1 + (r % 254) as u8)),
            Net::V6([a, b, c]) => IpAddr::V6(Ipv6Addr::new(
                a,
                b,
                c,
                (r >> 48) as u16 & 0x00ff,
                0,
                0,
                0,
                1 + (r as u16 & 0x0fff),
            )),
        }
    }

    /// The network an address belongs to (its /24 or /48).
    pub fn of(ip: &IpAddr) -> Net {
        match ip {
            IpAddr::V4(v) => {
                let o = v.octets();
                Net::V4([o[0], o[1], o[2]])
            }
            IpAddr::V6(v) => {
                let s = v.segments();
                Net::V6([s[0], s[1], s[2]])
            }
        }
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        Net::of(ip) == *self
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Net::V4([a, b, c]) => write!(f, "{a}.{b}.{c}.0/24"),
            Net::V6([a, b, c]) => write!(f, "{a:x}:{b:x}:{c:x}::/48"),
        }
    }
}

/// First octets of cloud / corporate egress ranges (AWS, GCP, Azure...).
/// 44.x, 185.x, 192.x and 208.x are left out: the staged attack's
/// defaults come from there.
const CLOUD_OCTETS: &[u8] = &[52, 54, 34, 35, 13, 3, 18, 20, 40, 104];
/// First octets of consumer ISP ranges.
const ISP_OCTETS: &[u8] = &[
    24, 67, 68, 71, 73, 76, 96, 98, 99, 108, 174, 81, 86, 90, 109, 176,
];

/// Browser user agents (UI logins and people's apps on a desktop).
pub const BROWSER_UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36 Edg/139.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:141.0) Gecko/20100101 Firefox/141.0",
];
/// Device user agents of people's apps (mobile, Outlook, desktop tools).
pub const DEVICE_UAS: &[&str] = &[
    "SalesforceMobileSDK/12.2.0 iOS/18.5 (iPhone) Salesforce1/256.010 Native uid_sim mobile",
    "SalesforceMobileSDK/12.2.0 android mobile/15 (Pixel 8) Salesforce1/256.010 Native uid_sim mobile",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Microsoft Outlook 16.0.18925; Pro)",
    "Dataloader/64.0.0 Java/17.0.12 Windows 11",
];

/// Index into [`BROWSER_UAS`] followed by [`DEVICE_UAS`] of the device a
/// user runs people's apps on.
pub fn user_device_ua(seed: u64, user: u32) -> usize {
    let r = h(seed, TAG_USER_UA, u64::from(user), 0);
    (r % (BROWSER_UAS.len() + DEVICE_UAS.len()) as u64) as usize
}

/// Index into [`BROWSER_UAS`] of the browser a user signs in to the UI with.
pub fn user_browser_ua(seed: u64, user: u32) -> usize {
    (h(seed, TAG_USER_UA, u64::from(user), 1) % BROWSER_UAS.len() as u64) as usize
}

/// A user's home network (one /24 in an ISP-like range).
pub fn user_net(seed: u64, user: u32) -> Net {
    let r = h(seed, TAG_USER_NET, u64::from(user), 0);
    Net::V4([
        ISP_OCTETS[(r % ISP_OCTETS.len() as u64) as usize],
        (r >> 16) as u8,
        (r >> 24) as u8,
    ])
}

/// The 2-3 networks of an integration app.
pub fn app_nets(seed: u64, app: u32) -> Vec<Net> {
    let r = h(seed, TAG_APP_NET, u64::from(app), 0);
    let n = 2 + (r % 2) as usize;
    let mut v: Vec<Net> = (0..n)
        .map(|k| {
            let q = h(seed, TAG_APP_NET, u64::from(app), 1 + k as u64);
            Net::V4([
                CLOUD_OCTETS[(q % CLOUD_OCTETS.len() as u64) as usize],
                (q >> 16) as u8,
                (q >> 24) as u8,
            ])
        })
        .collect();
    if (r >> 8).is_multiple_of(7) {
        // An AWS us-east-1 IPv6 /48.
        v[n - 1] = Net::V6([0x2600, 0x1f18, (r >> 32) as u16]);
    }
    v
}

/// Token characters of a user agent product name (RFC 9110 `tchar`, minus
/// the odd punctuation): runs of anything else become one `-`.
fn product_token(name: &str, app: u32) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let mut s: String = s.trim_matches('-').chars().take(32).collect();
    while s.ends_with('-') {
        s.pop();
    }
    if s.is_empty() { format!("App{app}") } else { s }
}

/// The one user agent of an integration app, e.g.
/// `Drift-Salesforce-Connector/3.2 (+https://drift.com)`.
pub fn app_ua(seed: u64, app: u32, name: &str) -> String {
    let r = h(seed, TAG_APP_UA, u64::from(app), 0);
    let tok = product_token(name, app);
    let host: String = tok
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(24)
        .collect::<String>()
        .to_ascii_lowercase();
    let (major, minor) = (1 + (r >> 8) % 9, (r >> 16) % 20);
    match r % 3 {
        0 => format!("{tok}-Salesforce-Connector/{major}.{minor} (+https://{host}.com)"),
        1 => format!(
            "{tok}/{major}.{minor}.{} (Salesforce Integration; +https://{host}.com)",
            (r >> 24) % 10
        ),
        _ => format!(
            "{tok}-SFDC-Sync/{major}.{minor} Java/17.0.{} (+https://{host}.com)",
            (r >> 24) % 15
        ),
    }
}

/// Which apps behave like integrations: the cockpit's own app, apps of the
/// `Service` pattern, and apps whose live grants belong to few people (at
/// most 3, or 1 in 40 of the org's users).
pub fn classify(n_users: usize, apps: &[App], tokens: &[Token]) -> Vec<bool> {
    let mut users: Vec<Vec<u32>> = vec![Vec::new(); apps.len()];
    for t in tokens.iter().filter(|t| !t.revoked) {
        if let Some(v) = users.get_mut(t.app as usize) {
            v.push(t.user);
        }
    }
    let few = (n_users / 40).max(3);
    apps.iter()
        .zip(users.iter_mut())
        .map(|(a, u)| {
            u.sort_unstable();
            u.dedup();
            a.run_as != NONE || a.jwt_cert || a.usage == Usage::Service || u.len() <= few
        })
        .collect()
}

/// How an app signs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    RefreshToken,
    /// The username-password flow (being retired by Salesforce).
    UsernamePassword,
    JwtBearer,
}

/// Sign-in flow per app: one integration app uses the username-password
/// flow and another the JWT bearer flow (when there are 3+ integration apps),
/// and one people's app uses the username-password flow; all others refresh
/// tokens. Picked by hash.
pub fn flows(seed: u64, n_apps: usize, integration: &[bool]) -> Vec<Flow> {
    let mut out = vec![Flow::RefreshToken; n_apps];
    let mut order: Vec<usize> = (1..n_apps).collect();
    order.sort_by_key(|&i| h(seed, TAG_FLOW, i as u64, 0));
    let integ = |i: usize| integration.get(i).copied().unwrap_or(false);
    let ints: Vec<usize> = order.iter().copied().filter(|&i| integ(i)).collect();
    if ints.len() >= 3 {
        out[ints[0]] = Flow::UsernamePassword;
        out[ints[1]] = Flow::JwtBearer;
    }
    if let Some(&p) = order.iter().find(|&&i| !integ(i)) {
        out[p] = Flow::UsernamePassword;
    }
    out
}

/// What a consumer (or a test) can expect of an app's traffic.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AppTraffic {
    /// Integration-like (fixed networks, one user agent) or people's app.
    pub integration: bool,
    /// The app's networks in CIDR form (integration apps; empty otherwise:
    /// people's apps call from each user's home network).
    pub networks: Vec<String>,
    /// The app's own user agent (integration apps).
    pub user_agent: Option<String>,
    /// `OauthRefreshToken`, `OauthUsernamePassword` or `OauthJwtBearer`.
    pub login_sub_type: &'static str,
}

impl Flow {
    pub fn sub_type(self) -> &'static str {
        match self {
            Flow::RefreshToken => "OauthRefreshToken",
            Flow::UsernamePassword => "OauthUsernamePassword",
            Flow::JwtBearer => "OauthJwtBearer",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_token_chars_and_stable() {
        let ua = app_ua(42, 1, "Drift");
        assert!(ua.starts_with("Drift"), "{ua}");
        assert_eq!(ua, app_ua(42, 1, "Drift"));
        let hostile = app_ua(42, 3, "<script>alert(1)</script>");
        let product = hostile.split('/').next().unwrap();
        assert!(
            product
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{hostile}"
        );
        assert!(app_ua(42, 9, "🚀 Rocket Sync 🦄").starts_with("Rocket-Sync"));
        assert!(app_ua(42, 9, "営業アプリ").starts_with("App9"));
    }

    #[test]
    fn networks_are_few_and_hosts_fall_inside() {
        for app in 0..50 {
            let nets = app_nets(7, app);
            assert!((2..=3).contains(&nets.len()));
            for (k, n) in nets.iter().enumerate() {
                let ip = n.host(k as u64 * 977 + 5);
                assert!(n.contains(&ip), "{ip} in {n}");
            }
        }
        assert!((0..50).any(|a| app_nets(7, a).iter().any(|n| matches!(n, Net::V6(_)))));
        assert_ne!(user_net(7, 1), user_net(7, 2));
    }
}
