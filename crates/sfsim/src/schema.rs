//! Object definitions (the subset of Salesforce's schema the cockpit touches) and
//! field accessors over the compact org state.

use crate::ids;
use crate::model::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FType {
    Id,
    Reference,
    String,
    Int,
    Double,
    Boolean,
    DateTime,
    Date,
    Picklist,
    Email,
    Url,
    Textarea,
}

impl FType {
    pub fn soap_type(self) -> &'static str {
        match self {
            FType::Id | FType::Reference => "tns:ID",
            FType::Int => "xsd:int",
            FType::Double => "xsd:double",
            FType::Boolean => "xsd:boolean",
            FType::DateTime => "xsd:dateTime",
            FType::Date => "xsd:date",
            _ => "xsd:string",
        }
    }
    pub fn wire(self) -> &'static str {
        match self {
            FType::Id => "id",
            FType::Reference => "reference",
            FType::String => "string",
            FType::Int => "int",
            FType::Double => "double",
            FType::Boolean => "boolean",
            FType::DateTime => "datetime",
            FType::Date => "date",
            FType::Picklist => "picklist",
            FType::Email => "email",
            FType::Url => "url",
            FType::Textarea => "textarea",
        }
    }
    pub fn is_temporal(self) -> bool {
        matches!(self, FType::DateTime | FType::Date)
    }
}

pub const FIL: u8 = 1;
pub const SRT: u8 = 2;
pub const GRP: u8 = 4;
pub const NIL: u8 = 8;
const STD: u8 = FIL | SRT | GRP | NIL;

#[derive(Clone, Copy, Debug)]
pub struct FieldDef {
    pub name: &'static str,
    pub ty: FType,
    pub flags: u8,
    pub reference_to: &'static str,
    pub relationship: &'static str,
}

impl FieldDef {
    pub fn filterable(&self) -> bool {
        self.flags & FIL != 0
    }
    pub fn sortable(&self) -> bool {
        self.flags & SRT != 0
    }
}

const fn f(name: &'static str, ty: FType, flags: u8) -> FieldDef {
    FieldDef {
        name,
        ty,
        flags,
        reference_to: "",
        relationship: "",
    }
}
const fn r(name: &'static str, to: &'static str, rel: &'static str, flags: u8) -> FieldDef {
    FieldDef {
        name,
        ty: FType::Reference,
        flags,
        reference_to: to,
        relationship: rel,
    }
}
const fn id() -> FieldDef {
    f("Id", FType::Id, FIL | SRT | GRP)
}

use FType as T;

const OAUTH_TOKEN: &[FieldDef] = &[
    id(),
    f("AccessToken", T::String, STD),
    r("AppMenuItemId", "AppMenuItem", "AppMenuItem", STD),
    f("AppName", T::String, STD),
    f("CreatedDate", T::DateTime, FIL | SRT),
    f("DeleteToken", T::String, STD),
    f("LastUsedDate", T::DateTime, FIL | SRT | NIL),
    f("RequestToken", T::String, STD),
    f("UseCount", T::Int, STD),
    r("UserId", "User", "User", STD),
];

const USER: &[FieldDef] = &[
    id(),
    f("Username", T::String, FIL | SRT | GRP),
    f("Name", T::String, FIL | SRT | GRP),
    f("FirstName", T::String, STD),
    f("LastName", T::String, FIL | SRT | GRP),
    f("Email", T::Email, FIL | SRT | GRP),
    f("Alias", T::String, FIL | SRT | GRP),
    f("IsActive", T::Boolean, FIL | GRP),
    f("UserType", T::Picklist, STD),
    r("ProfileId", "Profile", "Profile", FIL | SRT | GRP),
    r("UserRoleId", "UserRole", "", STD),
    f("Department", T::String, STD),
    f("Division", T::String, STD),
    f("Title", T::String, STD),
    f("CompanyName", T::String, STD),
    r("ManagerId", "User", "Manager", STD),
    f("EmployeeNumber", T::String, STD),
    f("FederationIdentifier", T::String, STD),
    f("LastLoginDate", T::DateTime, FIL | SRT | NIL),
    f("LastPasswordChangeDate", T::DateTime, FIL | SRT | NIL),
    f("NumberOfFailedLogins", T::Int, STD),
    f("TimeZoneSidKey", T::Picklist, FIL | SRT | GRP),
    f("LanguageLocaleKey", T::Picklist, FIL | SRT | GRP),
    f("CreatedDate", T::DateTime, FIL | SRT),
    r("CreatedById", "User", "CreatedBy", FIL | SRT | GRP),
    f("LastModifiedDate", T::DateTime, FIL | SRT),
    r(
        "LastModifiedById",
        "User",
        "LastModifiedBy",
        FIL | SRT | GRP,
    ),
    f("SystemModstamp", T::DateTime, FIL | SRT),
];

const PROFILE: &[FieldDef] = &[
    id(),
    f("Name", T::String, FIL | SRT | GRP),
    f("UserType", T::Picklist, STD),
    f("Description", T::String, STD),
    f("PermissionsApiEnabled", T::Boolean, FIL | GRP),
    f("PermissionsCustomizeApplication", T::Boolean, FIL | GRP),
    f("PermissionsViewAllData", T::Boolean, FIL | GRP),
    f("PermissionsManageUsers", T::Boolean, FIL | GRP),
    f("PermissionsModifyAllData", T::Boolean, FIL | GRP),
    f("CreatedDate", T::DateTime, FIL | SRT),
];

const PERMISSION_SET: &[FieldDef] = &[
    id(),
    f("Name", T::String, FIL | SRT | GRP),
    f("Label", T::String, FIL | SRT | GRP),
    f("IsOwnedByProfile", T::Boolean, FIL | GRP),
    r("ProfileId", "Profile", "Profile", FIL | SRT | GRP | NIL),
    f("PermissionsApiEnabled", T::Boolean, FIL | GRP),
    f("PermissionsCustomizeApplication", T::Boolean, FIL | GRP),
    f("PermissionsViewAllData", T::Boolean, FIL | GRP),
    f("PermissionsManageUsers", T::Boolean, FIL | GRP),
    f("PermissionsModifyAllData", T::Boolean, FIL | GRP),
    f("PermissionsViewSetup", T::Boolean, FIL | GRP),
    f("CreatedDate", T::DateTime, FIL | SRT),
];

const PERMISSION_SET_ASSIGNMENT: &[FieldDef] = &[
    id(),
    r("AssigneeId", "User", "Assignee", FIL | SRT | GRP),
    r(
        "PermissionSetId",
        "PermissionSet",
        "PermissionSet",
        FIL | SRT | GRP,
    ),
    f("IsActive", T::Boolean, FIL | GRP),
    f("SystemModstamp", T::DateTime, FIL | SRT),
];

const CONNECTED_APPLICATION: &[FieldDef] = &[
    id(),
    f("Name", T::String, FIL | SRT | GRP),
    f("CreatedDate", T::DateTime, FIL | SRT),
    r("CreatedById", "User", "CreatedBy", FIL | SRT | GRP),
    f("LastModifiedDate", T::DateTime, FIL | SRT),
    r(
        "LastModifiedById",
        "User",
        "LastModifiedBy",
        FIL | SRT | GRP,
    ),
    f("SystemModstamp", T::DateTime, FIL | SRT),
    f("MobileSessionTimeout", T::Picklist, STD),
    f("MobileStartUrl", T::Url, STD),
    f("StartUrl", T::Url, STD),
    f("UvidTimeout", T::Picklist, STD),
    f("OptionsAllowAdminApprovedUsersOnly", T::Boolean, FIL),
    f("OptionsCodeCredentialGuestEnabled", T::Boolean, FIL),
    f("OptionsFullContentPushNotifications", T::Boolean, FIL),
    f("OptionsHasSessionLevelPolicy", T::Boolean, FIL),
    f("OptionsIsInternal", T::Boolean, FIL),
    f("OptionsRefreshTokenValidityMetric", T::Boolean, FIL),
    f("OptionsTokenExchangeManageBitEnabled", T::Boolean, FIL),
    f("PinLength", T::Picklist, STD),
    f("RefreshTokenValidityPeriod", T::Int, STD),
];

const APP_MENU_ITEM: &[FieldDef] = &[
    id(),
    r("ApplicationId", "ConnectedApplication", "", STD),
    f("Name", T::String, FIL | SRT | GRP),
    f("Label", T::String, FIL | SRT | GRP),
    f("Type", T::Picklist, STD),
    f("Description", T::Textarea, FIL | NIL),
    f("IsAccessible", T::Boolean, FIL | GRP),
    f("IsVisible", T::Boolean, FIL | GRP),
    f("IsUsingAdminAuthorization", T::Boolean, FIL | GRP),
    f("IsRegisteredDeviceOnly", T::Boolean, FIL | GRP),
    f("NamespacePrefix", T::String, STD),
    f("StartUrl", T::Url, STD),
    f("MobileStartUrl", T::Url, STD),
    f("IconUrl", T::Url, STD),
    f("InfoUrl", T::Url, STD),
    f("LogoUrl", T::Url, STD),
    f("SortOrder", T::Int, STD),
    f("UserSortOrder", T::Int, STD),
    f("CreatedDate", T::DateTime, FIL | SRT),
    r("CreatedById", "User", "CreatedBy", FIL | SRT | GRP),
    f("LastModifiedDate", T::DateTime, FIL | SRT),
    f("SystemModstamp", T::DateTime, FIL | SRT),
];

const ECA: &[FieldDef] = &[
    id(),
    f("MasterLabel", T::String, FIL | SRT | GRP),
    f("DeveloperName", T::String, FIL | SRT | GRP),
    f("DistributionState", T::Picklist, STD),
    f("Description", T::Textarea, FIL | NIL),
    f("ContactEmail", T::Email, STD),
    f("NamespacePrefix", T::String, STD),
    f("Language", T::Picklist, STD),
    f("CreatedDate", T::DateTime, FIL | SRT),
    r("CreatedById", "User", "CreatedBy", FIL | SRT | GRP),
    f("LastModifiedDate", T::DateTime, FIL | SRT),
];

const ECA_POLICY: &[FieldDef] = &[
    id(),
    r(
        "ExternalClientApplicationId",
        "ExternalClientApplication",
        "ExternalClientApplication",
        STD,
    ),
    f("DeveloperName", T::String, FIL | SRT | GRP),
    f("MasterLabel", T::String, FIL | SRT | GRP),
    f("PermittedUsersPolicyType", T::Picklist, STD),
    f("IpRelaxationPolicyType", T::Picklist, STD),
    f("RefreshTokenPolicyType", T::Picklist, STD),
    f("RefreshTokenValidityPeriod", T::Int, STD),
    f("RefreshTokenValidityUnit", T::Picklist, STD),
    f("IsRefreshTokenRotationEnabled", T::Boolean, FIL | GRP),
    f("CreatedDate", T::DateTime, FIL | SRT),
];

const LOGIN_HISTORY: &[FieldDef] = &[
    id(),
    r("UserId", "User", "", FIL | SRT | GRP),
    f("LoginTime", T::DateTime, FIL | SRT),
    f("LoginType", T::Picklist, FIL | SRT | GRP),
    f("LoginSubType", T::Picklist, SRT | GRP | NIL),
    f("Application", T::String, SRT | GRP | NIL),
    f("Status", T::String, SRT | GRP | NIL),
    f("SourceIp", T::String, SRT | GRP | NIL),
    f("Platform", T::String, SRT | GRP | NIL),
    f("Browser", T::String, SRT | GRP | NIL),
    f("ApiType", T::String, SRT | GRP | NIL),
    f("ApiVersion", T::String, SRT | GRP | NIL),
    f("ClientVersion", T::String, SRT | GRP | NIL),
    f("LoginUrl", T::String, STD),
    f("CountryIso", T::Picklist, STD),
    f("LoginGeoId", T::Reference, SRT | GRP | NIL),
    f("AuthMethodReference", T::String, SRT | GRP | NIL),
    f("AuthenticationServiceId", T::Reference, STD),
    f("CipherSuite", T::Picklist, STD),
    f("TlsProtocol", T::Picklist, STD),
    f("NetworkId", T::Reference, STD),
    f("OptionsIsGet", T::Boolean, FIL | GRP),
    f("OptionsIsPost", T::Boolean, FIL | GRP),
    f("ForwardedForIp", T::String, SRT | GRP | NIL),
];

const SETUP_AUDIT_TRAIL: &[FieldDef] = &[
    id(),
    f("Action", T::String, FIL | SRT),
    f("Section", T::String, FIL | SRT | NIL),
    f("Display", T::String, FIL | SRT | NIL),
    f("CreatedDate", T::DateTime, FIL | SRT),
    r("CreatedById", "User", "CreatedBy", FIL | SRT | NIL),
    f("CreatedByContext", T::String, FIL | SRT | NIL),
    f("CreatedByIssuer", T::String, FIL | SRT | NIL),
    f("DelegateUser", T::String, FIL | SRT | NIL),
    f("ResponsibleNamespacePrefix", T::String, FIL | SRT | NIL),
];

const EVENT_LOG_FILE: &[FieldDef] = &[
    id(),
    f("EventType", T::Picklist, FIL | SRT | GRP),
    f("LogDate", T::DateTime, FIL | SRT),
    f("CreatedDate", T::DateTime, FIL | SRT),
    f("Interval", T::Picklist, FIL | SRT | GRP),
    f("Sequence", T::Int, FIL | SRT | GRP),
    f("LogFile", T::String, NIL),
    f("LogFileLength", T::Double, FIL | SRT),
    f("LogFileContentType", T::String, FIL | SRT | GRP),
    f("LogFileFieldNames", T::String, NIL),
    f("LogFileFieldTypes", T::String, NIL),
    f("ApiVersion", T::Double, FIL | SRT | NIL),
    r("CreatedById", "User", "CreatedBy", FIL | SRT | GRP),
    f("LastModifiedDate", T::DateTime, FIL | SRT),
    f("SystemModstamp", T::DateTime, FIL | SRT),
];

const USER_PERMISSION_ACCESS: &[FieldDef] = &[
    id(),
    f("LastCacheUpdate", T::DateTime, FIL | SRT | NIL),
    f("PermissionsApiEnabled", T::Boolean, FIL | GRP),
    f("PermissionsCustomizeApplication", T::Boolean, FIL | GRP),
    f("PermissionsViewAllData", T::Boolean, FIL | GRP),
    f("PermissionsManageUsers", T::Boolean, FIL | GRP),
    f("PermissionsModifyAllData", T::Boolean, FIL | GRP),
    f("PermissionsViewSetup", T::Boolean, FIL | GRP),
    f("PermissionsViewEventLogFiles", T::Boolean, FIL | GRP),
];

const ORGANIZATION: &[FieldDef] = &[
    id(),
    f("Name", T::String, FIL | SRT | GRP),
    f("OrganizationType", T::Picklist, STD),
    f("IsSandbox", T::Boolean, FIL | GRP),
    f("InstanceName", T::String, STD),
    f("NamespacePrefix", T::String, STD),
    f("Country", T::String, STD),
    f("LanguageLocaleKey", T::Picklist, STD),
    f("DefaultLocaleSidKey", T::Picklist, STD),
    f("TimeZoneSidKey", T::Picklist, STD),
    f("TrialExpirationDate", T::DateTime, FIL | SRT | NIL),
    f("CreatedDate", T::DateTime, FIL | SRT),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Obj {
    OauthToken,
    User,
    Profile,
    PermissionSet,
    PermissionSetAssignment,
    ConnectedApplication,
    AppMenuItem,
    ExternalClientApplication,
    ExtlClntAppOauthPlcyCnfg,
    LoginHistory,
    SetupAuditTrail,
    EventLogFile,
    UserPermissionAccess,
    Organization,
}

pub const ALL_OBJECTS: &[Obj] = &[
    Obj::OauthToken,
    Obj::User,
    Obj::Profile,
    Obj::PermissionSet,
    Obj::PermissionSetAssignment,
    Obj::ConnectedApplication,
    Obj::AppMenuItem,
    Obj::ExternalClientApplication,
    Obj::ExtlClntAppOauthPlcyCnfg,
    Obj::LoginHistory,
    Obj::SetupAuditTrail,
    Obj::EventLogFile,
    Obj::UserPermissionAccess,
    Obj::Organization,
];

impl Obj {
    pub fn name(self) -> &'static str {
        match self {
            Obj::OauthToken => "OauthToken",
            Obj::User => "User",
            Obj::Profile => "Profile",
            Obj::PermissionSet => "PermissionSet",
            Obj::PermissionSetAssignment => "PermissionSetAssignment",
            Obj::ConnectedApplication => "ConnectedApplication",
            Obj::AppMenuItem => "AppMenuItem",
            Obj::ExternalClientApplication => "ExternalClientApplication",
            Obj::ExtlClntAppOauthPlcyCnfg => "ExtlClntAppOauthPlcyCnfg",
            Obj::LoginHistory => "LoginHistory",
            Obj::SetupAuditTrail => "SetupAuditTrail",
            Obj::EventLogFile => "EventLogFile",
            Obj::UserPermissionAccess => "UserPermissionAccess",
            Obj::Organization => "Organization",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Obj::OauthToken => "OAuth Token",
            Obj::PermissionSet => "Permission Set",
            Obj::PermissionSetAssignment => "Permission Set Assignment",
            Obj::ConnectedApplication => "Connected App",
            Obj::AppMenuItem => "App Menu Item",
            Obj::ExternalClientApplication => "External Client Application",
            Obj::ExtlClntAppOauthPlcyCnfg => "External Client App OAuth Policy Configuration",
            Obj::LoginHistory => "Login History",
            Obj::SetupAuditTrail => "Setup Audit Trail",
            Obj::EventLogFile => "Event Log File",
            Obj::UserPermissionAccess => "User Permission Access",
            o => o.name(),
        }
    }
    pub fn from_name(s: &str) -> Option<Obj> {
        ALL_OBJECTS
            .iter()
            .copied()
            .find(|o| o.name().eq_ignore_ascii_case(s))
    }
    pub fn prefix(self) -> &'static str {
        match self {
            Obj::OauthToken => ids::OAUTH_TOKEN,
            Obj::User => ids::USER,
            Obj::Profile => ids::PROFILE,
            Obj::PermissionSet => ids::PERMISSION_SET,
            Obj::PermissionSetAssignment => ids::PERMISSION_SET_ASSIGNMENT,
            Obj::ConnectedApplication => ids::CONNECTED_APP,
            Obj::AppMenuItem => ids::APP_MENU_ITEM,
            Obj::ExternalClientApplication => ids::ECA,
            Obj::ExtlClntAppOauthPlcyCnfg => ids::ECA_POLICY,
            Obj::LoginHistory => ids::LOGIN_HISTORY,
            Obj::SetupAuditTrail => ids::AUDIT_TRAIL,
            Obj::EventLogFile => ids::EVENT_LOG_FILE,
            Obj::UserPermissionAccess => "0Pa",
            Obj::Organization => ids::ORG,
        }
    }
    pub fn fields(self) -> &'static [FieldDef] {
        match self {
            Obj::OauthToken => OAUTH_TOKEN,
            Obj::User => USER,
            Obj::Profile => PROFILE,
            Obj::PermissionSet => PERMISSION_SET,
            Obj::PermissionSetAssignment => PERMISSION_SET_ASSIGNMENT,
            Obj::ConnectedApplication => CONNECTED_APPLICATION,
            Obj::AppMenuItem => APP_MENU_ITEM,
            Obj::ExternalClientApplication => ECA,
            Obj::ExtlClntAppOauthPlcyCnfg => ECA_POLICY,
            Obj::LoginHistory => LOGIN_HISTORY,
            Obj::SetupAuditTrail => SETUP_AUDIT_TRAIL,
            Obj::EventLogFile => EVENT_LOG_FILE,
            Obj::UserPermissionAccess => USER_PERMISSION_ACCESS,
            Obj::Organization => ORGANIZATION,
        }
    }
    pub fn field(self, name: &str) -> Option<&'static FieldDef> {
        self.fields()
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
    pub fn relationship(self, name: &str) -> Option<&'static FieldDef> {
        self.fields()
            .iter()
            .find(|f| !f.relationship.is_empty() && f.relationship.eq_ignore_ascii_case(name))
    }
    /// Supported calls per the Object Reference: OauthToken only describe + query.
    pub fn retrievable(self) -> bool {
        !matches!(self, Obj::OauthToken | Obj::UserPermissionAccess)
    }
    pub fn id_of(self, row: u32) -> String {
        match self {
            Obj::Organization => String::new(),
            _ => ids::make_id(self.prefix(), row as u64),
        }
    }
}

/// A field value. Ids compare on their case-sensitive 15-char form.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Str(String),
    Id(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    DateTime(Ts),
    Date(Ts),
}

/// Per-request context needed to render derived values.
pub struct Env<'a> {
    pub secrets: &'a Secrets,
    pub org_id: &'a str,
    pub version: &'a str,
    pub running_user: u32,
    pub sandbox: bool,
    pub base_url: &'a str,
}

fn s(v: impl Into<String>) -> Value {
    Value::Str(v.into())
}
fn opt_ts(t: Ts) -> Value {
    if t == 0 {
        Value::Null
    } else {
        Value::DateTime(t)
    }
}
fn uid(u: u32) -> Value {
    if u == NONE {
        Value::Null
    } else {
        Value::Id(ids::make_id(ids::USER, u as u64))
    }
}

/// Rows of an object, in natural (id) order. OauthToken rows come from the query
/// engine's indexes instead; this is the fallback.
pub fn all_rows(st: &OrgState, env: &Env, obj: Obj) -> Vec<u32> {
    let n = |len: usize| (0..len as u32).collect::<Vec<u32>>();
    match obj {
        Obj::OauthToken => st
            .by_created
            .iter()
            .copied()
            .filter(|&t| !st.tokens[t as usize].revoked)
            .collect(),
        Obj::User => n(st.users.len()),
        Obj::Profile => n(PROFILES.len()),
        Obj::PermissionSet => n(PROFILES.len() + PERMISSION_SETS.len()),
        Obj::PermissionSetAssignment => {
            let mut rows = n(st.users.len());
            rows.extend(
                st.users
                    .iter()
                    .enumerate()
                    .filter(|(_, u)| u.perm_set != 0)
                    .map(|(i, _)| EXTRA_ASSIGNMENT + i as u32),
            );
            rows
        }
        Obj::ConnectedApplication => apps_where(st, |a| a.kind == AppKind::Connected),
        Obj::AppMenuItem => apps_where(st, |a| a.installed),
        Obj::ExternalClientApplication | Obj::ExtlClntAppOauthPlcyCnfg => {
            apps_where(st, |a| a.kind == AppKind::External)
        }
        Obj::LoginHistory => n(st.logins.len()),
        Obj::SetupAuditTrail => n(st.audits.len()),
        Obj::EventLogFile => n(st.event_logs.len()),
        Obj::UserPermissionAccess => vec![env.running_user],
        Obj::Organization => vec![0],
    }
}

/// PermissionSetAssignment rows: row `u` assigns user `u` their profile's
/// own permission set (Salesforce lists those too); row `EXTRA_ASSIGNMENT +
/// u` assigns user `u` their other permission set, if any. Ids stay the same
/// as users are added.
const EXTRA_ASSIGNMENT: u32 = 1 << 26;

/// The PermissionSet row of assignment `row` and its user.
fn assignment(st: &OrgState, row: u32) -> (u32, u32) {
    match row.checked_sub(EXTRA_ASSIGNMENT) {
        None => (st.users[row as usize].profile as u32, row),
        Some(u) => (
            (PROFILES.len() + st.users[u as usize].perm_set as usize - 1) as u32,
            u,
        ),
    }
}

fn apps_where(st: &OrgState, pred: impl Fn(&App) -> bool) -> Vec<u32> {
    st.apps
        .iter()
        .enumerate()
        .filter(|(_, a)| pred(a))
        .map(|(i, _)| i as u32)
        .collect()
}

/// Whether a row (by id-derived index) exists and is live.
pub fn row_exists(st: &OrgState, obj: Obj, row: u32) -> bool {
    let i = row as usize;
    match obj {
        Obj::OauthToken => st.tokens.get(i).is_some_and(|t| !t.revoked),
        Obj::User => i < st.users.len(),
        Obj::Profile => i < PROFILES.len(),
        Obj::PermissionSet => i < PROFILES.len() + PERMISSION_SETS.len(),
        Obj::PermissionSetAssignment => match row.checked_sub(EXTRA_ASSIGNMENT) {
            None => i < st.users.len(),
            Some(u) => st.users.get(u as usize).is_some_and(|u| u.perm_set != 0),
        },
        Obj::ConnectedApplication => st.apps.get(i).is_some_and(|a| a.kind == AppKind::Connected),
        Obj::AppMenuItem => st.apps.get(i).is_some_and(|a| a.installed),
        Obj::ExternalClientApplication | Obj::ExtlClntAppOauthPlcyCnfg => {
            st.apps.get(i).is_some_and(|a| a.kind == AppKind::External)
        }
        Obj::LoginHistory => i < st.logins.len(),
        Obj::SetupAuditTrail => i < st.audits.len(),
        Obj::EventLogFile => i < st.event_logs.len(),
        Obj::UserPermissionAccess => i < st.users.len(),
        Obj::Organization => i == 0,
    }
}

/// Follows a reference field to its target row (None = null lookup).
pub fn follow(st: &OrgState, obj: Obj, row: u32, fk: &str) -> Option<(Obj, u32)> {
    let i = row as usize;
    let user = |u: u32| (u != NONE && (u as usize) < st.users.len()).then_some((Obj::User, u));
    match (obj, fk) {
        (Obj::OauthToken, "UserId") => user(st.tokens[i].user),
        (Obj::OauthToken, "AppMenuItemId") => {
            let a = st.tokens[i].app;
            st.apps[a as usize]
                .installed
                .then_some((Obj::AppMenuItem, a))
        }
        (Obj::User, "ProfileId") => Some((Obj::Profile, st.users[i].profile as u32)),
        (Obj::PermissionSet, "ProfileId") => (i < PROFILES.len()).then_some((Obj::Profile, row)),
        (Obj::PermissionSetAssignment, "AssigneeId") => user(assignment(st, row).1),
        (Obj::PermissionSetAssignment, "PermissionSetId") => {
            Some((Obj::PermissionSet, assignment(st, row).0))
        }
        (Obj::User, "ManagerId") => user(st.users[i].manager),
        (Obj::User, "CreatedById" | "LastModifiedById") => user(0),
        (
            Obj::ConnectedApplication | Obj::AppMenuItem | Obj::ExternalClientApplication,
            "CreatedById",
        ) => user(0),
        (Obj::ConnectedApplication, "LastModifiedById") => user(0),
        (Obj::ExtlClntAppOauthPlcyCnfg, "ExternalClientApplicationId") => {
            Some((Obj::ExternalClientApplication, row))
        }
        (Obj::SetupAuditTrail, "CreatedById") => user(st.audits[i].by),
        (Obj::EventLogFile, "CreatedById") => user(0),
        _ => None,
    }
}

/// [C] every generated menu item is a connected app (ECAs included).
fn app_menu_type() -> Value {
    s("ConnectedApplication")
}

pub fn value(st: &OrgState, env: &Env, obj: Obj, row: u32, field: &str) -> Value {
    let i = row as usize;
    if field == "Id" {
        return match obj {
            Obj::Organization => Value::Id(env.org_id.to_string()),
            Obj::UserPermissionAccess => Value::Null,
            Obj::ConnectedApplication | Obj::ExternalClientApplication => {
                Value::Id(st.apps[i].sobject_id(row))
            }
            _ => Value::Id(obj.id_of(row)),
        };
    }
    match obj {
        Obj::OauthToken => {
            let t = &st.tokens[i];
            let app = &st.apps[t.app as usize];
            match field {
                // [C] the reference says the content is unclear; we expose a masked
                // prefix of the refresh token rather than a usable credential.
                "AccessToken" => s(format!(
                    "{}…",
                    &env.secrets.refresh_token(row, t.generation)[..12]
                )),
                "AppMenuItemId" => {
                    if app.installed {
                        Value::Id(ids::make_id(ids::APP_MENU_ITEM, t.app as u64))
                    } else {
                        Value::Null
                    }
                }
                "AppName" => s(app.name.clone()),
                "CreatedDate" => Value::DateTime(t.created),
                "DeleteToken" => s(env.secrets.delete_token(row)),
                "LastUsedDate" => opt_ts(t.last_used),
                // [C] the auth code used is not kept; real orgs usually show null.
                "RequestToken" => Value::Null,
                "UseCount" => Value::Int(t.use_count as i64),
                "UserId" => uid(t.user),
                _ => Value::Null,
            }
        }
        Obj::User => {
            let u = &st.users[i];
            match field {
                "Username" => s(u.username.clone()),
                "Name" => s(u.name()),
                "FirstName" => {
                    if u.first.is_empty() {
                        Value::Null
                    } else {
                        s(u.first.clone())
                    }
                }
                "LastName" => s(u.last.clone()),
                "Email" => s(u.username.clone()),
                "Alias" => s(u.username.chars().take(8).collect::<String>()),
                "IsActive" => Value::Bool(u.active),
                "UserType" => s("Standard"),
                "ProfileId" => Value::Id(ids::make_id(ids::PROFILE, u.profile as u64)),
                "UserRoleId" => Value::Null,
                "Department" => s(DEPARTMENTS[u.department as usize]),
                "Division" => Value::Null,
                "Title" => s(TITLES[u.title as usize]),
                "CompanyName" => s(st.org_name.clone()),
                "ManagerId" => uid(u.manager),
                "EmployeeNumber" => s(format!("E{:06}", i)),
                "FederationIdentifier" => Value::Null,
                "LastLoginDate" => opt_ts(u.last_login),
                "LastPasswordChangeDate" => Value::DateTime(u.created),
                "NumberOfFailedLogins" => Value::Int(0),
                "TimeZoneSidKey" => s("America/Los_Angeles"),
                "LanguageLocaleKey" => s("en_US"),
                "CreatedDate" => Value::DateTime(u.created),
                "CreatedById" | "LastModifiedById" => uid(0),
                "LastModifiedDate" | "SystemModstamp" => Value::DateTime(u.modified),
                _ => Value::Null,
            }
        }
        Obj::Profile => {
            let (name, license, p) = PROFILES[i];
            let b = |bit: u8| Value::Bool(p & bit != 0);
            match field {
                "Name" => s(name),
                "UserType" => s(if license == "Chatter Free" {
                    "CsnOnly"
                } else {
                    "Standard"
                }),
                "Description" => s(format!("{license} profile")),
                "PermissionsApiEnabled" => b(perm::API_ENABLED),
                "PermissionsCustomizeApplication" => b(perm::CUSTOMIZE_APP),
                "PermissionsViewAllData" => b(perm::VIEW_ALL_DATA),
                "PermissionsManageUsers" => b(perm::MANAGE_USERS),
                "PermissionsModifyAllData" => b(perm::MODIFY_ALL),
                "CreatedDate" => Value::DateTime(st.created),
                _ => Value::Null,
            }
        }
        Obj::PermissionSet => {
            // The profiles' own sets first, named as Salesforce names them
            // (`X00e…`) [C: the generated name's form is inferred from orgs'
            // exports; only IsOwnedByProfile is documented to tell them apart].
            let (name, label, p, profile) = match PROFILES.get(i) {
                Some((profile, _, p)) => (
                    format!("X{}", &ids::make_id(ids::PROFILE, row as u64)[..15]),
                    profile.to_string(),
                    *p,
                    true,
                ),
                None => {
                    let (name, label, p) = PERMISSION_SETS[i - PROFILES.len()];
                    (name.to_string(), label.to_string(), p, false)
                }
            };
            let b = |bit: u8| Value::Bool(p & bit != 0);
            match field {
                "Name" => s(name),
                "Label" => s(label),
                "IsOwnedByProfile" => Value::Bool(profile),
                "ProfileId" if profile => Value::Id(ids::make_id(ids::PROFILE, row as u64)),
                "PermissionsApiEnabled" => b(perm::API_ENABLED),
                "PermissionsCustomizeApplication" => b(perm::CUSTOMIZE_APP),
                "PermissionsViewAllData" => b(perm::VIEW_ALL_DATA),
                "PermissionsManageUsers" => b(perm::MANAGE_USERS),
                "PermissionsModifyAllData" => b(perm::MODIFY_ALL),
                "PermissionsViewSetup" => b(perm::VIEW_SETUP),
                "CreatedDate" => Value::DateTime(st.created),
                _ => Value::Null,
            }
        }
        Obj::PermissionSetAssignment => {
            let (set, user) = assignment(st, row);
            match field {
                "AssigneeId" => uid(user),
                "PermissionSetId" => Value::Id(ids::make_id(ids::PERMISSION_SET, set as u64)),
                "IsActive" => Value::Bool(st.users[user as usize].active),
                "SystemModstamp" => Value::DateTime(st.users[user as usize].created),
                _ => Value::Null,
            }
        }
        Obj::ConnectedApplication => {
            let a = &st.apps[i];
            match field {
                "Name" => s(a.name.clone()),
                "CreatedDate" | "LastModifiedDate" | "SystemModstamp" => Value::DateTime(a.created),
                "CreatedById" | "LastModifiedById" => uid(0),
                "MobileSessionTimeout" | "MobileStartUrl" | "StartUrl" | "PinLength" => Value::Null,
                "UvidTimeout" => s("120"),
                "OptionsAllowAdminApprovedUsersOnly" => Value::Bool(a.admin_approved_only),
                "OptionsRefreshTokenValidityMetric" => Value::Bool(a.refresh_inactivity),
                "OptionsIsInternal" => Value::Bool(a.dev_name.starts_with("Salesforce")),
                "OptionsCodeCredentialGuestEnabled"
                | "OptionsFullContentPushNotifications"
                | "OptionsHasSessionLevelPolicy"
                | "OptionsTokenExchangeManageBitEnabled" => Value::Bool(false),
                // [C] "valid until revoked" is modelled as a null period.
                "RefreshTokenValidityPeriod" => match a.refresh_validity_days {
                    Some(d) => Value::Int(d as i64),
                    None => Value::Null,
                },
                _ => Value::Null,
            }
        }
        Obj::AppMenuItem => {
            let a = &st.apps[i];
            match field {
                "ApplicationId" => Value::Id(a.sobject_id(row)),
                "Name" => s(a.dev_name.clone()),
                "Label" => s(a.name.clone()),
                "Type" => app_menu_type(),
                "Description" => Value::Null,
                "IsAccessible" => {
                    Value::Bool(a.permits(env.running_user, &st.users[env.running_user as usize]))
                }
                "IsVisible" => Value::Bool(true),
                "IsUsingAdminAuthorization" => Value::Bool(a.admin_approved_only),
                "IsRegisteredDeviceOnly" => Value::Bool(false),
                "NamespacePrefix" => a.managed_namespace.map(s).unwrap_or(Value::Null),
                "StartUrl" | "MobileStartUrl" | "IconUrl" | "InfoUrl" | "LogoUrl" => Value::Null,
                "SortOrder" | "UserSortOrder" => Value::Int(row as i64),
                "CreatedDate" | "LastModifiedDate" | "SystemModstamp" => Value::DateTime(a.created),
                "CreatedById" => uid(0),
                _ => Value::Null,
            }
        }
        Obj::ExternalClientApplication => {
            let a = &st.apps[i];
            match field {
                "MasterLabel" => s(a.name.clone()),
                "DeveloperName" => s(a.dev_name.clone()),
                "DistributionState" => s(if a.managed_namespace.is_some() {
                    "Packaged"
                } else {
                    "Local"
                }),
                "Description" => Value::Null,
                "ContactEmail" => s("admin@example.com"),
                "NamespacePrefix" => a.managed_namespace.map(s).unwrap_or(Value::Null),
                "Language" => s("en_US"),
                "CreatedDate" | "LastModifiedDate" => Value::DateTime(a.created),
                "CreatedById" => uid(0),
                _ => Value::Null,
            }
        }
        Obj::ExtlClntAppOauthPlcyCnfg => {
            let a = &st.apps[i];
            match field {
                "ExternalClientApplicationId" => Value::Id(a.sobject_id(row)),
                "DeveloperName" => s(format!("{}_oauthPlcy", a.dev_name)),
                "MasterLabel" => s(a.name.clone()),
                "PermittedUsersPolicyType" => s(if a.admin_approved_only {
                    "AdminApprovedPreAuthorized"
                } else {
                    "AllSelfAuthorized"
                }),
                "IpRelaxationPolicyType" => {
                    s(["Enforce", "BypassUsingSecondFactor", "Bypass"][a.ip_relax as usize % 3])
                }
                // [C] picklist values for the refresh policy.
                "RefreshTokenPolicyType" => {
                    s(match (a.refresh_validity_days, a.refresh_inactivity) {
                        (None, _) => "Infinite",
                        (Some(_), true) => "ExpireIfNotUsed",
                        (Some(_), false) => "SpecificLifetime",
                    })
                }
                "RefreshTokenValidityPeriod" => a
                    .refresh_validity_days
                    .map(|d| Value::Int(d as i64))
                    .unwrap_or(Value::Null),
                "RefreshTokenValidityUnit" => s("Days"),
                "IsRefreshTokenRotationEnabled" => Value::Bool(a.rotate_refresh),
                "CreatedDate" => Value::DateTime(a.created),
                _ => Value::Null,
            }
        }
        Obj::LoginHistory => {
            let l = &st.logins[i];
            let oauth = l.app != NONE;
            match field {
                "UserId" => uid(l.user),
                "LoginTime" => Value::DateTime(l.time),
                "LoginType" => s(if oauth {
                    "Remote Access 2.0"
                } else {
                    "Application"
                }),
                "LoginSubType" => {
                    if oauth {
                        s(LOGIN_SUBTYPES[l.subtype as usize])
                    } else {
                        Value::Null
                    }
                }
                "Application" => {
                    if oauth {
                        st.apps
                            .get(l.app as usize)
                            .map(|a| s(a.name.clone()))
                            .unwrap_or(Value::Null)
                    } else {
                        s("Browser")
                    }
                }
                "Status" => s(LOGIN_STATUSES[l.status as usize]),
                "SourceIp" => s(l.ip.to_string()),
                "Platform" => s(if oauth { "Unknown" } else { "Mac OSX" }),
                "Browser" => s(if oauth { "Unknown" } else { "Chrome 140" }),
                "ApiType" => {
                    if oauth {
                        s("N/A")
                    } else {
                        Value::Null
                    }
                }
                "ApiVersion" => {
                    if oauth {
                        s("N/A")
                    } else {
                        Value::Null
                    }
                }
                "ClientVersion" => s("N/A"),
                "LoginUrl" => s(env
                    .base_url
                    .trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .to_string()),
                "CountryIso" => s("US"),
                "CipherSuite" => s("ECDHE-RSA-AES256-GCM-SHA384"),
                "TlsProtocol" => s("TLS 1.3"),
                "OptionsIsGet" => Value::Bool(false),
                "OptionsIsPost" => Value::Bool(true),
                _ => Value::Null,
            }
        }
        Obj::SetupAuditTrail => {
            let a = &st.audits[i];
            let (action, section) = AUDIT_ACTIONS[a.action as usize];
            match field {
                "Action" => s(action),
                "Section" => s(section),
                "Display" => s(audit_display(st, a)),
                "CreatedDate" => Value::DateTime(a.time),
                "CreatedById" => uid(a.by),
                _ => Value::Null,
            }
        }
        Obj::EventLogFile => {
            let e = &st.event_logs[i];
            match field {
                "EventType" => s(e.event_type),
                "LogDate" => Value::DateTime(e.log_date),
                "CreatedDate" | "LastModifiedDate" | "SystemModstamp" => Value::DateTime(e.created),
                "Interval" => s("Daily"),
                "Sequence" => Value::Int(0),
                "LogFile" => s(format!(
                    "/services/data/v{}/sobjects/EventLogFile/{}/LogFile",
                    env.version,
                    obj.id_of(row)
                )),
                "LogFileLength" => Value::Double(e.csv.len() as f64),
                "LogFileContentType" => s("CSV"),
                "LogFileFieldNames" => s(crate::eventlog::columns(e.event_type).0.join(",")),
                "LogFileFieldTypes" => s(crate::eventlog::columns(e.event_type).1.join(",")),
                "ApiVersion" => Value::Double(64.0),
                "CreatedById" => uid(0),
                _ => Value::Null,
            }
        }
        Obj::UserPermissionAccess => {
            let p = st.users[i].perms();
            let b = |bit: u8| Value::Bool(p & bit != 0);
            match field {
                "LastCacheUpdate" => Value::Null,
                "PermissionsApiEnabled" => b(perm::API_ENABLED),
                "PermissionsCustomizeApplication" => b(perm::CUSTOMIZE_APP),
                "PermissionsViewAllData" => b(perm::VIEW_ALL_DATA),
                "PermissionsManageUsers" => b(perm::MANAGE_USERS),
                "PermissionsModifyAllData" => b(perm::MODIFY_ALL),
                "PermissionsViewSetup" => b(perm::VIEW_SETUP),
                "PermissionsViewEventLogFiles" => b(perm::VIEW_EVENT_LOGS),
                _ => Value::Null,
            }
        }
        Obj::Organization => match field {
            "Name" => s(st.org_name.clone()),
            "OrganizationType" => s("Enterprise Edition"),
            "IsSandbox" => Value::Bool(env.sandbox),
            "InstanceName" => s("SIM42"),
            "NamespacePrefix" | "TrialExpirationDate" => Value::Null,
            "Country" => s("US"),
            "LanguageLocaleKey" => s("en_US"),
            "DefaultLocaleSidKey" => s("en_US"),
            "TimeZoneSidKey" => s("America/Los_Angeles"),
            "CreatedDate" => Value::DateTime(st.created),
            _ => Value::Null,
        },
    }
}

pub fn audit_display(st: &OrgState, a: &Audit) -> String {
    let uname = |u: u32| {
        st.users
            .get(u as usize)
            .map(|u| u.username.as_str())
            .unwrap_or("")
    };
    let aname = |x: u32| {
        st.apps
            .get(x as usize)
            .map(|a| a.name.as_str())
            .unwrap_or("")
    };
    match a.action {
        AUDIT_DEACTIVATED => format!("Deactivated user {}", uname(a.target)),
        1 => format!("Activated user {}", uname(a.target)),
        AUDIT_CREATED => format!("Created new user {}", uname(a.target)),
        3 => format!(
            "Changed profile for user {} from Standard User to Sales User",
            uname(a.target)
        ),
        4 => format!(
            "Permission set Sales_Ops: assigned to user {}",
            uname(a.target)
        ),
        5 => format!("Froze user {}", uname(a.target)),
        AUDIT_BLOCKED => format!("Blocked connected app {}", aname(a.target)),
        AUDIT_UNBLOCKED => format!("Unblocked connected app {}", aname(a.target)),
        _ => String::new(),
    }
}
