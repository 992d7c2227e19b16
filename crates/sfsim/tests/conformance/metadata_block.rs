use std::io::Write as _;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::*;

fn zip_of(files: &[(&str, String)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(content.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn package(types: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Package xmlns=\"http://soap.sforce.com/2006/04/metadata\">{types}<version>64.0</version></Package>"
    )
}

fn blacklisted(key: &str, name: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><BlacklistedConsumer xmlns=\"http://soap.sforce.com/2006/04/metadata\"><blockedByApiWhitelisting>false</blockedByApiWhitelisting><consumerKey>{key}</consumerKey><consumerName>{name}</consumerName><masterLabel>{name}</masterLabel></BlacklistedConsumer>"
    )
}

async fn deploy(t: &T, zip: Vec<u8>) -> (StatusCode, Value) {
    let form = reqwest::multipart::Form::new()
        .part(
            "json",
            reqwest::multipart::Part::text(
                json!({"deployOptions": {"singlePackage": true, "rollbackOnError": true}})
                    .to_string(),
            )
            .mime_str("application/json")
            .unwrap(),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(zip)
                .file_name("deploy.zip")
                .mime_str("application/zip")
                .unwrap(),
        );
    let r = t
        .http
        .post(t.url(&format!("{V}/metadata/deployRequest")))
        .bearer_auth(&t.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap())
}

/// Polls until done; returns every status seen and the final result.
async fn poll(t: &T, id: &str) -> (Vec<String>, Value) {
    let mut seen = Vec::new();
    for _ in 0..10 {
        let v: Value = t
            .get(&format!(
                "{V}/metadata/deployRequest/{id}?includeDetails=true"
            ))
            .await
            .json()
            .await
            .unwrap();
        seen.push(v["deployResult"]["status"].as_str().unwrap().to_string());
        if v["deployResult"]["done"] == true {
            return (seen, v);
        }
    }
    panic!("deploy never finished: {seen:?}");
}

/// An installed connected app (has an AppMenuItem) to block.
async fn installed_connected_app(t: &T) -> String {
    let v = t
        .query_ok("SELECT Label, ApplicationId FROM AppMenuItem")
        .await;
    v["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["ApplicationId"].as_str().unwrap().starts_with("0H4")
                && !r["Label"].as_str().unwrap().contains('<')
        })
        .map(|r| r["Label"].as_str().unwrap().to_string())
        .expect("an installed connected app")
}

#[tokio::test]
async fn block_and_unblock_an_app_with_blacklisted_consumer() {
    let t = start_default().await;
    let app = installed_connected_app(&t).await;
    let (key, secret) = t.rs.sim.app_credentials(&app).unwrap();
    let redirect = {
        let v: Value = t
            .query_ok(&format!(
                "SELECT Id FROM ConnectedApplication WHERE Name = '{app}'"
            ))
            .await;
        assert_eq!(v["totalSize"], 1);
        format!(
            "https://app.{}.example.com/oauth/callback",
            app.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
                .split('_')
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("_")
                .to_ascii_lowercase()
        )
    };
    // A live session for the app, via the password flow as the admin.
    let c = t.rs.credentials.clone();
    let tok = password_login(
        &t.http,
        &t.rs.base_url,
        &c.username,
        &c.password,
        &key,
        &secret,
    )
    .await;
    let app_session = tok["access_token"].as_str().unwrap().to_string();
    // A grant one of its users made earlier that still refreshes (some
    // belong to leavers or have expired).
    let grants = t
        .query_ok(&format!(
            "SELECT Id FROM OauthToken WHERE AppName = '{app}' LIMIT 200"
        ))
        .await;
    let refresh_with = |rt: String| {
        let form = [
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", rt),
            ("client_id", key.clone()),
            ("client_secret", secret.clone()),
        ];
        t.http
            .post(t.url("/services/oauth2/token"))
            .form(&form)
            .send()
    };
    let mut refresh_token = None;
    for g in grants["records"].as_array().unwrap() {
        let rt =
            t.rs.sim
                .refresh_token_of(g["Id"].as_str().unwrap())
                .unwrap();
        if refresh_with(rt.clone()).await.unwrap().status() == StatusCode::OK {
            refresh_token = Some(rt);
            break;
        }
    }
    let refresh_token = refresh_token.expect("a grant of the app that refreshes");
    let refresh = || refresh_with(refresh_token.clone());
    // (A refresh past its validity revokes the grant, so count after.)
    let tokens_before = t.rs.sim.tokens_for_app(&app);

    let zip = zip_of(&[
        (
            "package.xml",
            package(
                "<types><members>Blocked_App</members><name>BlacklistedConsumer</name></types>",
            ),
        ),
        (
            "blacklistedConsumers/Blocked_App.blacklistedConsumer",
            blacklisted(&key, "Blocked_App"),
        ),
    ]);
    let (s, created) = deploy(&t, zip).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["deployResult"]["status"], "Pending");
    assert_eq!(created["deployResult"]["done"], false);
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("0Af"));
    assert!(!t.rs.sim.is_blocked(&key), "not applied before completion");
    let (seen, done) = poll(&t, &id).await;
    assert_eq!(seen, vec!["InProgress", "Succeeded"]);
    assert_eq!(done["deployResult"]["success"], true);
    assert_eq!(
        done["deployResult"]["details"]["componentSuccesses"][0]["fullName"],
        "Blocked_App"
    );

    assert!(t.rs.sim.is_blocked(&key));
    assert_eq!(
        t.rs.sim.tokens_for_app(&app),
        tokens_before,
        "blocking ends sessions; the grants stay until revoked"
    );
    let r = refresh().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "app_blocked");
    let (s, b) = t
        .query_as(&app_session, "SELECT Id FROM User LIMIT 1")
        .await;
    assert_rest_error(s, &b, 401, "INVALID_SESSION_ID");
    let r = t
        .http
        .post(t.url("/services/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", c.username.as_str()),
            ("password", c.password.as_str()),
            ("client_id", key.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "app_blocked");
    let r = t
        .http
        .get(t.url("/services/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", key.as_str()),
            ("redirect_uri", redirect.as_str()),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.starts_with(&redirect), "{loc}");
    assert!(
        loc.contains("error=OAUTH_APP_BLOCKED") && loc.contains("state=s1"),
        "{loc}"
    );
    let audit = t
        .query_ok(
            "SELECT Action, Display FROM SetupAuditTrail WHERE Action = 'connectedAppBlocked' ORDER BY CreatedDate DESC",
        )
        .await;
    assert_eq!(
        audit["totalSize"], 2,
        "the generated org already blocked one app"
    );
    assert_eq!(
        audit["records"][0]["Display"],
        format!("Blocked connected app {app}")
    );

    // The block is visible through the SOAP Metadata API.
    let list = soap_md(&t, "<listMetadata><queries><type>BlacklistedConsumer</type></queries><asOfVersion>64.0</asOfVersion></listMetadata>").await;
    assert!(list.contains("<fullName>Blocked_App</fullName>"), "{list}");

    // Unblock: destructive change deleting the component.
    let zip = zip_of(&[
        ("package.xml", package("")),
        (
            "destructiveChanges.xml",
            package(
                "<types><members>Blocked_App</members><name>BlacklistedConsumer</name></types>",
            ),
        ),
    ]);
    let (s, created) = deploy(&t, zip).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, done) = poll(&t, created["id"].as_str().unwrap()).await;
    assert_eq!(done["deployResult"]["status"], "Succeeded");
    assert!(!t.rs.sim.is_blocked(&key));
    password_login(
        &t.http,
        &t.rs.base_url,
        &c.username,
        &c.password,
        &key,
        &secret,
    )
    .await;
    // What a block without a revoke leaves: the old grant works again.
    assert_eq!(refresh().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn failed_deploys_report_component_failures() {
    let t = start_default().await;
    let zip = zip_of(&[
        (
            "package.xml",
            package("<types><members>X</members><name>BlacklistedConsumer</name></types>"),
        ),
        (
            "blacklistedConsumers/X.blacklistedConsumer",
            blacklisted("3MVG9NoSuchKey", "X"),
        ),
    ]);
    let (_, created) = deploy(&t, zip).await;
    let (seen, done) = poll(&t, created["id"].as_str().unwrap()).await;
    assert_eq!(seen.last().unwrap(), "Failed");
    let f = &done["deployResult"]["details"]["componentFailures"][0];
    assert_eq!(f["componentType"], "BlacklistedConsumer");
    assert_eq!(f["fullName"], "X");
    assert_eq!(f["problemType"], "Error");
    let zip = zip_of(&[
        ("package.xml", package("")),
        (
            "destructiveChanges.xml",
            package("<types><members>NotBlocked</members><name>BlacklistedConsumer</name></types>"),
        ),
    ]);
    let (_, created) = deploy(&t, zip).await;
    let (_, done) = poll(&t, created["id"].as_str().unwrap()).await;
    assert_eq!(done["deployResult"]["status"], "Failed");
    let r = t
        .get(&format!("{V}/metadata/deployRequest/0Af5g000000BOGUS"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = t
        .http
        .post(t.url(&format!("{V}/metadata/deployRequest")))
        .bearer_auth(&t.token)
        .body("not multipart")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn soap_md(t: &T, op: &str) -> String {
    let env = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:met=\"http://soap.sforce.com/2006/04/metadata\"><soapenv:Header><met:SessionHeader><met:sessionId>{}</met:sessionId></met:SessionHeader></soapenv:Header><soapenv:Body>{op}</soapenv:Body></soapenv:Envelope>",
        t.token
    );
    let r = t
        .http
        .post(t.url("/services/Soap/m/64.0"))
        .header("SOAPAction", "\"\"")
        .header("Content-Type", "text/xml")
        .body(env)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.unwrap()
}

#[tokio::test]
async fn soap_metadata_list_and_read_connected_apps() {
    let t = start_default().await;
    let list = soap_md(&t, "<met:listMetadata><met:queries><met:type>ConnectedApp</met:type></met:queries></met:listMetadata>").await;
    let full = list
        .split("<fullName>")
        .nth(1)
        .unwrap()
        .split("</fullName>")
        .next()
        .unwrap()
        .to_string();
    assert!(list.contains("<type>ConnectedApp</type>"));
    let read = soap_md(&t, &format!("<met:readMetadata><met:type>ConnectedApp</met:type><met:fullNames>{full}</met:fullNames></met:readMetadata>")).await;
    let key = read
        .split("<consumerKey>")
        .nth(1)
        .unwrap()
        .split("</consumerKey>")
        .next()
        .unwrap();
    assert!(key.starts_with("3MVG9"), "{read}");
    // The generated org starts with one blocked app.
    let list = soap_md(&t, "<met:listMetadata><met:queries><met:type>BlacklistedConsumer</met:type></met:queries></met:listMetadata>").await;
    let blocked = list
        .split("<fullName>")
        .nth(1)
        .unwrap()
        .split("</fullName>")
        .next()
        .unwrap()
        .to_string();
    let read = soap_md(&t, &format!("<met:readMetadata><met:type>BlacklistedConsumer</met:type><met:fullNames>{blocked}</met:fullNames></met:readMetadata>")).await;
    let bkey = read
        .split("<consumerKey>")
        .nth(1)
        .unwrap()
        .split("</consumerKey>")
        .next()
        .unwrap();
    assert!(t.rs.sim.is_blocked(bkey));
    assert!(!t.rs.sim.is_blocked(key));
    // Bad session: a SOAP fault.
    let r = t.http.post(t.url("/services/Soap/m/64.0")).body("<Envelope><Header><sessionId>nope</sessionId></Header><Body><listMetadata/></Body></Envelope>").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.text().await.unwrap().contains("INVALID_SESSION_ID"));
}

fn eca_policy(eca: &str, enabled: bool) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ExtlClntAppConfigurablePolicies xmlns=\"http://soap.sforce.com/2006/04/metadata\"><externalClientApplication>{eca}</externalClientApplication><isEnabled>{enabled}</isEnabled><isOauthPluginEnabled>true</isOauthPluginEnabled><label>{eca}</label></ExtlClntAppConfigurablePolicies>"
    )
}

#[tokio::test]
async fn disabling_an_external_client_app_by_policy() {
    let t = start_default().await;
    let ecas = t.query_ok("SELECT MasterLabel, DeveloperName FROM ExternalClientApplication WHERE MasterLabel != 'OAuth Usage Cockpit'").await;
    let eca = &ecas["records"][0];
    let (label, dev) = (
        eca["MasterLabel"].as_str().unwrap().to_string(),
        eca["DeveloperName"].as_str().unwrap().to_string(),
    );
    let (key, secret) = t.rs.sim.app_credentials(&label).unwrap();
    let c = t.rs.credentials.clone();
    let tok = password_login(
        &t.http,
        &t.rs.base_url,
        &c.username,
        &c.password,
        &key,
        &secret,
    )
    .await;
    let session = tok["access_token"].as_str().unwrap().to_string();
    let tokens_before = t.rs.sim.tokens_for_app(&label);

    let policy_file = format!("extlClntAppPolicies/{dev}_plcy.ecaPlcy");
    let deploy_policy = |enabled: bool| {
        zip_of(&[
            (
                "package.xml",
                package(&format!(
                    "<types><members>{dev}_plcy</members><name>ExtlClntAppConfigurablePolicies</name></types>"
                )),
            ),
            (policy_file.as_str(), eca_policy(&dev, enabled)),
        ])
    };
    let (s, created) = deploy(&t, deploy_policy(false)).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, done) = poll(&t, created["id"].as_str().unwrap()).await;
    assert_eq!(done["deployResult"]["status"], "Succeeded", "{done}");
    assert_eq!(
        done["deployResult"]["details"]["componentSuccesses"][0]["componentType"],
        "ExtlClntAppConfigurablePolicies"
    );
    assert!(t.rs.sim.is_disabled(&key));
    assert!(!t.rs.sim.is_blocked(&key));
    let (s, b) = t.query_as(&session, "SELECT Id FROM User LIMIT 1").await;
    assert_rest_error(s, &b, 401, "INVALID_SESSION_ID");
    let r = t
        .http
        .post(t.url("/services/oauth2/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", c.username.as_str()),
            ("password", c.password.as_str()),
            ("client_id", key.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "oauth_flow_disabled");
    assert_eq!(
        t.rs.sim.tokens_for_app(&label),
        tokens_before,
        "grants stay until revoked"
    );

    let (_, created) = deploy(&t, deploy_policy(true)).await;
    let (_, done) = poll(&t, created["id"].as_str().unwrap()).await;
    assert_eq!(done["deployResult"]["status"], "Succeeded");
    assert!(!t.rs.sim.is_disabled(&key));
    password_login(
        &t.http,
        &t.rs.base_url,
        &c.username,
        &c.password,
        &key,
        &secret,
    )
    .await;

    // Unknown ECA: a component failure.
    let zip = zip_of(&[
        ("package.xml", package("")),
        (
            "extlClntAppPolicies/Nope.ecaPlcy",
            eca_policy("Nope", false),
        ),
    ]);
    let (_, created) = deploy(&t, zip).await;
    let (_, done) = poll(&t, created["id"].as_str().unwrap()).await;
    assert_eq!(done["deployResult"]["status"], "Failed");
    assert_eq!(
        done["deployResult"]["details"]["componentFailures"][0]["componentType"],
        "ExtlClntAppConfigurablePolicies"
    );
}

#[tokio::test]
async fn a_slow_deploy_completes_only_after_its_time_however_often_it_is_polled() {
    let t = start_default().await;
    let app = installed_connected_app(&t).await;
    let (key, _) = t.rs.sim.app_credentials(&app).unwrap();
    t.rs.sim
        .set_fault(sfsim::Fault::SlowDeploys(std::time::Duration::from_secs(
            90,
        )));
    let zip = zip_of(&[
        (
            "package.xml",
            package("<types><members>Slow_Block</members><name>BlacklistedConsumer</name></types>"),
        ),
        (
            "blacklistedConsumers/Slow_Block.blacklistedConsumer",
            blacklisted(&key, "Slow_Block"),
        ),
    ]);
    let (s, created) = deploy(&t, zip).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let status = |v: Value| v["deployResult"]["status"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        let v: Value = t
            .get(&format!("{V}/metadata/deployRequest/{id}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(status(v), "InProgress", "not before its time");
    }
    assert!(!t.rs.sim.is_blocked(&key));
    // The org's clock passes the deploy's time: the next poll completes it.
    t.rs.sim.advance_clock(chrono::Duration::seconds(91));
    let (seen, done) = poll(&t, &id).await;
    assert_eq!(seen, vec!["Succeeded"]);
    assert_eq!(done["deployResult"]["success"], true);
    assert!(t.rs.sim.is_blocked(&key));
}

/// The first element `tag` of an XML text.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..start + end].to_string())
}

#[tokio::test]
async fn oauth_policies_of_connected_apps_and_external_client_apps_are_written_over_soap_and_rest()
{
    let t = start_default().await;
    // A connected app the org has: its policies, read back after an update.
    let list = soap_md(&t, "<met:listMetadata><met:queries><met:type>ConnectedApp</met:type></met:queries></met:listMetadata>").await;
    let full = xml_text(&list, "fullName").unwrap();
    let name = xml_text(
        &soap_md(&t, &format!("<met:readMetadata><met:type>ConnectedApp</met:type><met:fullNames>{full}</met:fullNames></met:readMetadata>")).await,
        "label",
    )
    .unwrap();
    let update = |body: String| {
        let full = full.clone();
        let t = &t;
        async move {
            soap_md(t, &format!(
                "<met:updateMetadata><met:metadata xsi:type=\"met:ConnectedApp\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><met:fullName>{full}</met:fullName><met:label>x</met:label>{body}</met:metadata></met:updateMetadata>"
            ))
            .await
        }
    };
    let res = update(
        "<met:oauthConfig><met:isAdminApproved>true</met:isAdminApproved></met:oauthConfig><met:oauthPolicy><met:ipRelaxation>BYPASS</met:ipRelaxation><met:refreshTokenPolicy>expire_if_not_used</met:refreshTokenPolicy><met:refreshTokenValidityPeriod>30</met:refreshTokenValidityPeriod><met:refreshTokenValidityUnit>Days</met:refreshTokenValidityUnit></met:oauthPolicy>".into(),
    )
    .await;
    assert!(res.contains("<success>true</success>"), "{res}");
    let read = soap_md(&t, &format!("<met:readMetadata><met:type>ConnectedApp</met:type><met:fullNames>{full}</met:fullNames></met:readMetadata>")).await;
    assert_eq!(xml_text(&read, "isAdminApproved").as_deref(), Some("true"));
    assert_eq!(xml_text(&read, "ipRelaxation").as_deref(), Some("BYPASS"));
    assert_eq!(
        xml_text(&read, "refreshTokenPolicy").as_deref(),
        Some("expire_if_not_used")
    );
    assert_eq!(
        xml_text(&read, "refreshTokenValidityPeriod").as_deref(),
        Some("30")
    );
    let soql = t
        .query_ok(&format!(
            "SELECT OptionsAllowAdminApprovedUsersOnly FROM ConnectedApplication WHERE Name = '{}'",
            name.replace('\'', "\\'")
        ))
        .await;
    assert_eq!(
        soql["records"][0]["OptionsAllowAdminApprovedUsersOnly"],
        true
    );
    // A value outside the picklist is refused and changes nothing.
    let res = update(
        "<met:oauthPolicy><met:ipRelaxation>SOMETIMES</met:ipRelaxation></met:oauthPolicy>".into(),
    )
    .await;
    assert!(res.contains("<success>false</success>"), "{res}");
    assert!(res.contains("FIELD_INTEGRITY_EXCEPTION"), "{res}");
    let read = soap_md(&t, &format!("<met:readMetadata><met:type>ConnectedApp</met:type><met:fullNames>{full}</met:fullNames></met:readMetadata>")).await;
    assert_eq!(xml_text(&read, "ipRelaxation").as_deref(), Some("BYPASS"));
    // New connected apps cannot be created any more.
    let res = soap_md(&t, "<met:createMetadata><met:metadata xsi:type=\"met:ConnectedApp\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><met:fullName>Brand_New</met:fullName><met:label>Brand New</met:label></met:metadata></met:createMetadata>").await;
    assert!(res.contains("<success>false</success>"), "{res}");
    let res = update(String::new()).await;
    assert!(
        res.contains("<success>true</success>"),
        "an empty update changes nothing: {res}"
    );

    // An External Client App's OAuth policies: over SOAP, then by a REST deploy.
    let ecas = t.query_ok("SELECT DeveloperName FROM ExternalClientApplication WHERE MasterLabel != 'OAuth Usage Cockpit'").await;
    let dev = ecas["records"][0]["DeveloperName"]
        .as_str()
        .unwrap()
        .to_string();
    let plcy = format!("{dev}_oauthPlcy");
    let res = soap_md(&t, &format!(
        "<met:upsertMetadata><met:metadata xsi:type=\"met:ExtlClntAppOauthConfigurablePolicies\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><met:fullName>{plcy}</met:fullName><met:externalClientApplication>{dev}</met:externalClientApplication><met:label>x</met:label><met:permittedUsersPolicyType>AdminApprovedPreAuthorized</met:permittedUsersPolicyType><met:ipRelaxationPolicyType>Enforce</met:ipRelaxationPolicyType><met:refreshTokenPolicyType>SpecificLifetime</met:refreshTokenPolicyType><met:refreshTokenValidityPeriod>2</met:refreshTokenValidityPeriod><met:refreshTokenValidityUnit>Months</met:refreshTokenValidityUnit><met:isRefreshTokenRotationEnabled>true</met:isRefreshTokenRotationEnabled></met:metadata></met:upsertMetadata>"
    )).await;
    assert!(res.contains("<success>true</success>"), "{res}");
    let read = soap_md(&t, &format!("<met:readMetadata><met:type>ExtlClntAppOauthConfigurablePolicies</met:type><met:fullNames>{plcy}</met:fullNames></met:readMetadata>")).await;
    assert_eq!(
        xml_text(&read, "permittedUsersPolicyType").as_deref(),
        Some("AdminApprovedPreAuthorized"),
        "{read}"
    );
    assert_eq!(
        xml_text(&read, "refreshTokenValidityPeriod").as_deref(),
        Some("60")
    );
    let soql = format!(
        "SELECT PermittedUsersPolicyType, IpRelaxationPolicyType, RefreshTokenPolicyType, RefreshTokenValidityPeriod, IsRefreshTokenRotationEnabled FROM ExtlClntAppOauthPlcyCnfg WHERE DeveloperName = '{plcy}'"
    );
    let row = t.query_ok(&soql).await["records"][0].clone();
    assert_eq!(
        row["PermittedUsersPolicyType"],
        "AdminApprovedPreAuthorized"
    );
    assert_eq!(row["IpRelaxationPolicyType"], "Enforce");
    assert_eq!(row["RefreshTokenPolicyType"], "SpecificLifetime");
    assert_eq!(row["RefreshTokenValidityPeriod"], 60);
    assert_eq!(row["IsRefreshTokenRotationEnabled"], true);

    let file = format!("extlClntAppOauthPolicies/{plcy}.ecaOauthPlcy");
    let zip = zip_of(&[
        (
            "package.xml",
            package(&format!(
                "<types><members>{plcy}</members><name>ExtlClntAppOauthConfigurablePolicies</name></types>"
            )),
        ),
        (
            file.as_str(),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ExtlClntAppOauthConfigurablePolicies xmlns=\"http://soap.sforce.com/2006/04/metadata\"><externalClientApplication>{dev}</externalClientApplication><label>x</label><permittedUsersPolicyType>AllSelfAuthorized</permittedUsersPolicyType><refreshTokenPolicyType>Infinite</refreshTokenPolicyType></ExtlClntAppOauthConfigurablePolicies>"
            ),
        ),
    ]);
    let (s, created) = deploy(&t, zip).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let (_, done) = poll(&t, created["id"].as_str().unwrap()).await;
    assert_eq!(done["deployResult"]["status"], "Succeeded", "{done}");
    assert_eq!(
        done["deployResult"]["details"]["componentSuccesses"][0]["componentType"],
        "ExtlClntAppOauthConfigurablePolicies"
    );
    let row = t.query_ok(&soql).await["records"][0].clone();
    assert_eq!(row["PermittedUsersPolicyType"], "AllSelfAuthorized");
    assert_eq!(row["RefreshTokenPolicyType"], "Infinite");
    assert_eq!(row["IsRefreshTokenRotationEnabled"], true, "left as it was");
    // A deploy naming an app the org does not have fails, and changes nothing.
    let zip = zip_of(&[
        ("package.xml", package("<types><members>Nope_oauthPlcy</members><name>ExtlClntAppOauthConfigurablePolicies</name></types>")),
        (
            "extlClntAppOauthPolicies/Nope_oauthPlcy.ecaOauthPlcy",
            "<ExtlClntAppOauthConfigurablePolicies><externalClientApplication>Nope</externalClientApplication><permittedUsersPolicyType>AdminApprovedPreAuthorized</permittedUsersPolicyType></ExtlClntAppOauthConfigurablePolicies>".into(),
        ),
    ]);
    let (_, created) = deploy(&t, zip).await;
    let (_, done) = poll(&t, created["id"].as_str().unwrap()).await;
    assert_eq!(done["deployResult"]["status"], "Failed", "{done}");
}
