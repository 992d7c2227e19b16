//! Metadata API: block/unblock a connected app (BlacklistedConsumer deploys over REST) and the
//! few SOAP calls needed to list blocks and read consumer keys.

use std::io::{Cursor, Write};
use std::time::Instant;

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::client::{Call, CallBody, SalesforceClient};
use crate::error::{ComponentFailure, Error, Result, bounded};
use crate::http::{self, Body};

const MD_NS: &str = "http://soap.sforce.com/2006/04/metadata";

/// What is needed to block a connected app org-wide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTarget {
    /// API name of the BlacklistedConsumer component; see [`developer_name`].
    pub developer_name: String,
    /// The app's consumer key (client_id).
    pub consumer_key: String,
    /// Human label (the app name).
    pub label: String,
}

/// Status of a metadata deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployStatus {
    Pending,
    InProgress,
    Succeeded,
    SucceededPartial,
    Failed,
    Canceling,
    Canceled,
    Other(String),
}

impl DeployStatus {
    fn parse(s: &str) -> Self {
        match s {
            "Pending" => Self::Pending,
            "InProgress" => Self::InProgress,
            "Succeeded" => Self::Succeeded,
            "SucceededPartial" => Self::SucceededPartial,
            "Failed" => Self::Failed,
            "Canceling" => Self::Canceling,
            "Canceled" => Self::Canceled,
            other => Self::Other(bounded(other, 40)),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Succeeded => "Succeeded",
            Self::SucceededPartial => "SucceededPartial",
            Self::Failed => "Failed",
            Self::Canceling => "Canceling",
            Self::Canceled => "Canceled",
            Self::Other(s) => s,
        }
    }
}

/// A deploy as reported by `deployRequest/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployResult {
    pub id: String,
    pub status: DeployStatus,
    pub done: bool,
    pub failures: Vec<ComponentFailure>,
    pub error_message: Option<String>,
}

/// One `listMetadata` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataItem {
    pub full_name: String,
    pub metadata_type: String,
    pub id: Option<String>,
    pub file_name: Option<String>,
}

/// `readMetadata` of a ConnectedApp (the parts the cockpit uses).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectedAppMetadata {
    pub full_name: String,
    pub label: Option<String>,
    pub consumer_key: Option<String>,
    pub scopes: Vec<String>,
    pub is_admin_approved: Option<bool>,
}

/// An External Client App's configurable policies as read from the org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcaPolicies {
    pub full_name: String,
    pub external_client_application: Option<String>,
    pub is_enabled: Option<bool>,
    pub is_oauth_plugin_enabled: Option<bool>,
}

/// A valid metadata API name from a label: letters, digits and single underscores, starting
/// with a letter, at most 80 characters.
pub fn developer_name(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert_str(0, "App_");
    }
    out.truncate(80);
    while out.ends_with('_') {
        out.pop();
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn package_xml(members: &[(&str, &str)], version: &str) -> String {
    let mut types = String::new();
    for (ty, name) in members {
        types.push_str(&format!(
            "    <types>\n        <members>{}</members>\n        <name>{}</name>\n    </types>\n",
            xml_escape(name),
            xml_escape(ty)
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Package xmlns=\"{MD_NS}\">\n{types}    <version>{}</version>\n</Package>\n",
        xml_escape(version)
    )
}

fn zip_files(files: &[(String, String)]) -> Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in files {
        w.start_file(name.as_str(), opts)
            .map_err(|e| Error::Config(format!("cannot build deploy zip: {e}")))?;
        w.write_all(content.as_bytes())
            .map_err(|e| Error::Config(format!("cannot build deploy zip: {e}")))?;
    }
    let cursor = w
        .finish()
        .map_err(|e| Error::Config(format!("cannot build deploy zip: {e}")))?;
    Ok(cursor.into_inner())
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || developer_name(name) != name {
        return Err(Error::Config(format!(
            "{name:?} is not a valid metadata API name (try developer_name())"
        )));
    }
    Ok(())
}

/// Zip deploying a BlacklistedConsumer (blocks the app).
pub fn block_package(target: &BlockTarget, api_version: &str) -> Result<Vec<u8>> {
    check_name(&target.developer_name)?;
    if target.consumer_key.trim().is_empty() {
        return Err(Error::Config(
            "blocking needs the app's consumer key".into(),
        ));
    }
    let component = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BlacklistedConsumer xmlns=\"{MD_NS}\">\n    <blockedByApiWhitelisting>false</blockedByApiWhitelisting>\n    <consumerKey>{}</consumerKey>\n    <consumerName>{}</consumerName>\n    <masterLabel>{}</masterLabel>\n</BlacklistedConsumer>\n",
        xml_escape(&target.consumer_key),
        xml_escape(&target.developer_name),
        xml_escape(&target.label)
    );
    zip_files(&[
        (
            "package.xml".into(),
            package_xml(
                &[("BlacklistedConsumer", &target.developer_name)],
                api_version,
            ),
        ),
        (
            format!(
                "blacklistedConsumers/{}.blacklistedConsumer",
                target.developer_name
            ),
            component,
        ),
    ])
}

/// API name of an External Client App's configurable policies (the
/// `ExtlClntAppConfigurablePolicies` component Salesforce creates with it).
pub fn eca_policies_name(eca_developer_name: &str) -> String {
    format!("{eca_developer_name}_plcy")
}

/// Zip deploying an External Client App's configurable policies with
/// `isEnabled` set: `false` blocks the app org-wide (no new OAuth flows, its
/// sessions end), `true` lets it work again (reference §5.3).
pub fn eca_policies_package(
    eca_developer_name: &str,
    enabled: bool,
    api_version: &str,
) -> Result<Vec<u8>> {
    check_name(eca_developer_name)?;
    let full = eca_policies_name(eca_developer_name);
    let component = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ExtlClntAppConfigurablePolicies xmlns=\"{MD_NS}\">\n    <externalClientApplication>{eca}</externalClientApplication>\n    <isEnabled>{enabled}</isEnabled>\n    <label>{eca}</label>\n</ExtlClntAppConfigurablePolicies>\n",
        eca = xml_escape(eca_developer_name),
    );
    zip_files(&[
        (
            "package.xml".into(),
            package_xml(&[("ExtlClntAppConfigurablePolicies", &full)], api_version),
        ),
        (format!("extlClntAppPolicies/{full}.ecaPlcy"), component),
    ])
}

/// Zip deleting a BlacklistedConsumer (unblocks the app).
pub fn unblock_package(developer_name: &str, api_version: &str) -> Result<Vec<u8>> {
    check_name(developer_name)?;
    zip_files(&[
        ("package.xml".into(), package_xml(&[], api_version)),
        (
            "destructiveChanges.xml".into(),
            package_xml(&[("BlacklistedConsumer", developer_name)], api_version),
        ),
    ])
}

#[derive(Deserialize)]
struct DeployEnvelope {
    #[serde(default)]
    id: Option<String>,
    #[serde(rename = "deployResult")]
    deploy_result: Value,
}

fn str_field(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(|x| match x {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    })
}

fn parse_deploy(env: DeployEnvelope) -> Result<DeployResult> {
    let r = &env.deploy_result;
    let id = str_field(r, "id")
        .or(env.id)
        .ok_or_else(|| Error::Protocol("deploy result without id".into()))?;
    let status = str_field(r, "status")
        .map(|s| DeployStatus::parse(&s))
        .ok_or_else(|| Error::Protocol("deploy result without status".into()))?;
    let done = r.get("done").and_then(Value::as_bool).unwrap_or(false);
    let failures_v = r
        .get("details")
        .and_then(|d| d.get("componentFailures"))
        .cloned()
        .unwrap_or(Value::Null);
    let failure_list = match failures_v {
        Value::Array(a) => a,
        Value::Object(_) => vec![failures_v],
        _ => Vec::new(),
    };
    let failures = failure_list
        .iter()
        .map(|f| ComponentFailure {
            component_type: bounded(&str_field(f, "componentType").unwrap_or_default(), 80),
            full_name: bounded(&str_field(f, "fullName").unwrap_or_default(), 120),
            problem: bounded(&str_field(f, "problem").unwrap_or_default(), 300),
        })
        .collect();
    Ok(DeployResult {
        id,
        status,
        done,
        failures,
        error_message: str_field(r, "errorMessage").map(|m| bounded(&m, 300)),
    })
}

impl SalesforceClient {
    /// Start a deploy of `zip` (`singlePackage`, `rollbackOnError`); returns its id.
    pub async fn deploy_zip(&self, zip: Vec<u8>) -> Result<String> {
        let url = self.data_url("metadata/deployRequest")?;
        let mut call = Call::new(Method::POST, url);
        call.body = CallBody::Multipart {
            json: r#"{"deployOptions":{"singlePackage":true,"rollbackOnError":true}}"#.into(),
            zip,
        };
        let env: DeployEnvelope = self.execute_json(&call).await?;
        Ok(parse_deploy(env)?.id)
    }

    /// One look at a deploy.
    pub async fn deploy_status(&self, id: &str) -> Result<DeployResult> {
        let mut url = self.data_url(&format!("metadata/deployRequest/{id}"))?;
        url.query_pairs_mut().append_pair("includeDetails", "true");
        let env: DeployEnvelope = self.execute_json(&Call::get(url)).await?;
        parse_deploy(env)
    }

    /// Poll until the deploy is done. `Succeeded` is `Ok`; anything else is
    /// [`Error::DeployFailed`] with the component failures.
    pub async fn wait_for_deploy(&self, id: &str) -> Result<DeployResult> {
        let started = Instant::now();
        loop {
            let r = self.deploy_status(id).await?;
            if r.done {
                if r.status == DeployStatus::Succeeded {
                    return Ok(r);
                }
                let mut failures = r.failures;
                if failures.is_empty()
                    && let Some(m) = r.error_message
                {
                    failures.push(ComponentFailure {
                        component_type: String::new(),
                        full_name: String::new(),
                        problem: m,
                    });
                }
                return Err(Error::DeployFailed {
                    id: r.id,
                    status: r.status.as_str().to_owned(),
                    failures,
                });
            }
            if started.elapsed() >= self.config().deploy_timeout {
                return Err(Error::DeployTimeout { id: r.id });
            }
            tokio::time::sleep(self.config().deploy_poll_interval).await;
        }
    }

    /// Block a connected app org-wide (deploy a BlacklistedConsumer) and wait for the result.
    pub async fn block_connected_app(&self, target: &BlockTarget) -> Result<DeployResult> {
        let zip = block_package(target, self.api_version())?;
        let id = self.deploy_zip(zip).await?;
        self.wait_for_deploy(&id).await
    }

    /// Unblock (delete the BlacklistedConsumer) and wait for the result.
    pub async fn unblock_connected_app(&self, developer_name: &str) -> Result<DeployResult> {
        let zip = unblock_package(developer_name, self.api_version())?;
        let id = self.deploy_zip(zip).await?;
        self.wait_for_deploy(&id).await
    }

    /// SOAP `readMetadata` of one type: the `records` found (unknown names
    /// come back nil and are left out).
    async fn read_metadata(
        &self,
        metadata_type: &str,
        full_names: &[&str],
    ) -> Result<Vec<XmlNode>> {
        let mut out = Vec::new();
        // readMetadata takes at most 10 names per call.
        for chunk in full_names.chunks(10) {
            let names: String = chunk
                .iter()
                .map(|n| format!("<met:fullNames>{}</met:fullNames>", xml_escape(n)))
                .collect();
            let inner = format!(
                "<met:readMetadata><met:type>{}</met:type>{names}</met:readMetadata>",
                xml_escape(metadata_type)
            );
            let body = self.soap(inner).await?;
            out.extend(body.find_all("records").into_iter().cloned());
        }
        Ok(out)
    }

    /// Enable or disable (block) an External Client App org-wide through its
    /// configurable policies, and wait for the deploy.
    pub async fn set_eca_enabled(
        &self,
        eca_developer_name: &str,
        enabled: bool,
    ) -> Result<DeployResult> {
        let zip = eca_policies_package(eca_developer_name, enabled, self.api_version())?;
        let id = self.deploy_zip(zip).await?;
        self.wait_for_deploy(&id).await
    }

    /// SOAP `readMetadata` of External Client Apps' configurable policies
    /// (by the ECAs' developer names). Unknown names are skipped.
    pub async fn read_eca_policies(
        &self,
        eca_developer_names: &[&str],
    ) -> Result<Vec<EcaPolicies>> {
        let names: Vec<String> = eca_developer_names
            .iter()
            .map(|n| eca_policies_name(n))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut out = Vec::new();
        for r in self
            .read_metadata("ExtlClntAppConfigurablePolicies", &names)
            .await?
        {
            let Some(full_name) = r.child_text("fullName") else {
                continue;
            };
            let flag = |name: &str| r.child_text(name).map(|v| v.trim() == "true");
            out.push(EcaPolicies {
                full_name: bounded(&full_name, 120),
                external_client_application: r
                    .child_text("externalClientApplication")
                    .map(|e| bounded(&e, 120)),
                is_enabled: flag("isEnabled"),
                is_oauth_plugin_enabled: flag("isOauthPluginEnabled"),
            });
        }
        Ok(out)
    }

    async fn soap(&self, inner: String) -> Result<XmlNode> {
        let url = self.url(&format!("services/Soap/m/{}", self.api_version()))?;
        let mut call = Call::new(Method::POST, url);
        call.body = CallBody::Soap(std::sync::Arc::new(move |token| {
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:met=\"{MD_NS}\"><soapenv:Header><met:SessionHeader><met:sessionId>{}</met:sessionId></met:SessionHeader></soapenv:Header><soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>",
                xml_escape(token.expose())
            )
        }));
        let body = self.execute_body(&call).await?;
        let text = std::str::from_utf8(&body.bytes)
            .map_err(|_| Error::Protocol("SOAP answer is not UTF-8".into()))?;
        if !http::content_type(&body.headers).contains("xml") {
            return Err(http::not_json(&body));
        }
        let root = parse_xml(text).map_err(|_| Error::Truncated {
            host: body.host.clone(),
        })?;
        if let Some(fault) = root.find("Fault") {
            return Err(fault_error(fault));
        }
        root.find("Body")
            .cloned()
            .ok_or_else(|| Error::Protocol("SOAP answer without Body".into()))
    }

    /// SOAP `listMetadata` for one type (e.g. `BlacklistedConsumer`).
    pub async fn list_metadata(&self, metadata_type: &str) -> Result<Vec<MetadataItem>> {
        let inner = format!(
            "<met:listMetadata><met:queries><met:type>{}</met:type></met:queries><met:asOfVersion>{}</met:asOfVersion></met:listMetadata>",
            xml_escape(metadata_type),
            xml_escape(self.api_version())
        );
        let body = self.soap(inner).await?;
        Ok(body
            .find_all("result")
            .into_iter()
            .map(|r| MetadataItem {
                full_name: r.child_text("fullName").unwrap_or_default(),
                metadata_type: r.child_text("type").unwrap_or_default(),
                id: r.child_text("id"),
                file_name: r.child_text("fileName"),
            })
            .filter(|m| !m.full_name.is_empty())
            .collect())
    }

    /// SOAP `readMetadata` of ConnectedApps (consumer key, scopes). Unknown names are skipped.
    pub async fn read_connected_apps(
        &self,
        full_names: &[&str],
    ) -> Result<Vec<ConnectedAppMetadata>> {
        let mut out = Vec::new();
        for r in self.read_metadata("ConnectedApp", full_names).await? {
            let Some(full_name) = r.child_text("fullName") else {
                continue;
            };
            let oauth = r.children.iter().find(|c| c.name == "oauthConfig");
            out.push(ConnectedAppMetadata {
                full_name,
                label: r.child_text("label"),
                consumer_key: oauth.and_then(|o| o.child_text("consumerKey")),
                scopes: oauth
                    .map(|o| {
                        o.children
                            .iter()
                            .filter(|c| c.name == "scopes")
                            .map(|c| c.text.trim().to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
                is_admin_approved: oauth
                    .and_then(|o| o.child_text("isAdminApproved"))
                    .map(|s| s == "true"),
            });
        }
        Ok(out)
    }
}

/// A parsed SOAP fault (`faultcode` like `sf:INVALID_SESSION_ID`).
pub(crate) fn soap_fault(body: &Body) -> Error {
    let text = String::from_utf8_lossy(&body.bytes);
    match parse_xml(&text) {
        Ok(root) => match root.find("Fault") {
            Some(f) => fault_error(f),
            None => http::status_error(body),
        },
        Err(_) => http::status_error(body),
    }
}

fn fault_error(fault: &XmlNode) -> Error {
    let code = fault.child_text("faultcode").unwrap_or_default();
    let code = code.rsplit(':').next().unwrap_or_default().to_owned();
    let message = fault.child_text("faultstring").unwrap_or_default();
    if code == "INVALID_SESSION_ID" {
        return Error::InvalidSession;
    }
    Error::SoapFault {
        code: bounded(&code, 80),
        message: bounded(&message, 300),
    }
}

/// A minimal XML tree (local names only).
#[derive(Debug, Clone, Default)]
pub(crate) struct XmlNode {
    pub name: String,
    pub text: String,
    pub children: Vec<XmlNode>,
}

impl XmlNode {
    pub fn find(&self, name: &str) -> Option<&XmlNode> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }

    pub fn find_all(&self, name: &str) -> Vec<&XmlNode> {
        let mut out = Vec::new();
        self.collect(name, &mut out);
        out
    }

    fn collect<'a>(&'a self, name: &str, out: &mut Vec<&'a XmlNode>) {
        if self.name == name {
            out.push(self);
            return;
        }
        for c in &self.children {
            c.collect(name, out);
        }
    }

    pub fn child_text(&self, name: &str) -> Option<String> {
        self.children
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.text.trim().to_owned())
            .filter(|s| !s.is_empty())
    }
}

pub(crate) fn parse_xml(s: &str) -> std::result::Result<XmlNode, ()> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(s);
    let mut stack: Vec<XmlNode> = vec![XmlNode::default()];
    let local = |raw: &[u8]| String::from_utf8_lossy(raw).into_owned();
    loop {
        match reader.read_event().map_err(|_| ())? {
            Event::Start(e) => stack.push(XmlNode {
                name: local(e.local_name().as_ref()),
                ..XmlNode::default()
            }),
            Event::Empty(e) => {
                let node = XmlNode {
                    name: local(e.local_name().as_ref()),
                    ..XmlNode::default()
                };
                stack.last_mut().ok_or(())?.children.push(node);
            }
            Event::End(_) => {
                let node = stack.pop().ok_or(())?;
                stack.last_mut().ok_or(())?.children.push(node);
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(|_| ())?;
                stack.last_mut().ok_or(())?.text.push_str(&text);
            }
            Event::CData(c) => {
                stack
                    .last_mut()
                    .ok_or(())?
                    .text
                    .push_str(&String::from_utf8_lossy(&c));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err(());
    }
    stack.pop().ok_or(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn developer_names_are_valid() {
        assert_eq!(developer_name("Acme Sync"), "Acme_Sync");
        assert_eq!(developer_name("  Data--Loader (v2) "), "Data_Loader_v2");
        assert_eq!(developer_name("3rd party"), "App_3rd_party");
        assert_eq!(developer_name("é"), "App");
    }

    #[test]
    fn block_zip_holds_package_and_component() {
        let t = BlockTarget {
            developer_name: "Acme_Sync".into(),
            consumer_key: "3MVG9Key".into(),
            label: "Acme & Sync".into(),
        };
        let zip = block_package(&t, "66.0").unwrap();
        let mut a = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        let mut pkg = String::new();
        a.by_name("package.xml")
            .unwrap()
            .read_to_string(&mut pkg)
            .unwrap();
        assert!(pkg.contains("<members>Acme_Sync</members>"));
        assert!(pkg.contains("<name>BlacklistedConsumer</name>"));
        let mut comp = String::new();
        a.by_name("blacklistedConsumers/Acme_Sync.blacklistedConsumer")
            .unwrap()
            .read_to_string(&mut comp)
            .unwrap();
        assert!(comp.contains("<consumerKey>3MVG9Key</consumerKey>"));
        assert!(comp.contains("<masterLabel>Acme &amp; Sync</masterLabel>"));
        let bad = BlockTarget {
            developer_name: "Acme Sync".into(),
            ..t
        };
        assert!(matches!(block_package(&bad, "66.0"), Err(Error::Config(_))));
    }

    #[test]
    fn eca_policies_zip_sets_is_enabled() {
        for enabled in [false, true] {
            let zip = eca_policies_package("Acme_Eca", enabled, "66.0").unwrap();
            let mut a = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
            let mut pkg = String::new();
            a.by_name("package.xml")
                .unwrap()
                .read_to_string(&mut pkg)
                .unwrap();
            assert!(pkg.contains("<members>Acme_Eca_plcy</members>"), "{pkg}");
            assert!(pkg.contains("<name>ExtlClntAppConfigurablePolicies</name>"));
            let mut comp = String::new();
            a.by_name("extlClntAppPolicies/Acme_Eca_plcy.ecaPlcy")
                .unwrap()
                .read_to_string(&mut comp)
                .unwrap();
            assert!(
                comp.contains("<externalClientApplication>Acme_Eca</externalClientApplication>")
            );
            assert!(
                comp.contains(&format!("<isEnabled>{enabled}</isEnabled>")),
                "{comp}"
            );
        }
        assert!(matches!(
            eca_policies_package("Acme Eca<", false, "66.0"),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn unblock_zip_is_destructive() {
        let zip = unblock_package("Acme_Sync", "66.0").unwrap();
        let mut a = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        let mut d = String::new();
        a.by_name("destructiveChanges.xml")
            .unwrap()
            .read_to_string(&mut d)
            .unwrap();
        assert!(d.contains("<members>Acme_Sync</members>"));
        let mut p = String::new();
        a.by_name("package.xml")
            .unwrap()
            .read_to_string(&mut p)
            .unwrap();
        assert!(!p.contains("<types>"));
    }

    #[test]
    fn deploy_results_parse() {
        let env: DeployEnvelope = serde_json::from_str(
            r#"{"id":"0Af1","deployResult":{"id":"0Af1","status":"Failed","done":true,
            "details":{"componentFailures":{"componentType":"BlacklistedConsumer","fullName":"X","problem":"bad key"}}}}"#,
        )
        .unwrap();
        let r = parse_deploy(env).unwrap();
        assert_eq!(r.status, DeployStatus::Failed);
        assert_eq!(r.failures[0].problem, "bad key");
    }

    #[test]
    fn soap_parsing() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="http://soap.sforce.com/2006/04/metadata"><soapenv:Body><listMetadataResponse><result><fullName>Acme_Sync</fullName><type>BlacklistedConsumer</type><id>0Xx1</id></result><result><fullName>B&amp;C</fullName><type>BlacklistedConsumer</type></result></listMetadataResponse></soapenv:Body></soapenv:Envelope>"#;
        let root = parse_xml(xml).unwrap();
        let results = root.find_all("result");
        assert_eq!(results.len(), 2);
        assert_eq!(results[1].child_text("fullName").as_deref(), Some("B&C"));
        let fault = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault><faultcode>sf:INVALID_SESSION_ID</faultcode><faultstring>Invalid Session ID</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#;
        let f = parse_xml(fault).unwrap();
        assert!(matches!(
            fault_error(f.find("Fault").unwrap()),
            Error::InvalidSession
        ));
        assert!(parse_xml("<a><b>").is_err());
    }
}
