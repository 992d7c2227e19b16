//! SOAP endpoints: partner `login`/`logout` (`/services/Soap/u/{v}`, used by jsforce's
//! `conn.login`) and the Metadata API (`/services/Soap/m/{v}`): `listMetadata`,
//! `readMetadata`, `describeMetadata`, `createMetadata`, `updateMetadata`,
//! `upsertMetadata`, `deleteMetadata`, `deploy` and `checkDeployStatus`, with
//! the same effects as the REST deploy path (`metadata.rs`). Any other path
//! under `/services/Soap/` answers a SOAP fault, as SOAP clients expect.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use quick_xml::Reader;
use quick_xml::events::Event;

use crate::metadata::connected_app_full_name;
use crate::model::*;
use crate::oauth::esc;
use crate::{Sim, base_url, ids};

pub fn routes() -> Router<Sim> {
    Router::new()
        .route("/services/Soap/u/{v}", post(partner))
        .route("/services/Soap/u/{v}/{org}", post(partner))
        .route("/services/Soap/m/{v}", post(metadata))
        .route("/services/Soap/m/{v}/{org}", post(metadata))
        // Clients that build the URL by joining add a trailing slash; the
        // endpoint is the same.
        .route("/services/Soap/u/{v}/", post(partner))
        .route("/services/Soap/u/{v}/{org}/", post(partner))
        .route("/services/Soap/m/{v}/", post(metadata))
        .route("/services/Soap/m/{v}/{org}/", post(metadata))
        .route("/services/Soap/{*rest}", any(no_service))
}

/// An unknown SOAP endpoint. [C] Salesforce's exact wording is not
/// documented; the shape (a SOAP fault, not JSON) is what clients parse.
async fn no_service(uri: axum::http::Uri) -> Response {
    fault(
        "UNKNOWN_EXCEPTION",
        &format!("No service available for {}", uri.path()),
        PARTNER_NS,
    )
}

/// Text content of every element with the given local name (namespace prefixes ignored).
pub fn texts(xml: &str, local: &str) -> Vec<String> {
    let mut r = Reader::from_str(xml);
    r.config_mut().trim_text(true);
    let mut out = Vec::new();
    let mut depth_in: Option<usize> = None;
    let mut depth = 0usize;
    let mut cur = String::new();
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) => {
                depth += 1;
                if depth_in.is_none() && e.local_name().as_ref() == local.as_bytes() {
                    depth_in = Some(depth);
                    cur.clear();
                }
            }
            Ok(Event::Empty(e))
                if depth_in.is_none() && e.local_name().as_ref() == local.as_bytes() =>
            {
                out.push(String::new());
            }
            Ok(Event::Text(t)) if depth_in.is_some() => {
                cur.push_str(&t.unescape().map(|c| c.into_owned()).unwrap_or_default());
            }
            Ok(Event::CData(t)) if depth_in.is_some() => {
                cur.push_str(&String::from_utf8_lossy(&t));
            }
            Ok(Event::End(_)) => {
                if depth_in == Some(depth) {
                    out.push(std::mem::take(&mut cur));
                    depth_in = None;
                }
                depth = depth.saturating_sub(1);
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

fn has_element(xml: &str, local: &str) -> bool {
    let mut r = Reader::from_str(xml);
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e))
                if e.local_name().as_ref() == local.as_bytes() =>
            {
                return true;
            }
            Ok(Event::Eof) | Err(_) => return false,
            _ => {}
        }
    }
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "text/xml;charset=UTF-8")],
        body,
    )
        .into_response()
}

fn envelope(ns: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns=\"{ns}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )
}

fn fault(code: &str, msg: &str, ns: &str) -> Response {
    let body = format!(
        "<soapenv:Fault><faultcode xmlns:sf=\"urn:fault.partner.soap.sforce.com\">sf:{code}</faultcode><faultstring>{code}: {}</faultstring><detail><sf:{code}Fault xmlns:sf=\"urn:fault.partner.soap.sforce.com\"><sf:exceptionCode>{code}</sf:exceptionCode><sf:exceptionMessage>{}</sf:exceptionMessage></sf:{code}Fault></detail></soapenv:Fault>",
        esc(msg),
        esc(msg)
    );
    xml(StatusCode::INTERNAL_SERVER_ERROR, envelope(ns, &body))
}

const PARTNER_NS: &str = "urn:partner.soap.sforce.com";
const MD_NS: &str = "http://soap.sforce.com/2006/04/metadata";

async fn partner(
    State(sim): State<Sim>,
    headers: HeaderMap,
    axum::extract::Path(params): axum::extract::Path<Vec<(String, String)>>,
    body: String,
) -> Response {
    let version = params
        .iter()
        .find(|(k, _)| k == "v")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "64.0".into());
    let base = base_url(&headers);
    if has_element(&body, "logout") {
        let sid = texts(&body, "sessionId")
            .into_iter()
            .next()
            .unwrap_or_default();
        sim.write().sessions.remove(&sid);
        return xml(StatusCode::OK, envelope(PARTNER_NS, "<logoutResponse/>"));
    }
    if !has_element(&body, "login") {
        return fault(
            "UNKNOWN_EXCEPTION",
            "The simulator supports only login and logout on the partner SOAP API",
            PARTNER_NS,
        );
    }
    let username = texts(&body, "username")
        .into_iter()
        .next()
        .unwrap_or_default();
    let password = texts(&body, "password")
        .into_iter()
        .next()
        .unwrap_or_default();
    let now = sim.now_ms();
    let mut st = sim.write();
    let user = st.user_by_username(&username);
    let ok =
        user.filter(|&u| st.users[u as usize].active && sim.inner.secrets.password(u) == password);
    let Some(user) = ok else {
        if let Some(u) = user {
            let ip: u32 = rand::Rng::random(&mut st.rng);
            st.logins.push(Login {
                user: u,
                time: now,
                app: NONE,
                subtype: 0,
                status: 1,
                ip: std::net::Ipv4Addr::from(ip).into(),
            });
        }
        return fault(
            "INVALID_LOGIN",
            "Invalid username, password, security token; or user locked out.",
            PARTNER_NS,
        );
    };
    let org15 = sim.org15().to_string();
    let sid = st.new_session(
        &org15,
        Session {
            user,
            app: NONE,
            token: NONE,
            issued: now,
            scope: "full".into(),
        },
    );
    let ip: u32 = rand::Rng::random(&mut st.rng);
    st.logins.push(Login {
        user,
        time: now,
        app: NONE,
        subtype: 0,
        status: 0,
        ip: std::net::Ipv4Addr::from(ip).into(),
    });
    let u = &st.users[user as usize];
    let org = &sim.inner.org_id;
    let uid = ids::make_id(ids::USER, user as u64);
    let body = format!(
        "<loginResponse><result><metadataServerUrl>{base}/services/Soap/m/{version}/{org15}</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>{sandbox}</sandbox><serverUrl>{base}/services/Soap/u/{version}/{org15}</serverUrl><sessionId>{sid}</sessionId><userId>{uid}</userId><userInfo><accessibilityMode>false</accessibilityMode><currencySymbol>$</currencySymbol><orgAttachmentFileSizeLimit>5242880</orgAttachmentFileSizeLimit><orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode><orgDisallowHtmlAttachments>false</orgDisallowHtmlAttachments><orgHasPersonAccounts>false</orgHasPersonAccounts><organizationId>{org}</organizationId><organizationMultiCurrency>false</organizationMultiCurrency><organizationName>{orgname}</organizationName><profileId>{profile}</profileId><roleId xsi:nil=\"true\"/><sessionSecondsValid>7200</sessionSecondsValid><userDefaultCurrencyIsoCode xsi:nil=\"true\"/><userEmail>{email}</userEmail><userFullName>{name}</userFullName><userId>{uid}</userId><userLanguage>en_US</userLanguage><userLocale>en_US</userLocale><userName>{email}</userName><userTimeZone>America/Los_Angeles</userTimeZone><userType>Standard</userType><userUiSkin>Theme3</userUiSkin></userInfo></result></loginResponse>",
        sandbox = sim.inner.config.sandbox,
        orgname = esc(&st.org_name),
        profile = ids::make_id(ids::PROFILE, u.profile as u64),
        email = esc(&u.username),
        name = esc(&u.name()),
    );
    xml(StatusCode::OK, envelope(PARTNER_NS, &body))
}

fn md_time(ms: Ts) -> String {
    let s = crate::query::sf_datetime(ms);
    format!("{}Z", &s[..23])
}

async fn metadata(State(sim): State<Sim>, body: String) -> Response {
    let sid = texts(&body, "sessionId")
        .into_iter()
        .next()
        .unwrap_or_default();
    let Some(session) = sim.read().sessions.get(&sid).cloned() else {
        return fault(
            "INVALID_SESSION_ID",
            "Invalid Session ID found in SessionHeader: Illegal Session",
            MD_NS,
        );
    };
    if sim.charge_api().is_err() {
        return fault(
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
            MD_NS,
        );
    }
    let st = sim.read();
    if st.users[session.user as usize].perms() & perm::CUSTOMIZE_APP == 0 {
        return fault(
            "INSUFFICIENT_ACCESS",
            "insufficient access rights on cross-reference id",
            MD_NS,
        );
    }
    let admin = ids::make_id(ids::USER, 0);
    let admin_name = esc(&st.users[0].name());
    if has_element(&body, "listMetadata") {
        let mut out = String::from("<listMetadataResponse>");
        for ty in texts(&body, "type") {
            match ty.as_str() {
                "ConnectedApp" => {
                    for (i, a) in st
                        .apps
                        .iter()
                        .enumerate()
                        .filter(|(_, a)| a.kind == AppKind::Connected)
                    {
                        let full = connected_app_full_name(a);
                        out.push_str(&format!(
                            "<result><createdById>{admin}</createdById><createdByName>{admin_name}</createdByName><createdDate>{c}</createdDate><fileName>connectedApps/{f}.connectedApp</fileName><fullName>{f}</fullName><id>{id}</id><lastModifiedById>{admin}</lastModifiedById><lastModifiedByName>{admin_name}</lastModifiedByName><lastModifiedDate>{c}</lastModifiedDate>{ns}<manageableState>{ms}</manageableState><type>ConnectedApp</type></result>",
                            c = md_time(a.created),
                            f = esc(&full),
                            id = a.sobject_id(i as u32),
                            ns = a.managed_namespace.map(|n| format!("<namespacePrefix>{n}</namespacePrefix>")).unwrap_or_default(),
                            ms = if a.managed_namespace.is_some() { "installed" } else { "unmanaged" },
                        ));
                    }
                }
                "BlacklistedConsumer" => {
                    for (n, (full, _)) in st.blocked.iter().enumerate() {
                        out.push_str(&format!(
                            "<result><createdById>{admin}</createdById><createdByName>{admin_name}</createdByName><createdDate>{c}</createdDate><fileName>blacklistedConsumers/{f}.blacklistedConsumer</fileName><fullName>{f}</fullName><id>{id}</id><lastModifiedById>{admin}</lastModifiedById><lastModifiedByName>{admin_name}</lastModifiedByName><lastModifiedDate>{c}</lastModifiedDate><manageableState>unmanaged</manageableState><type>BlacklistedConsumer</type></result>",
                            c = md_time(st.created),
                            f = esc(full),
                            id = ids::make_id("0Hv", n as u64),
                        ));
                    }
                }
                _ => {}
            }
        }
        out.push_str("</listMetadataResponse>");
        return xml(StatusCode::OK, envelope(MD_NS, &out));
    }
    if has_element(&body, "readMetadata") {
        let ty = texts(&body, "type").into_iter().next().unwrap_or_default();
        let names = texts(&body, "fullNames");
        let mut out = String::from("<readMetadataResponse><result>");
        for name in names {
            match ty.as_str() {
                "ConnectedApp" => {
                    match st.apps.iter().find(|a| a.kind == AppKind::Connected && connected_app_full_name(a) == name) {
                        Some(a) => out.push_str(&connected_app_xml(a, &name)),
                        None => out.push_str("<records xsi:nil=\"true\"/>"),
                    }
                }
                "BlacklistedConsumer" => match st.blocked.get(&name) {
                    Some(b) => out.push_str(&format!(
                        "<records xsi:type=\"BlacklistedConsumer\"><fullName>{}</fullName><blockedByApiWhitelisting>false</blockedByApiWhitelisting><consumerKey>{}</consumerKey><consumerName>{}</consumerName><masterLabel>{}</masterLabel></records>",
                        esc(&name), esc(&b.consumer_key), esc(&b.consumer_name), esc(&b.master_label)
                    )),
                    None => out.push_str("<records xsi:nil=\"true\"/>"),
                },
                "ExtlClntAppConfigurablePolicies" => match st.apps.iter().find(|a| {
                    a.kind == AppKind::External && format!("{}_plcy", a.dev_name) == name
                }) {
                    Some(a) => out.push_str(&format!(
                        "<records xsi:type=\"ExtlClntAppConfigurablePolicies\"><fullName>{}</fullName><externalClientApplication>{}</externalClientApplication><isEnabled>{}</isEnabled><isOauthPluginEnabled>true</isOauthPluginEnabled><label>{}</label></records>",
                        esc(&name), esc(&a.dev_name), !a.disabled, esc(&a.name)
                    )),
                    None => out.push_str("<records xsi:nil=\"true\"/>"),
                },
                "ExtlClntAppOauthConfigurablePolicies" => match st.apps.iter().find(|a| {
                    a.kind == AppKind::External && format!("{}_oauthPlcy", a.dev_name) == name
                }) {
                    Some(a) => out.push_str(&eca_oauth_policies_xml(a, &name)),
                    None => out.push_str("<records xsi:nil=\"true\"/>"),
                },
                _ => out.push_str("<records xsi:nil=\"true\"/>"),
            }
        }
        out.push_str("</result></readMetadataResponse>");
        return xml(StatusCode::OK, envelope(MD_NS, &out));
    }
    drop(st);
    md_other(&sim, &body)
}

/// The Metadata API calls that are not reads.
fn md_other(sim: &Sim, body: &str) -> Response {
    let now = sim.now_ms();
    if has_element(body, "describeMetadata") {
        return xml(StatusCode::OK, envelope(MD_NS, &describe_metadata()));
    }
    for op in ["createMetadata", "updateMetadata", "upsertMetadata"] {
        if has_element(body, op) {
            let mut st = sim.write();
            let mut out = format!("<{op}Response>");
            for (ty, fields) in metadata_records(body) {
                out.push_str(&write_record(&mut st, op, &ty, &fields, now));
            }
            out.push_str(&format!("</{op}Response>"));
            return xml(StatusCode::OK, envelope(MD_NS, &out));
        }
    }
    if has_element(body, "deleteMetadata") {
        let ty = texts(body, "type").into_iter().next().unwrap_or_default();
        let mut st = sim.write();
        let mut out = String::from("<deleteMetadataResponse>");
        for name in texts(body, "fullNames") {
            let res = match ty.as_str() {
                "BlacklistedConsumer" if crate::metadata::unblock(&mut st, &name, now) => Ok(()),
                // [C] the wording of Salesforce's answer for a missing component.
                "BlacklistedConsumer" => Err((
                    "INVALID_CROSS_REFERENCE_KEY",
                    format!("In field: fullName - no BlacklistedConsumer named {name} found"),
                )),
                other => Err((
                    "INVALID_TYPE",
                    format!("The simulator cannot delete components of type {other}"),
                )),
            };
            out.push_str(&save_result(&name, res, None));
        }
        out.push_str("</deleteMetadataResponse>");
        return xml(StatusCode::OK, envelope(MD_NS, &out));
    }
    if has_element(body, "deploy") {
        let zip = texts(body, "ZipFile")
            .into_iter()
            .next()
            .unwrap_or_default();
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(zip.split_whitespace().collect::<String>())
            .ok();
        let Some(files) = bytes.as_deref().and_then(crate::metadata::unzip) else {
            return fault(
                "INVALID_ZIP",
                "The ZipFile is not a base64 zip archive",
                MD_NS,
            );
        };
        let mut st = sim.write();
        let planned = crate::metadata::plan(&st, &files);
        let id = crate::metadata::start(&mut st, planned, now);
        return xml(
            StatusCode::OK,
            envelope(
                MD_NS,
                &format!(
                    "<deployResponse><result><done>false</done><id>{id}</id><state>Queued</state></result></deployResponse>"
                ),
            ),
        );
    }
    if has_element(body, "checkDeployStatus") {
        let id = texts(body, "asyncProcessId")
            .into_iter()
            .next()
            .unwrap_or_default();
        let details = texts(body, "includeDetails")
            .iter()
            .any(|v| v.trim() == "true");
        let mut st = sim.write();
        let Some(d) = crate::metadata::poll(&mut st, &id, now) else {
            return fault(
                "INVALID_ID_FIELD",
                &format!("Invalid asyncProcessId: {id}"),
                MD_NS,
            );
        };
        let result = crate::metadata::deploy_result(&d, &serde_json::json!({}), details);
        return xml(
            StatusCode::OK,
            envelope(
                MD_NS,
                &format!(
                    "<checkDeployStatusResponse><result>{}</result></checkDeployStatusResponse>",
                    json_xml(&result)
                ),
            ),
        );
    }
    fault(
        "UNKNOWN_EXCEPTION",
        "The simulator does not support this Metadata API call",
        MD_NS,
    )
}

/// A JSON object as SOAP elements: a list repeats its element, null is
/// left out.
fn json_xml(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    let mut out = String::new();
    if let J::Object(map) = v {
        for (k, v) in map {
            let items: Vec<&J> = match v {
                J::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for item in items {
                match item {
                    J::Null => {}
                    J::Object(_) => out.push_str(&format!("<{k}>{}</{k}>", json_xml(item))),
                    J::String(s) => out.push_str(&format!("<{k}>{}</{k}>", esc(s))),
                    other => out.push_str(&format!("<{k}>{other}</{k}>")),
                }
            }
        }
    }
    out
}

/// One `SaveResult` (or `UpsertResult`, with `created`).
fn save_result(name: &str, res: Result<(), (&str, String)>, created: Option<bool>) -> String {
    let created = created
        .map(|c| format!("<created>{c}</created>"))
        .unwrap_or_default();
    match res {
        Ok(()) => format!(
            "<result>{created}<fullName>{}</fullName><success>true</success></result>",
            esc(name)
        ),
        Err((code, msg)) => format!(
            "<result>{created}<errors><message>{}</message><statusCode>{code}</statusCode></errors><fullName>{}</fullName><success>false</success></result>",
            esc(&msg),
            esc(name)
        ),
    }
}

/// Creates, updates or upserts one component; the `<result>` element.
fn write_record(
    st: &mut OrgState,
    op: &str,
    ty: &str,
    f: &std::collections::HashMap<String, String>,
    now: Ts,
) -> String {
    let name = f.get("fullName").cloned().unwrap_or_default();
    let upsert = op == "upsertMetadata";
    match ty {
        "BlacklistedConsumer" => {
            let exists = st.blocked.contains_key(&name);
            let b = Blocked {
                consumer_key: f.get("consumerKey").cloned().unwrap_or_default(),
                consumer_name: f.get("consumerName").cloned().unwrap_or_default(),
                master_label: f.get("masterLabel").cloned().unwrap_or_default(),
            };
            let res = if name.is_empty()
                || b.consumer_key.is_empty()
                || b.consumer_name.is_empty()
                || b.master_label.is_empty()
            {
                Err((
                    "REQUIRED_FIELD_MISSING",
                    "Required fields are missing: fullName, consumerKey, consumerName and masterLabel are required".to_owned(),
                ))
            } else if op == "createMetadata" && exists {
                // [C] the code Salesforce gives a second component of a name.
                Err((
                    "DUPLICATE_DEVELOPER_NAME",
                    format!("A BlacklistedConsumer named {name} already exists"),
                ))
            } else if op == "updateMetadata" && !exists {
                Err((
                    "INVALID_CROSS_REFERENCE_KEY",
                    format!("In field: fullName - no BlacklistedConsumer named {name} found"),
                ))
            } else if st.app_by_key(&b.consumer_key).is_none() {
                // [C] wording, as on the REST deploy path.
                Err((
                    "FIELD_INTEGRITY_EXCEPTION",
                    format!("Invalid consumer key: {}", b.consumer_key),
                ))
            } else {
                crate::metadata::block(st, &name, &b, now);
                Ok(())
            };
            save_result(&name, res, upsert.then_some(!exists))
        }
        "ExtlClntAppConfigurablePolicies" => {
            // The policies exist with their app: every write sets them
            // (reference §5.3). [C] a create of existing policies is taken
            // as an update rather than refused.
            let eca = f
                .get("externalClientApplication")
                .cloned()
                .unwrap_or_else(|| name.trim_end_matches("_plcy").to_owned());
            let flag = |k: &str| f.get(k).map(|v| v.trim() == "true");
            let app = st
                .apps
                .iter()
                .position(|a| a.kind == AppKind::External && a.dev_name == eca);
            let res = match (app, flag("isEnabled")) {
                (Some(app), Some(enabled)) => {
                    let oauth = flag("isOauthPluginEnabled").unwrap_or(true);
                    crate::metadata::set_policy(st, app as u32, enabled && oauth);
                    Ok(())
                }
                (None, _) => Err((
                    "INVALID_CROSS_REFERENCE_KEY",
                    format!("no ExternalClientApplication named {eca} found"),
                )),
                (_, None) => Err((
                    "REQUIRED_FIELD_MISSING",
                    "Required field is missing: isEnabled".to_owned(),
                )),
            };
            save_result(&name, res, upsert.then_some(false))
        }
        // Since Spring '26 customers can no longer create connected apps,
        // only install them (reference §0.3); an admin edits the policies of
        // the ones the org has. [C] the code of the refusal.
        "ConnectedApp" if op == "createMetadata" => save_result(
            &name,
            Err((
                "CANNOT_CREATE_CONNECTED_APP",
                "Connected apps can no longer be created; create an External Client App".to_owned(),
            )),
            None,
        ),
        "ConnectedApp" | "ExtlClntAppOauthConfigurablePolicies" => {
            // [C] as for the ECA's other policies, a create of the policies
            // an app already has is taken as an update.
            let get = |k: &str| f.get(k).cloned();
            let res = crate::metadata::oauth_target(st, ty, &name, &get).and_then(|app| {
                let days = st.apps[app as usize].refresh_validity_days;
                let p = crate::metadata::oauth_policy(&get, days)?;
                crate::metadata::set_oauth_policy(st, app, &p);
                Ok(())
            });
            save_result(&name, res, upsert.then_some(false))
        }
        other => save_result(
            &name,
            Err((
                "INVALID_TYPE",
                format!("The simulator cannot write components of type {other}"),
            )),
            upsert.then_some(false),
        ),
    }
}

/// Every `<metadata xsi:type="T">` element of a call: its type and the text
/// of its leaf elements by local name, at any depth (a `ConnectedApp` nests
/// its policies in `oauthConfig` and `oauthPolicy`); a repeated element's
/// texts are joined.
fn metadata_records(xml: &str) -> Vec<(String, std::collections::HashMap<String, String>)> {
    let mut r = Reader::from_str(xml);
    r.config_mut().trim_text(true);
    let mut out = Vec::new();
    let mut current: Option<(String, std::collections::HashMap<String, String>)> = None;
    // The open elements inside the record, innermost last.
    let mut open: Vec<String> = Vec::new();
    let mut depth = 0usize;
    let mut record_depth = 0usize;
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) => {
                depth += 1;
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if current.is_none() && local == "metadata" {
                    let ty = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == b"type")
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                        .unwrap_or_default();
                    let ty = ty.rsplit(':').next().unwrap_or_default().to_owned();
                    current = Some((ty, Default::default()));
                    record_depth = depth;
                } else if current.is_some() {
                    open.push(local);
                }
            }
            Ok(Event::Text(t)) => {
                if let (Some((_, map)), Some(k)) = (current.as_mut(), open.last()) {
                    let text = t.unescape().map(|c| c.into_owned()).unwrap_or_default();
                    map.entry(k.clone()).or_default().push_str(&text);
                }
            }
            Ok(Event::End(_)) => {
                if current.is_some() && depth == record_depth {
                    out.extend(current.take());
                } else {
                    open.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

/// The metadata types the simulator knows, as `describeMetadata` lists them.
fn describe_metadata() -> String {
    let types = [
        ("ConnectedApp", "connectedApps", "connectedApp"),
        (
            "BlacklistedConsumer",
            "blacklistedConsumers",
            "blacklistedConsumer",
        ),
        ("ExternalClientApplication", "externalClientApps", "eca"),
        (
            "ExtlClntAppConfigurablePolicies",
            "extlClntAppPolicies",
            "ecaPlcy",
        ),
        (
            "ExtlClntAppOauthConfigurablePolicies",
            "extlClntAppOauthPolicies",
            "ecaOauthPlcy",
        ),
        (
            "ExtlClntAppOauthSettings",
            "extlClntAppOauthSettings",
            "ecaOauth",
        ),
    ];
    let mut out = String::from("<describeMetadataResponse><result>");
    for (name, dir, suffix) in types {
        out.push_str(&format!(
            "<metadataObjects><directoryName>{dir}</directoryName><inFolder>false</inFolder><metaFile>false</metaFile><suffix>{suffix}</suffix><xmlName>{name}</xmlName></metadataObjects>"
        ));
    }
    out.push_str("<organizationNamespace></organizationNamespace><partialSaveAllowed>true</partialSaveAllowed><testRequired>false</testRequired></result></describeMetadataResponse>");
    out
}

/// An External Client App's OAuth policies as `readMetadata` returns them;
/// the same values the `ExtlClntAppOauthPlcyCnfg` object shows.
fn eca_oauth_policies_xml(a: &App, full: &str) -> String {
    let (policy, period) = match (a.refresh_validity_days, a.refresh_inactivity) {
        (None, _) => ("Infinite", String::new()),
        (Some(d), inactivity) => (
            if inactivity {
                "ExpireIfNotUsed"
            } else {
                "SpecificLifetime"
            },
            format!(
                "<refreshTokenValidityPeriod>{d}</refreshTokenValidityPeriod><refreshTokenValidityUnit>Days</refreshTokenValidityUnit>"
            ),
        ),
    };
    format!(
        "<records xsi:type=\"ExtlClntAppOauthConfigurablePolicies\"><fullName>{}</fullName><externalClientApplication>{}</externalClientApplication><ipRelaxationPolicyType>{}</ipRelaxationPolicyType><isRefreshTokenRotationEnabled>{}</isRefreshTokenRotationEnabled><label>{}</label><permittedUsersPolicyType>{}</permittedUsersPolicyType><refreshTokenPolicyType>{policy}</refreshTokenPolicyType>{period}</records>",
        esc(full),
        esc(&a.dev_name),
        ["Enforce", "Bypass_2factor", "Bypass"][a.ip_relax as usize % 3],
        a.rotate_refresh,
        esc(&a.name),
        if a.admin_approved_only {
            "AdminApprovedPreAuthorized"
        } else {
            "AllSelfAuthorized"
        },
    )
}

fn connected_app_xml(a: &App, full: &str) -> String {
    let policy = match a.refresh_validity_days {
        None => "<refreshTokenPolicy>infinite</refreshTokenPolicy>".to_string(),
        Some(d) => format!(
            "<refreshTokenPolicy>{}</refreshTokenPolicy><refreshTokenValidityPeriod>{d}</refreshTokenValidityPeriod><refreshTokenValidityUnit>Days</refreshTokenValidityUnit>",
            if a.refresh_inactivity {
                "expire_if_not_used"
            } else {
                "specific_lifetime"
            }
        ),
    };
    let ip = ["ENFORCE", "BYPASS_2FA", "BYPASS"][a.ip_relax as usize % 3];
    format!(
        "<records xsi:type=\"ConnectedApp\"><fullName>{}</fullName><contactEmail>admin@example.com</contactEmail><label>{}</label><oauthConfig>{}<consumerKey>{}</consumerKey><isAdminApproved>{}</isAdminApproved><isSecretRequiredForRefreshToken>true</isSecretRequiredForRefreshToken><scopes>Api</scopes><scopes>RefreshToken</scopes></oauthConfig><oauthPolicy><ipRelaxation>{ip}</ipRelaxation>{policy}</oauthPolicy></records>",
        esc(full),
        esc(&a.name),
        a.callback_urls
            .iter()
            .map(|c| format!("<callbackUrl>{}</callbackUrl>", esc(c)))
            .collect::<String>(),
        esc(&a.consumer_key),
        a.admin_approved_only,
    )
}
