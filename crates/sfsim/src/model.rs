//! In-memory org state. Records are compact (indexes and integers); ids, emails,
//! token strings and display texts are derived on output.

use std::collections::{BTreeMap, HashMap};

use hmac::{Hmac, Mac};
use rand::Rng;
use rand_chacha::ChaCha20Rng;
use sha2::Sha256;

use crate::ids;

/// Epoch milliseconds (UTC).
pub type Ts = i64;
/// Marker for "no reference".
pub const NONE: u32 = u32::MAX;

pub mod perm {
    pub const CUSTOMIZE_APP: u8 = 1;
    pub const VIEW_ALL_DATA: u8 = 2;
    pub const MANAGE_USERS: u8 = 4;
    pub const API_ENABLED: u8 = 8;
    pub const VIEW_SETUP: u8 = 16;
    pub const MODIFY_ALL: u8 = 32;
    pub const VIEW_EVENT_LOGS: u8 = 64;
    pub const ALL: u8 = 127;
}

/// (name, user license, permissions)
pub const PROFILES: &[(&str, &str, u8)] = &[
    ("System Administrator", "Salesforce", perm::ALL),
    ("Standard User", "Salesforce", perm::API_ENABLED),
    ("Sales User", "Salesforce", perm::API_ENABLED),
    ("Marketing User", "Salesforce", perm::API_ENABLED),
    ("Read Only", "Salesforce", perm::API_ENABLED),
    ("Chatter Free User", "Chatter Free", 0),
    (
        "Minimum Access - API Only Integrations",
        "Salesforce Integration",
        perm::API_ENABLED | perm::VIEW_SETUP,
    ),
];
pub const PROFILE_SYSADMIN: u8 = 0;
pub const PROFILE_STANDARD: u8 = 1;

pub const DEPARTMENTS: &[&str] = &[
    "Sales",
    "Marketing",
    "Customer Success",
    "Engineering",
    "Finance",
    "IT",
    "Support",
    "Operations",
    "Legal",
    "R&D <Lab>",
];
pub const TITLES: &[&str] = &[
    "Account Executive",
    "Sales Development Rep",
    "Customer Success Manager",
    "Engineer",
    "Analyst",
    "Director",
    "VP",
    "Administrator",
    "Support Agent",
    "Integration User",
];

/// Permission sets beyond the profiles' own: (API name, label, permissions).
/// A user holds at most one of them ([`User::perm_set`]).
pub const PERMISSION_SETS: &[(&str, &str, u8)] = &[
    (
        "Integration_Admin",
        "Integration Admin",
        perm::MODIFY_ALL | perm::VIEW_ALL_DATA | perm::API_ENABLED | perm::VIEW_SETUP,
    ),
    ("Data_Auditor", "Data Auditor", perm::VIEW_ALL_DATA),
    (
        "Setup_Customizer",
        "Setup Customizer",
        perm::CUSTOMIZE_APP | perm::VIEW_SETUP,
    ),
    ("Sales_Operations", "Sales Operations", perm::API_ENABLED),
];

/// The permission set (1-based index into [`PERMISSION_SETS`], 0 for none)
/// generation gives user `i` of profile `profile`: a few people of the
/// ordinary profiles, picked by a hash of their index so that generation's
/// random stream (and so every other generated figure) stays as it was.
pub fn perm_set_for(i: usize, profile: u8) -> u8 {
    if i < 2 || !(1..=4).contains(&profile) {
        return 0;
    }
    match (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54 {
        0..3 => 1,
        3..8 => 2,
        8..14 => 3,
        14..60 => 4,
        _ => 0,
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub first: String,
    pub last: String,
    pub username: String,
    pub profile: u8,
    /// A permission set assigned besides the profile's ([`perm_set_for`]).
    pub perm_set: u8,
    pub department: u8,
    pub title: u8,
    pub manager: u32,
    pub active: bool,
    pub created: Ts,
    pub modified: Ts,
    /// 0 = never logged in.
    pub last_login: Ts,
}

impl User {
    pub fn name(&self) -> String {
        if self.first.is_empty() {
            self.last.clone()
        } else {
            format!("{} {}", self.first, self.last)
        }
    }
    /// What the profile and the assigned permission set grant together.
    pub fn perms(&self) -> u8 {
        let set = match self.perm_set {
            0 => 0,
            n => PERMISSION_SETS[n as usize - 1].2,
        };
        PROFILES[self.profile as usize].2 | set
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppKind {
    Connected,
    External,
}

/// Usage pattern the generator gives an app (drives realistic signals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Normal,
    /// Few users, heavy use (integration/service accounts).
    Service,
    /// Many users, little use.
    Abandoned,
}

#[derive(Clone, Debug)]
pub struct App {
    pub name: String,
    pub dev_name: String,
    pub kind: AppKind,
    pub consumer_key: String,
    pub consumer_secret: String,
    /// Installed apps have an AppMenuItem; uninstalled third-party apps do not.
    pub installed: bool,
    pub admin_approved_only: bool,
    /// Refresh token validity in days; `None` = "valid until revoked".
    pub refresh_validity_days: Option<u32>,
    /// true = inactivity-based expiry, false = lifetime-based.
    pub refresh_inactivity: bool,
    /// 0 = enforce IP restrictions, 1 = relax with second factor, 2 = relax.
    pub ip_relax: u8,
    pub created: Ts,
    pub usage: Usage,
    pub callback_urls: Vec<String>,
    /// The user client_credentials runs as (NONE = flow not enabled).
    pub run_as: u32,
    /// Whether the app trusts the sim's JWT certificate (JWT bearer flow).
    pub jwt_cert: bool,
    /// Users pre-authorized by the admin (permission-set assignments).
    pub permitted_users: Vec<u32>,
    /// Profiles pre-authorized by the admin (bit per profile index).
    pub permitted_profiles: u8,
    pub rotate_refresh: bool,
    pub managed_namespace: Option<&'static str>,
    /// External Client App whose plugins are disabled (ExtlClntAppConfigurablePolicies).
    pub disabled: bool,
}

impl App {
    /// Whether a user may use an app that is restricted to admin-approved users.
    pub fn permits(&self, user_idx: u32, user: &User) -> bool {
        !self.admin_approved_only
            || self.permitted_users.contains(&user_idx)
            || self.permitted_profiles & (1 << user.profile) != 0
    }

    pub fn sobject_id(&self, idx: u32) -> String {
        match self.kind {
            AppKind::Connected => ids::make_id(ids::CONNECTED_APP, idx as u64),
            AppKind::External => ids::make_id(ids::ECA, idx as u64),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Token {
    pub user: u32,
    pub app: u32,
    pub created: Ts,
    /// 0 = never used.
    pub last_used: Ts,
    pub use_count: u32,
    pub revoked: bool,
    /// Refresh-token generation (rotation).
    pub generation: u16,
}

pub const LOGIN_SUBTYPES: &[&str] = &[
    "",
    "OauthWebServer",
    "OauthRefreshToken",
    "OauthUsernamePassword",
    "OauthJwtBearer",
    "OauthClientCredentials",
];
pub const LOGIN_STATUSES: &[&str] = &[
    "Success",
    "Invalid Password",
    "User is Inactive",
    "Failed: API security token required",
    "Failed: Blocked by admin",
];

#[derive(Clone, Copy, Debug)]
pub struct Login {
    pub user: u32,
    pub time: Ts,
    /// NONE = browser login.
    pub app: u32,
    pub subtype: u8,
    pub status: u8,
    pub ip: std::net::IpAddr,
}

pub const AUDIT_ACTIONS: &[(&str, &str)] = &[
    ("deactivateduser", "Manage Users"),
    ("activateduser", "Manage Users"),
    ("createduser", "Manage Users"),
    ("changedprofileforuser", "Manage Users"),
    ("PermSetAssign", "Manage Users"),
    ("frozeuser", "Manage Users"),
    ("connectedAppBlocked", "Connected Apps"),
    ("connectedAppUnblocked", "Connected Apps"),
];
pub const AUDIT_DEACTIVATED: u8 = 0;
pub const AUDIT_CREATED: u8 = 2;
pub const AUDIT_BLOCKED: u8 = 6;
pub const AUDIT_UNBLOCKED: u8 = 7;

#[derive(Clone, Copy, Debug)]
pub struct Audit {
    pub action: u8,
    /// User index, or app index for connected-app actions.
    pub target: u32,
    pub time: Ts,
    pub by: u32,
}

#[derive(Clone, Debug)]
pub struct EventLog {
    pub event_type: &'static str,
    pub log_date: Ts,
    pub created: Ts,
    /// The CSV body (cheap to clone for downloads).
    pub csv: axum::body::Bytes,
}

#[derive(Clone, Debug)]
pub struct Session {
    pub user: u32,
    /// NONE for SOAP logins.
    pub app: u32,
    /// The OauthToken (refresh token) it was issued from, NONE otherwise.
    pub token: u32,
    pub issued: Ts,
    pub scope: String,
}

#[derive(Clone, Debug)]
pub struct AuthCode {
    pub user: u32,
    pub app: u32,
    pub redirect_uri: String,
    pub challenge: Option<String>,
    pub scope: String,
    /// OpenID Connect `nonce` of the authorize request, echoed in the id_token.
    pub nonce: Option<String>,
    pub expires: Ts,
}

#[derive(Clone, Debug)]
pub struct Blocked {
    pub consumer_key: String,
    pub consumer_name: String,
    pub master_label: String,
}

/// OAuth policies an admin sets on an app, as a Metadata write carries them
/// (`ConnectedApp` `oauthConfig`/`oauthPolicy`, or
/// `ExtlClntAppOauthConfigurablePolicies`); `None`: left as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OauthPolicy {
    pub admin_approved_only: Option<bool>,
    pub ip_relax: Option<u8>,
    /// Validity in days (`None` inside: valid until revoked) and whether
    /// it counts from the last use.
    pub refresh: Option<(Option<u32>, bool)>,
    pub rotate_refresh: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct Deploy {
    pub id: String,
    pub polls: u32,
    pub created: Ts,
    /// Components to block (fullName, record) and unblock (fullName).
    pub to_block: Vec<(String, Blocked)>,
    pub to_unblock: Vec<String>,
    /// ExtlClntAppConfigurablePolicies: (fullName, app index, plugins enabled).
    pub policies: Vec<(String, u32, bool)>,
    /// OAuth policies: (fullName, file name, app index, policy).
    pub oauth: Vec<(String, String, u32, OauthPolicy)>,
    pub failures: Vec<(String, String, String)>,
    pub finished: Option<bool>,
    pub completed: Ts,
}

pub struct OrgState {
    pub org_name: String,
    pub created: Ts,
    pub users: Vec<User>,
    pub apps: Vec<App>,
    pub tokens: Vec<Token>,
    /// Token indexes sorted by (created, index).
    pub by_created: Vec<u32>,
    /// Token indexes per user, in creation order.
    pub by_user: Vec<Vec<u32>>,
    pub logins: Vec<Login>,
    pub audits: Vec<Audit>,
    pub event_logs: Vec<EventLog>,
    /// Per app: whether it behaves like an integration ([`crate::traffic::classify`]),
    /// fixed at generation; apps added later are people's apps.
    pub integration: Vec<bool>,
    /// Attacks staged through [`crate::Sim::stage_attack`], replayed into day
    /// files generated later.
    pub attacks: Vec<crate::eventlog::StagedAttack>,
    pub sessions: HashMap<String, Session>,
    pub codes: HashMap<String, AuthCode>,
    /// BlacklistedConsumer components by fullName.
    pub blocked: BTreeMap<String, Blocked>,
    pub deploys: HashMap<String, Deploy>,
    pub deploy_seq: u64,
    /// A deploy completes no sooner than this after it was queued
    /// ([`crate::Fault::SlowDeploys`]); 0: on the second poll.
    pub deploy_delay_ms: Ts,
    pub rng: ChaCha20Rng,
}

/// Keys derived from the seed for MACs on tokens.
#[derive(Clone)]
pub struct Secrets {
    /// Keyed once; cloning the prepared state is cheaper than re-keying per MAC
    /// (a DeleteToken is derived for every OauthToken row rendered).
    keyed: Hmac<Sha256>,
}

impl Secrets {
    pub fn new(seed: u64) -> Secrets {
        use sha2::Digest;
        let d = Sha256::digest(format!("sfsim-secret-{seed}").as_bytes());
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&d).expect("hmac accepts any key length");
        Secrets { keyed }
    }

    pub fn mac(&self, tag: &str, a: u64, b: u64) -> String {
        let mut m = self.keyed.clone();
        m.update(tag.as_bytes());
        m.update(&a.to_le_bytes());
        m.update(&b.to_le_bytes());
        hex::encode(&m.finalize().into_bytes()[..20])
    }

    pub fn refresh_token(&self, seq: u32, generation: u16) -> String {
        format!(
            "5Aep861{}{}.{}",
            ids::base62(seq as u64, 6),
            ids::base62(generation as u64, 3),
            self.mac("rt", seq as u64, generation as u64)
        )
    }

    /// Returns (token index, generation) if the string is a refresh token we minted.
    pub fn parse_refresh_token(&self, s: &str) -> Option<(u32, u16)> {
        let rest = s.strip_prefix("5Aep861")?;
        let (head, mac) = rest.split_once('.')?;
        if head.len() != 9 || !head.is_ascii() {
            return None;
        }
        let seq = ids::unbase62(&head[..6])? as u32;
        let generation = ids::unbase62(&head[6..])? as u16;
        (self.mac("rt", seq as u64, generation as u64) == mac).then_some((seq, generation))
    }

    pub fn delete_token(&self, seq: u32) -> String {
        format!(
            "DT{}{}",
            ids::base62(seq as u64, 6),
            self.mac("dt", seq as u64, 0)
        )
    }

    pub fn parse_delete_token(&self, s: &str) -> Option<u32> {
        let rest = s.strip_prefix("DT")?;
        if rest.len() < 7 || !rest.is_ascii() {
            return None;
        }
        let seq = ids::unbase62(&rest[..6])? as u32;
        (self.mac("dt", seq as u64, 0) == rest[6..]).then_some(seq)
    }

    pub fn password(&self, user: u32) -> String {
        format!("Sim{}!", &self.mac("pw", user as u64, 0)[..14])
    }
}

pub fn random_string(rng: &mut ChaCha20Rng, len: usize) -> String {
    const CH: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..len)
        .map(|_| CH[rng.random_range(0..CH.len())] as char)
        .collect()
}

impl OrgState {
    /// Live (not revoked) token indexes of a user.
    pub fn user_tokens(&self, user: u32) -> impl Iterator<Item = u32> + '_ {
        self.by_user
            .get(user as usize)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&t| !self.tokens[t as usize].revoked)
    }

    pub fn app_by_key(&self, consumer_key: &str) -> Option<u32> {
        self.apps
            .iter()
            .position(|a| a.consumer_key == consumer_key)
            .map(|i| i as u32)
    }

    pub fn app_by_name(&self, name: &str) -> Option<u32> {
        self.apps
            .iter()
            .position(|a| a.name == name)
            .map(|i| i as u32)
    }

    pub fn user_by_username(&self, username: &str) -> Option<u32> {
        self.users
            .iter()
            .position(|u| u.username.eq_ignore_ascii_case(username))
            .map(|i| i as u32)
    }

    pub fn is_blocked_key(&self, consumer_key: &str) -> bool {
        self.blocked
            .values()
            .any(|b| b.consumer_key == consumer_key)
    }

    /// The ECA's OAuth plugin is disabled by policy.
    pub fn app_disabled(&self, app: u32) -> bool {
        self.apps.get(app as usize).is_some_and(|a| a.disabled)
    }

    pub fn app_blocked(&self, app: u32) -> bool {
        self.apps
            .get(app as usize)
            .is_some_and(|a| self.is_blocked_key(&a.consumer_key))
    }

    /// Appends a token keeping the indexes sorted; enforces the 5-grants-per-user-per-app
    /// rule by revoking the oldest grant (Salesforce revokes the oldest on the 6th).
    pub fn add_token(&mut self, user: u32, app: u32, now: Ts) -> u32 {
        let existing: Vec<u32> = self
            .user_tokens(user)
            .filter(|&t| self.tokens[t as usize].app == app)
            .collect();
        if existing.len() >= 5 {
            self.revoke_token(existing[0]);
        }
        let seq = self.tokens.len() as u32;
        self.tokens.push(Token {
            user,
            app,
            created: now,
            last_used: now,
            use_count: 1,
            revoked: false,
            generation: 0,
        });
        let pos = self.by_created.partition_point(|&t| {
            let tt = &self.tokens[t as usize];
            (tt.created, t) < (now, seq)
        });
        self.by_created.insert(pos, seq);
        if let Some(v) = self.by_user.get_mut(user as usize) {
            v.push(seq);
        }
        seq
    }

    /// Revokes a grant and ends every session issued from it.
    pub fn revoke_token(&mut self, seq: u32) -> bool {
        let Some(t) = self.tokens.get_mut(seq as usize) else {
            return false;
        };
        if t.revoked {
            return false;
        }
        t.revoked = true;
        self.sessions.retain(|_, s| s.token != seq);
        true
    }

    /// Blocking an app: remove all its grants and end its sessions.
    pub fn purge_app(&mut self, app: u32) {
        for t in self.tokens.iter_mut() {
            if t.app == app {
                t.revoked = true;
            }
        }
        self.sessions.retain(|_, s| s.app != app);
        self.codes.retain(|_, c| c.app != app);
    }

    pub fn mark_used(&mut self, seq: u32, now: Ts) {
        if let Some(t) = self.tokens.get_mut(seq as usize) {
            t.use_count = t.use_count.saturating_add(1);
            t.last_used = now;
        }
    }

    pub fn new_session(&mut self, org15: &str, session: Session) -> String {
        let tok = format!("{org15}!AQ{}", random_string(&mut self.rng, 96));
        self.sessions.insert(tok.clone(), session);
        tok
    }
}
