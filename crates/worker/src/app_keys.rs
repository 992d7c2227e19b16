//! Consumer keys of connected apps, so the inventory can match apps by key
//! and not only by name (a lookalike that copies an approved app's name has
//! another key).
//!
//! The `ConnectedApplication` object the sync queries does not carry the
//! key; the Metadata API does (`ConnectedApp.oauthConfig.consumerKey`), for
//! the apps whose metadata the org can read (some managed apps cannot be
//! read; they keep matching by name). A sync spends at most a few calls on
//! it: one `listMetadata`, then `readMetadata` of up to 10 apps per call, for
//! apps whose key is not known yet, so every app gets its key within a few
//! syncs. It is best effort: a failure here is logged and never fails the
//! sync that ran it.
//!
//! The listing's `id` ties a metadata entry to its app, never its name (two
//! apps may share a label). Inferred: for a connected app, `listMetadata`'s
//! `FileProperties.id` is the `ConnectedApplication` id (`0H4…`); ids are
//! compared on their first 15 characters, which are the id itself.

use std::collections::HashMap;

use cockpit_salesforce::SalesforceClient;
use sqlx::PgPool;
use uuid::Uuid;

use crate::WorkerError;

/// Apps named in one `readMetadata` call.
const PER_READ: usize = 10;

/// A consumer key as Salesforce issues them: printable, short.
fn plausible_key(key: &str) -> bool {
    (8..=256).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// The case-sensitive 15-character form of a Salesforce id.
fn id15(id: &str) -> Option<&str> {
    id.get(..15)
}

/// Reads the keys of up to `(calls - 1) * 10` apps whose key is not known
/// and records them; how many were recorded.
pub async fn learn(
    pool: &PgPool,
    client: &SalesforceClient,
    org: Uuid,
    calls: u64,
) -> Result<u64, WorkerError> {
    if calls < 2 {
        return Ok(0);
    }
    let keyless = cockpit_db::app_keys::keyless(pool, org).await?;
    if !keyless.iter().any(|a| a.sf_app_id.is_some()) {
        return Ok(0);
    }
    let listed = client.list_metadata("ConnectedApp").await?;
    let full_names: HashMap<&str, &str> = listed
        .iter()
        .filter_map(|m| Some((id15(m.id.as_deref()?)?, m.full_name.as_str())))
        .collect();
    // Oldest apps first, as `keyless` lists them.
    let wanted: Vec<(&str, &str)> = keyless
        .iter()
        .filter_map(|a| {
            let full = full_names.get(id15(a.sf_app_id.as_deref()?)?)?;
            Some((*full, a.app_key.as_str()))
        })
        .take((calls as usize - 1) * PER_READ)
        .collect();
    if wanted.is_empty() {
        return Ok(0);
    }
    let names: Vec<&str> = wanted.iter().map(|(n, _)| *n).collect();
    let app_of: HashMap<&str, &str> = wanted.iter().copied().collect();
    let found: Vec<(String, String)> = client
        .read_connected_apps(&names)
        .await?
        .into_iter()
        .filter_map(|m| {
            let app = app_of.get(m.full_name.as_str())?;
            let key = m.consumer_key.filter(|k| plausible_key(k))?;
            Some(((*app).to_owned(), key))
        })
        .collect();
    Ok(cockpit_db::app_keys::record(pool, org, &found).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_keys_are_kept() {
        assert!(plausible_key(
            "3MVG9A2kN3Bn17hvlSRXnnVzjDNILmhSt.t6vg7IE8f2wMfPZCtLdlXlTuHZqa3D1.HNb0pN4v1yL4X8VR2ku"
        ));
        assert!(!plausible_key("short"));
        assert!(!plausible_key("<script>alert(1)</script>"));
        assert!(!plausible_key(&"k".repeat(300)));
    }

    #[test]
    fn ids_compare_on_their_15_character_form() {
        assert_eq!(id15("0H45g000000AbcdCAC"), Some("0H45g000000Abcd"));
        assert_eq!(id15("0H45g000000Abcd"), Some("0H45g000000Abcd"));
        assert_eq!(id15("0H4"), None);
    }
}
