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

/// Adds the bearer scheme every operation requires, and the refusals
/// every operation may answer: 401 without a valid token, 403 when the
/// token's role may not, 404 for an object in an org the token may not see
/// (as for one that does not exist), 413 for a body over the limit.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let refusal = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in doc.paths.paths.values_mut() {
            let post = item.post.is_some();
            for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                let mut add = |status: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| refusal(description).into());
                };
                add("401", "No valid API token");
                add("403", "The token's role may not do this");
                add(
                    "404",
                    "No such object, or one in an org the token may not see",
                );
                if post {
                    add("413", "The body is over the size limit");
                }
            }
        }
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

/// Checks an answer against what the OpenAPI document says the operation
/// answers with that status: the status is documented, and the body is
/// valid under its schema. Every API test's request goes through here, so
/// the document cannot drift from the code. (401 is the bearer scheme's,
/// documented once for every operation.)
#[cfg(any(test, feature = "testing"))]
pub fn conforms(method: &str, uri: &str, status: u16, body: &serde_json::Value) {
    use serde_json::{Value, json};
    let status = axum::http::StatusCode::from_u16(status).expect("a status");
    let doc: Value = serde_json::from_str(&DOCUMENT).unwrap();
    let path = uri.split('?').next().unwrap();
    if path == "/api/v1/openapi.json" {
        // The document itself, not an operation of it.
        return;
    }
    let paths = doc["paths"].as_object().unwrap();
    let same = |template: &str| {
        let (t, p): (Vec<&str>, Vec<&str>) =
            (template.split('/').collect(), path.split('/').collect());
        t.len() == p.len()
            && t.iter()
                .zip(&p)
                .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
    };
    // A literal path before a template (`/apps/where` before `/apps/{id}`).
    let Some(item) = paths
        .get(path)
        .or_else(|| paths.iter().find(|(t, _)| same(t)).map(|(_, i)| i))
    else {
        // Not an API route: the catch-all's 404.
        assert_eq!(
            status,
            axum::http::StatusCode::NOT_FOUND,
            "{method} {uri} is not documented"
        );
        return;
    };
    let Some(op) = item.get(method.to_lowercase()) else {
        return;
    };
    let response = &op["responses"][status.as_str()];
    assert!(
        !response.is_null(),
        "{method} {uri} answered {status}, which its OpenAPI operation does not list: {body}"
    );
    let schema = &response["content"]["application/json"]["schema"];
    let root = json!({ "components": doc["components"], "allOf": [schema] });
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(5)
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {uri} ({status}) does not match its OpenAPI schema: {errors:?}\n{body}"
    );
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
