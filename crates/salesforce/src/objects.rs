//! Typed queries for the objects the cockpit syncs (besides OauthToken, see `tokens`).

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;

use crate::client::SalesforceClient;
use crate::error::Result;
use crate::records::{
    AppMenuItem, ConnectedApplication, ExternalClientApplication, ExtlClntAppOauthPlcyCnfg,
    LoginHistory, SetupAuditTrail, User, soql_datetime,
};

impl SalesforceClient {
    /// Every user.
    pub fn users(&self) -> BoxStream<'static, Result<User>> {
        self.query(&format!("SELECT {} FROM User ORDER BY Id", User::FIELDS))
    }

    /// Installed connected apps.
    pub fn connected_applications(&self) -> BoxStream<'static, Result<ConnectedApplication>> {
        self.query(&format!(
            "SELECT {} FROM ConnectedApplication ORDER BY Name",
            ConnectedApplication::FIELDS
        ))
    }

    /// App menu items of connected apps and ECAs (the OauthToken → app link).
    pub fn app_menu_items(&self) -> BoxStream<'static, Result<AppMenuItem>> {
        self.query(&format!(
            "SELECT {} FROM AppMenuItem WHERE Type = 'ConnectedApplication'",
            AppMenuItem::FIELDS
        ))
    }

    /// External Client Apps.
    pub fn external_client_applications(
        &self,
    ) -> BoxStream<'static, Result<ExternalClientApplication>> {
        self.query(&format!(
            "SELECT {} FROM ExternalClientApplication",
            ExternalClientApplication::FIELDS
        ))
    }

    /// OAuth policies of External Client Apps.
    pub fn eca_oauth_policies(&self) -> BoxStream<'static, Result<ExtlClntAppOauthPlcyCnfg>> {
        self.query(&format!(
            "SELECT {} FROM ExtlClntAppOauthPlcyCnfg",
            ExtlClntAppOauthPlcyCnfg::FIELDS
        ))
    }

    /// OAuth logins (`LoginType = 'Remote Access 2.0'`) since `since`, oldest first.
    pub fn oauth_login_history(
        &self,
        since: DateTime<Utc>,
    ) -> BoxStream<'static, Result<LoginHistory>> {
        self.query(&format!(
            "SELECT {} FROM LoginHistory WHERE LoginType = 'Remote Access 2.0' AND LoginTime >= {} ORDER BY LoginTime",
            LoginHistory::FIELDS,
            soql_datetime(since)
        ))
    }

    /// Setup audit trail since `since`, oldest first.
    pub fn setup_audit_trail(
        &self,
        since: DateTime<Utc>,
    ) -> BoxStream<'static, Result<SetupAuditTrail>> {
        self.query(&format!(
            "SELECT {} FROM SetupAuditTrail WHERE CreatedDate >= {} ORDER BY CreatedDate",
            SetupAuditTrail::FIELDS,
            soql_datetime(since)
        ))
    }
}
