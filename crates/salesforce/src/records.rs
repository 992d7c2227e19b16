//! Typed Salesforce records. Field names stay as Salesforce spells them on the wire; unknown
//! fields are ignored, missing required fields are an error.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};

use serde::{Deserialize, Deserializer};

/// Parse a Salesforce datetime: `2026-04-06T16:00:00.000+0000`, also RFC 3339 (`…Z`, `+00:00`).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// Format a datetime as a SOQL literal (UTC, second precision).
pub fn soql_datetime(d: DateTime<Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Serde helpers for Salesforce datetimes.
pub mod sf_datetime {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        parse_datetime(&s).ok_or_else(|| serde::de::Error::custom("invalid Salesforce datetime"))
    }

    pub mod option {
        use super::*;

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            match Option::<String>::deserialize(d)? {
                None => Ok(None),
                Some(s) if s.is_empty() => Ok(None),
                Some(s) => parse_datetime(&s)
                    .map(Some)
                    .ok_or_else(|| serde::de::Error::custom("invalid Salesforce datetime")),
            }
        }
    }
}

fn int_from_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    // Salesforce sometimes sends integers as doubles (`2692.0`).
    Ok(Option::<f64>::deserialize(d)?.map(|f| f as i64))
}

secret_string!(
    /// A DeleteToken: the value sent to `/services/oauth2/revoke` to revoke one grant.
    #[derive(Deserialize)]
    #[serde(transparent)]
    DeleteToken
);

/// `User` as nested in an OauthToken row.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenUser {
    #[serde(rename = "Name")]
    pub name: Option<String>,
    #[serde(rename = "Username")]
    pub username: Option<String>,
    #[serde(rename = "Email")]
    pub email: Option<String>,
    #[serde(rename = "IsActive")]
    pub is_active: Option<bool>,
}

/// `AppMenuItem` as nested in an OauthToken row.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenAppMenuItem {
    #[serde(rename = "Id")]
    pub id: Option<String>,
    #[serde(rename = "ApplicationId")]
    pub application_id: Option<String>,
    #[serde(rename = "Label")]
    pub label: Option<String>,
    #[serde(rename = "Name")]
    pub name: Option<String>,
    #[serde(rename = "IsUsingAdminAuthorization")]
    pub is_using_admin_authorization: Option<bool>,
}

/// One OAuth grant (refresh token) of an app to a user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OauthToken {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "AppName")]
    pub app_name: Option<String>,
    #[serde(rename = "AppMenuItemId")]
    pub app_menu_item_id: Option<String>,
    #[serde(rename = "DeleteToken")]
    pub delete_token: Option<DeleteToken>,
    #[serde(rename = "UseCount", default, deserialize_with = "int_from_number")]
    pub use_count: Option<i64>,
    #[serde(
        rename = "LastUsedDate",
        default,
        deserialize_with = "sf_datetime::option::deserialize"
    )]
    pub last_used_date: Option<DateTime<Utc>>,
    #[serde(rename = "CreatedDate", deserialize_with = "sf_datetime::deserialize")]
    pub created_date: DateTime<Utc>,
    #[serde(rename = "UserId")]
    pub user_id: Option<String>,
    #[serde(rename = "User")]
    pub user: Option<TokenUser>,
    #[serde(rename = "AppMenuItem")]
    pub app_menu_item: Option<TokenAppMenuItem>,
}

impl OauthToken {
    /// The fields this type reads, for a SELECT clause.
    pub const FIELDS: &'static str = "Id, AppName, AppMenuItemId, DeleteToken, UseCount, LastUsedDate, \
        CreatedDate, UserId, User.Name, User.Username, User.Email, User.IsActive, \
        AppMenuItem.Id, AppMenuItem.ApplicationId, AppMenuItem.Label, AppMenuItem.Name";

    /// What a sync stores of a token: no DeleteToken (a secret the sync has no use for) and no
    /// user details (the users are read on their own).
    pub const SYNC_FIELDS: &'static str = "Id, AppName, UseCount, LastUsedDate, CreatedDate, UserId, \
        AppMenuItem.ApplicationId, AppMenuItem.Label";
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NamedRef {
    #[serde(rename = "Name")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Username")]
    pub username: String,
    #[serde(rename = "Name")]
    pub name: Option<String>,
    #[serde(rename = "Email")]
    pub email: Option<String>,
    #[serde(rename = "IsActive")]
    pub is_active: bool,
    #[serde(rename = "UserType")]
    pub user_type: Option<String>,
    #[serde(rename = "Profile")]
    pub profile: Option<NamedRef>,
    #[serde(rename = "Department")]
    pub department: Option<String>,
    #[serde(rename = "ManagerId")]
    pub manager_id: Option<String>,
    #[serde(rename = "Manager")]
    pub manager: Option<NamedRef>,
    #[serde(
        rename = "LastLoginDate",
        default,
        deserialize_with = "sf_datetime::option::deserialize"
    )]
    pub last_login_date: Option<DateTime<Utc>>,
    #[serde(
        rename = "CreatedDate",
        default,
        deserialize_with = "sf_datetime::option::deserialize"
    )]
    pub created_date: Option<DateTime<Utc>>,
}

impl User {
    pub const FIELDS: &'static str = "Id, Username, Name, Email, IsActive, UserType, Profile.Name, \
        Department, ManagerId, Manager.Name, LastLoginDate, CreatedDate";
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConnectedApplication {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(
        rename = "CreatedDate",
        default,
        deserialize_with = "sf_datetime::option::deserialize"
    )]
    pub created_date: Option<DateTime<Utc>>,
    #[serde(
        rename = "LastModifiedDate",
        default,
        deserialize_with = "sf_datetime::option::deserialize"
    )]
    pub last_modified_date: Option<DateTime<Utc>>,
    #[serde(rename = "OptionsAllowAdminApprovedUsersOnly")]
    pub options_allow_admin_approved_users_only: Option<bool>,
    #[serde(rename = "OptionsRefreshTokenValidityMetric")]
    pub options_refresh_token_validity_metric: Option<bool>,
    #[serde(rename = "OptionsHasSessionLevelPolicy")]
    pub options_has_session_level_policy: Option<bool>,
    #[serde(rename = "OptionsIsInternal")]
    pub options_is_internal: Option<bool>,
    #[serde(
        rename = "RefreshTokenValidityPeriod",
        default,
        deserialize_with = "int_from_number"
    )]
    pub refresh_token_validity_period: Option<i64>,
    #[serde(rename = "StartUrl")]
    pub start_url: Option<String>,
    #[serde(rename = "MobileStartUrl")]
    pub mobile_start_url: Option<String>,
}

impl ConnectedApplication {
    pub const FIELDS: &'static str = "Id, Name, CreatedDate, LastModifiedDate, \
        OptionsAllowAdminApprovedUsersOnly, OptionsRefreshTokenValidityMetric, \
        OptionsHasSessionLevelPolicy, OptionsIsInternal, RefreshTokenValidityPeriod, StartUrl, MobileStartUrl";
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AppMenuItem {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "ApplicationId")]
    pub application_id: Option<String>,
    #[serde(rename = "Name")]
    pub name: Option<String>,
    #[serde(rename = "Label")]
    pub label: Option<String>,
    #[serde(rename = "Type")]
    pub r#type: Option<String>,
    #[serde(rename = "IsUsingAdminAuthorization")]
    pub is_using_admin_authorization: Option<bool>,
    #[serde(rename = "NamespacePrefix")]
    pub namespace_prefix: Option<String>,
}

impl AppMenuItem {
    pub const FIELDS: &'static str =
        "Id, ApplicationId, Name, Label, Type, IsUsingAdminAuthorization, NamespacePrefix";
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExternalClientApplication {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "MasterLabel")]
    pub master_label: Option<String>,
    #[serde(rename = "DeveloperName")]
    pub developer_name: Option<String>,
    #[serde(rename = "DistributionState")]
    pub distribution_state: Option<String>,
}

impl ExternalClientApplication {
    pub const FIELDS: &'static str = "Id, MasterLabel, DeveloperName, DistributionState";
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExtlClntAppOauthPlcyCnfg {
    #[serde(rename = "Id")]
    pub id: Option<String>,
    #[serde(rename = "ExternalClientApplicationId")]
    pub external_client_application_id: String,
    #[serde(rename = "PermittedUsersPolicyType")]
    pub permitted_users_policy_type: Option<String>,
}

impl ExtlClntAppOauthPlcyCnfg {
    pub const FIELDS: &'static str = "Id, ExternalClientApplicationId, PermittedUsersPolicyType";
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LoginHistory {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "UserId")]
    pub user_id: Option<String>,
    #[serde(rename = "LoginTime", deserialize_with = "sf_datetime::deserialize")]
    pub login_time: DateTime<Utc>,
    #[serde(rename = "LoginType")]
    pub login_type: Option<String>,
    #[serde(rename = "LoginSubType")]
    pub login_sub_type: Option<String>,
    #[serde(rename = "Application")]
    pub application: Option<String>,
    #[serde(rename = "Status")]
    pub status: Option<String>,
    #[serde(rename = "SourceIp")]
    pub source_ip: Option<String>,
    #[serde(rename = "Platform")]
    pub platform: Option<String>,
    #[serde(rename = "Browser")]
    pub browser: Option<String>,
}

impl LoginHistory {
    pub const FIELDS: &'static str = "Id, UserId, LoginTime, LoginType, LoginSubType, Application, Status, SourceIp, Platform, Browser";
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SetupAuditTrail {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Action")]
    pub action: Option<String>,
    #[serde(rename = "Section")]
    pub section: Option<String>,
    #[serde(rename = "Display")]
    pub display: Option<String>,
    #[serde(rename = "CreatedDate", deserialize_with = "sf_datetime::deserialize")]
    pub created_date: DateTime<Utc>,
    #[serde(rename = "CreatedById")]
    pub created_by_id: Option<String>,
    #[serde(rename = "DelegateUser")]
    pub delegate_user: Option<String>,
}

impl SetupAuditTrail {
    pub const FIELDS: &'static str =
        "Id, Action, Section, Display, CreatedDate, CreatedById, DelegateUser";
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EventLogFile {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "EventType")]
    pub event_type: String,
    #[serde(rename = "LogDate", deserialize_with = "sf_datetime::deserialize")]
    pub log_date: DateTime<Utc>,
    #[serde(rename = "Interval")]
    pub interval: Option<String>,
    #[serde(rename = "LogFileLength")]
    pub log_file_length: Option<f64>,
    #[serde(rename = "LogFile")]
    pub log_file: String,
}

impl EventLogFile {
    pub const FIELDS: &'static str = "Id, EventType, LogDate, Interval, LogFileLength, LogFile";
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserPermissionAccess {
    #[serde(rename = "PermissionsCustomizeApplication", default)]
    pub permissions_customize_application: bool,
    #[serde(rename = "PermissionsViewAllData", default)]
    pub permissions_view_all_data: bool,
    #[serde(rename = "PermissionsManageUsers", default)]
    pub permissions_manage_users: bool,
    #[serde(rename = "PermissionsViewSetup", default)]
    pub permissions_view_setup: bool,
}

impl UserPermissionAccess {
    pub const FIELDS: &'static str = "PermissionsCustomizeApplication, PermissionsViewAllData, \
        PermissionsManageUsers, PermissionsViewSetup";

    /// Whether OauthToken queries return every user's tokens (not only the caller's).
    pub fn sees_all_tokens(&self) -> bool {
        self.permissions_customize_application || self.permissions_view_all_data
    }
}

/// A permission set assignment whose set grants an administrator's right
/// (Modify All Data, View All Data or Customize Application); a profile's
/// permissions are a set of its own, so profiles are among them. Read with
/// [`AdminGrant::SOQL`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AdminGrant {
    #[serde(rename = "AssigneeId")]
    pub assignee_id: String,
    #[serde(rename = "PermissionSetId")]
    pub permission_set_id: String,
    #[serde(rename = "PermissionSet")]
    pub permission_set: Option<GrantingSet>,
}

/// The set an [`AdminGrant`] names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GrantingSet {
    #[serde(rename = "Label")]
    pub label: Option<String>,
    #[serde(rename = "IsOwnedByProfile", default)]
    pub is_owned_by_profile: Option<bool>,
    #[serde(rename = "PermissionsModifyAllData", default)]
    pub modify_all_data: Option<bool>,
    #[serde(rename = "PermissionsViewAllData", default)]
    pub view_all_data: Option<bool>,
    #[serde(rename = "PermissionsCustomizeApplication", default)]
    pub customize_application: Option<bool>,
}

impl AdminGrant {
    pub const SOQL: &'static str = "SELECT AssigneeId, PermissionSetId, PermissionSet.Label, \
        PermissionSet.IsOwnedByProfile, PermissionSet.PermissionsModifyAllData, \
        PermissionSet.PermissionsViewAllData, PermissionSet.PermissionsCustomizeApplication \
        FROM PermissionSetAssignment WHERE PermissionSet.PermissionsModifyAllData = true \
        OR PermissionSet.PermissionsViewAllData = true \
        OR PermissionSet.PermissionsCustomizeApplication = true";
}

/// `GET /services/data/` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiVersion {
    pub label: String,
    pub url: String,
    pub version: String,
}

/// One entry of `/limits` (per-app sub-entries are kept in `apps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub max: i64,
    pub remaining: i64,
    pub apps: BTreeMap<String, Limit>,
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        let num = |k: &str| -> Result<i64, D::Error> {
            map.get(k)
                .and_then(|v| v.as_f64())
                .map(|f| f as i64)
                .ok_or_else(|| serde::de::Error::custom(format!("missing field `{k}`")))
        };
        let mut apps = BTreeMap::new();
        for (k, v) in &map {
            if k != "Max" && k != "Remaining" && v.is_object() {
                let l: Limit =
                    serde_json::from_value(v.clone()).map_err(serde::de::Error::custom)?;
                apps.insert(k.clone(), l);
            }
        }
        Ok(Limit {
            max: num("Max")?,
            remaining: num("Remaining")?,
            apps,
        })
    }
}

/// The `/limits` response.
pub type Limits = BTreeMap<String, Limit>;

/// The identity URL response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Identity {
    pub id: String,
    pub user_id: String,
    pub organization_id: String,
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub user_type: Option<String>,
    pub active: Option<bool>,
    #[serde(default)]
    pub urls: BTreeMap<String, String>,
}

/// Connect REST ECA usage: one app.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcaAppUsage {
    pub identifier: String,
    pub developer_name: Option<String>,
    pub label: Option<String>,
}

/// Connect REST ECA usage: one user of an app.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcaUserUsage {
    #[serde(alias = "userId", alias = "id")]
    pub user_identifier: String,
    pub username: Option<String>,
    #[serde(default, deserialize_with = "sf_datetime::option::deserialize")]
    pub initial_connection_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "sf_datetime::option::deserialize")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "int_from_number")]
    pub use_count: Option<i64>,
    #[serde(default, deserialize_with = "int_from_number")]
    pub token_count: Option<i64>,
}

/// Connect REST ECA usage: one token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcaTokenUsage {
    pub access_token_format: Option<String>,
    pub app_developer_name: Option<String>,
    pub app_identifier: Option<String>,
    #[serde(default, deserialize_with = "sf_datetime::option::deserialize")]
    pub initial_connection_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "sf_datetime::option::deserialize")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub revocation_url: Option<String>,
    #[serde(default, deserialize_with = "int_from_number")]
    pub use_count: Option<i64>,
    pub user_identifier: Option<String>,
    pub username: Option<String>,
}

impl EcaTokenUsage {
    /// The token id at the end of `revocationUrl`, for [`crate::SalesforceClient::eca_revoke_token`].
    pub fn token_id(&self) -> Option<&str> {
        self.revocation_url
            .as_deref()
            .map(|u| u.split('?').next().unwrap_or(u).trim_end_matches('/'))
            .and_then(|u| u.rsplit('/').next())
            .filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_salesforce_datetimes() {
        let d = parse_datetime("2026-04-06T16:00:00.000+0000").unwrap();
        assert_eq!(d.to_rfc3339(), "2026-04-06T16:00:00+00:00");
        assert_eq!(parse_datetime("2026-04-06T16:00:00Z"), Some(d));
        assert_eq!(parse_datetime("2026-04-06T18:00:00.000+0200"), Some(d));
        assert!(parse_datetime("yesterday").is_none());
        assert_eq!(soql_datetime(d), "2026-04-06T16:00:00Z");
    }

    #[test]
    fn oauth_token_row_parses_and_hides_delete_token() {
        let json = r#"{"attributes":{"type":"OauthToken","url":"/x"},"Id":"0CQ5g000000AbcdGAC",
            "AppName":"Acme Sync","AppMenuItemId":null,"DeleteToken":"DT-SECRET","UseCount":42.0,
            "LastUsedDate":"2026-09-01T12:34:56.000+0000","CreatedDate":"2026-01-01T00:00:00.000+0000",
            "UserId":"0055g00000AbCdEAAV","Unknown":1,
            "User":{"attributes":{"type":"User"},"Name":"Jane","Username":"jane@acme.com","Email":null,"IsActive":true},
            "AppMenuItem":null}"#;
        let t: OauthToken = serde_json::from_str(json).unwrap();
        assert_eq!(t.use_count, Some(42));
        assert_eq!(
            t.user.as_ref().unwrap().username.as_deref(),
            Some("jane@acme.com")
        );
        assert_eq!(t.delete_token.as_ref().unwrap().expose(), "DT-SECRET");
        assert!(!format!("{t:?}").contains("DT-SECRET"));
    }

    #[test]
    fn missing_required_field_is_an_error() {
        let err = serde_json::from_str::<OauthToken>(r#"{"Id":"0CQ"}"#).unwrap_err();
        assert!(err.to_string().contains("CreatedDate"), "{err}");
    }

    #[test]
    fn limits_keep_per_app_entries() {
        let json = r#"{"DailyApiRequests":{"Max":15000,"Remaining":14980,
            "Dataloader Bulk":{"Max":0,"Remaining":0}},"DataStorageMB":{"Max":5,"Remaining":5}}"#;
        let l: Limits = serde_json::from_str(json).unwrap();
        assert_eq!(l["DailyApiRequests"].max, 15000);
        assert_eq!(l["DailyApiRequests"].apps["Dataloader Bulk"].max, 0);
    }

    #[test]
    fn eca_token_id_from_revocation_url() {
        let t: EcaTokenUsage = serde_json::from_str(
            r#"{"revocationUrl":"/services/data/v66.0/apps/oauth/usage/tokens/0CQabc","useCount":3}"#,
        )
        .unwrap();
        assert_eq!(t.token_id(), Some("0CQabc"));
    }
}
