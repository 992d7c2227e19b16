//! The API's OpenAPI 3.1 document, generated from the handlers'
//! `#[utoipa::path]` attributes and the types they return, served at
//! `GET /api/v1/openapi.json` to anyone (it describes the code, which is
//! public; it holds nothing of an installation).
//!
//! A test walks the router's table: every `/api/v1` route is in the
//! document with its method, and nothing else is.

use std::sync::LazyLock;

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{actions, channels, hunts, incidents, read};

/// Every refusal's JSON body.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A short title ("Not found").
    pub error: String,
    /// What was wrong, for a person to read.
    pub message: String,
    /// The HTTP status, repeated.
    pub status: u16,
}

/// Adds the bearer scheme every operation requires.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token made on /admin/tokens (`ock_…`), for every org or one.",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "OAuth Cockpit API",
        description = "JSON for automation: the inventory of OAuth apps and authorizations across Salesforce orgs, reports, audit, incidents, hunts, actions and notification channels. Lists are keyset-paged: pass a page's `next` as the following request's `after`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        read::apps,
        read::apps_where,
        read::app,
        read::tokens,
        read::users,
        read::user,
        read::stale,
        read::offboarding,
        read::new_apps,
        read::unknown_apps,
        read::audit,
        incidents::create,
        incidents::show,
        incidents::contain,
        hunts::import_indicators,
        hunts::create,
        hunts::show,
        actions::create,
        actions::show,
        channels::list,
        channels::create,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Bearer),
    security(("token" = [])),
    tags(
        (name = "apps", description = "Connected apps and external client apps, per org"),
        (name = "authorizations", description = "OAuth authorizations (refresh tokens)"),
        (name = "people", description = "Salesforce users and what they authorized"),
        (name = "reports", description = "Idle authorizations, leavers, new and unknown apps"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "incidents", description = "Declare, contain and follow an incident"),
        (name = "hunting", description = "Indicators of compromise and hunts over the archive"),
        (name = "actions", description = "Revokes and blocks, queued and verified"),
        (name = "channels", description = "Where notifications go"),
    ),
)]
pub struct ApiDoc;

/// The document as JSON, built once.
pub static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.to_pretty_json()
        .expect("the OpenAPI document is plain data and serializes")
});

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{Group, table};

    fn doc() -> serde_json::Value {
        serde_json::from_str(&DOCUMENT).expect("JSON")
    }

    #[test]
    fn every_api_route_is_documented_and_nothing_else() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        let mut routed = Vec::new();
        let mut ids = std::collections::BTreeSet::new();
        for r in table()
            .into_iter()
            .filter(|r| r.group == Group::Api && r.method != "*")
        {
            let op = paths
                .get(r.path)
                .and_then(|p| p.get(r.method.to_lowercase()))
                .unwrap_or_else(|| {
                    panic!("{} {} is not in the OpenAPI document", r.method, r.path)
                });
            assert!(
                op["responses"].as_object().is_some_and(|m| !m.is_empty()),
                "{} {} has no responses",
                r.method,
                r.path
            );
            let id = op["operationId"].as_str().expect("an operation id");
            assert!(ids.insert(id.to_owned()), "operation id {id} is used twice");
            routed.push((r.method.to_lowercase(), r.path.to_owned()));
        }
        for (path, item) in paths {
            for method in item.as_object().expect("path item").keys() {
                assert!(
                    routed.contains(&(method.clone(), path.clone())),
                    "{method} {path} is documented but not routed"
                );
            }
        }
    }

    #[test]
    fn every_operation_needs_the_bearer_token_and_every_reference_resolves() {
        let doc = doc();
        assert_eq!(doc["security"], serde_json::json!([{ "token": [] }]));
        assert_eq!(
            doc["components"]["securitySchemes"]["token"]["scheme"],
            "bearer"
        );
        let text = DOCUMENT.as_str();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for r in text.split("\"#/components/schemas/").skip(1) {
            let name = &r[..r.find('"').expect("closing quote")];
            assert!(
                schemas.contains_key(name),
                "{name} is referenced but not defined"
            );
        }
    }
}
