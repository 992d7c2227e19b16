//! One page per file: template struct, handler, queries and tests together.

pub mod action_new;
pub mod action_show;
pub mod admin_accounts;
pub mod admin_tokens;
pub mod app_detail;
pub mod app_search;
pub mod apps;
pub mod assets;
pub mod audit;
pub mod health;
pub mod home;
pub mod hunts;
pub mod incidents;
pub mod inventory;
pub mod orgs;
pub mod report_new_apps;
pub mod report_offboarding;
pub mod report_selection;
pub mod report_stale;
pub mod reports;
pub mod reviews;
pub mod signin;
pub mod sso;
pub mod timeline;
pub mod user_detail;
pub mod users;
