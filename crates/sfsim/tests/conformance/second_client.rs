//! What a second third-party client (a widely used Python library) found
//! against sfsim, each replayed as that client sends it.

use reqwest::StatusCode;
use serde_json::Value;

use crate::{T, V, start_default};

async fn soap(t: &T, path: &str, op: &str) -> (StatusCode, String) {
    let env = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:met=\"http://soap.sforce.com/2006/04/metadata\"><soapenv:Header><met:SessionHeader><met:sessionId>{}</met:sessionId></met:SessionHeader></soapenv:Header><soapenv:Body>{op}</soapenv:Body></soapenv:Envelope>",
        t.token
    );
    let r = t
        .http
        .post(t.url(path))
        .header("SOAPAction", "\"\"")
        .header("Content-Type", "text/xml")
        .body(env)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        ct.starts_with("text/xml"),
        "{path}: a SOAP answer, not {ct}"
    );
    (status, r.text().await.unwrap())
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    s.split(open)
        .skip(1)
        .filter_map(|p| p.split(close).next())
        .collect()
}

/// A connected app's full name and consumer key, other than the client's own.
async fn some_connected_app(t: &T) -> (String, String) {
    let (_, list) = soap(t, "/services/Soap/m/64.0", "<met:listMetadata><met:queries><met:type>ConnectedApp</met:type></met:queries></met:listMetadata>").await;
    for full in between(&list, "<fullName>", "</fullName>") {
        if full.contains('&') || full.contains('<') {
            continue;
        }
        let (_, read) = soap(t, "/services/Soap/m/64.0", &format!("<met:readMetadata><met:type>ConnectedApp</met:type><met:fullNames>{full}</met:fullNames></met:readMetadata>")).await;
        if let Some(key) = between(&read, "<consumerKey>", "</consumerKey>").first()
            && *key != t.rs.credentials.client_id
        {
            return (full.to_owned(), (*key).to_owned());
        }
    }
    panic!("no connected app with a readable key");
}

#[tokio::test]
async fn jwt_exp_as_a_string_is_accepted() {
    let t = start_default().await;
    let c = t.rs.credentials.clone();
    let exp = (t.rs.sim.now().timestamp() + 180).to_string();
    let claims = serde_json::json!({"iss": c.client_id, "sub": c.username, "aud": "https://login.salesforce.com", "exp": exp});
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(sfsim::JWT_PRIVATE_KEY_PEM.as_bytes()).unwrap();
    let a = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap();
    let r = t
        .http
        .post(t.url("/services/oauth2/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", a.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["access_token"].is_string());
}

#[tokio::test]
async fn tokens_page_by_id_ascending() {
    let t = start_default().await;
    let total = t.query_ok("SELECT COUNT() FROM OauthToken").await["totalSize"]
        .as_u64()
        .unwrap() as usize;
    let mut seen: Vec<String> = Vec::new();
    let mut last = String::new();
    loop {
        let soql = if last.is_empty() {
            "SELECT Id FROM OauthToken ORDER BY Id LIMIT 2000".to_owned()
        } else {
            format!("SELECT Id FROM OauthToken WHERE Id > '{last}' ORDER BY Id LIMIT 2000")
        };
        let page = t.query_ok(&soql).await;
        let ids: Vec<String> = page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Id"].as_str().unwrap().to_owned())
            .collect();
        let Some(l) = ids.last() else { break };
        last = l.clone();
        seen.extend(ids);
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ascending by Id");
    sorted.dedup();
    assert_eq!(sorted.len(), total, "every token once");
}

#[tokio::test]
async fn soap_paths_with_a_slash_or_unknown_answer_soap() {
    let t = start_default().await;
    let (status, body) = soap(
        &t,
        "/services/Soap/m/59.0/",
        "<met:describeMetadata><met:asOfVersion>59.0</met:asOfVersion></met:describeMetadata>",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("<xmlName>BlacklistedConsumer</xmlName>"),
        "{body}"
    );
    let (status, body) = soap(&t, "/services/Soap/x/59.0", "<x/>").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body.contains("<soapenv:Fault>") && body.contains("faultcode"),
        "{body}"
    );
}

#[tokio::test]
async fn block_and_unblock_with_soap_metadata_writes() {
    let t = start_default().await;
    let (_, key) = some_connected_app(&t).await;
    let record = |op: &str| {
        format!(
            "<met:{op}><met:metadata xsi:type=\"met:BlacklistedConsumer\"><met:fullName>Blocked_By_Tool</met:fullName><met:consumerKey>{key}</met:consumerKey><met:consumerName>Blocked_By_Tool</met:consumerName><met:masterLabel>Blocked by tool</met:masterLabel></met:metadata></met:{op}>"
        )
    };
    let (status, created) = soap(&t, "/services/Soap/m/64.0", &record("createMetadata")).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert!(created.contains("<success>true</success>"), "{created}");
    let (_, again) = soap(&t, "/services/Soap/m/64.0", &record("createMetadata")).await;
    assert!(
        again.contains("<success>false</success>") && again.contains("DUPLICATE"),
        "{again}"
    );
    let (_, upserted) = soap(&t, "/services/Soap/m/64.0", &record("upsertMetadata")).await;
    assert!(
        upserted.contains(
            "<created>false</created><fullName>Blocked_By_Tool</fullName><success>true</success>"
        ),
        "{upserted}"
    );
    let (_, listed) = soap(&t, "/services/Soap/m/64.0", "<met:listMetadata><met:queries><met:type>BlacklistedConsumer</met:type></met:queries></met:listMetadata>").await;
    assert!(
        listed.contains("<fullName>Blocked_By_Tool</fullName>"),
        "{listed}"
    );
    let (_, deleted) = soap(&t, "/services/Soap/m/64.0", "<met:deleteMetadata><met:type>BlacklistedConsumer</met:type><met:fullNames>Blocked_By_Tool</met:fullNames></met:deleteMetadata>").await;
    assert!(deleted.contains("<success>true</success>"), "{deleted}");
    let (_, listed) = soap(&t, "/services/Soap/m/64.0", "<met:listMetadata><met:queries><met:type>BlacklistedConsumer</met:type></met:queries></met:listMetadata>").await;
    assert!(!listed.contains("Blocked_By_Tool"), "{listed}");
    let (_, missing) = soap(&t, "/services/Soap/m/64.0", "<met:deleteMetadata><met:type>BlacklistedConsumer</met:type><met:fullNames>Blocked_By_Tool</met:fullNames></met:deleteMetadata>").await;
    assert!(missing.contains("<success>false</success>"), "{missing}");
}

#[tokio::test]
async fn a_soap_deploy_completes_over_check_deploy_status() {
    use std::io::Write as _;
    let t = start_default().await;
    let (_, key) = some_connected_app(&t).await;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let o: zip::write::SimpleFileOptions = Default::default();
        z.start_file("pkg/package.xml", o).unwrap();
        z.write_all(b"<Package xmlns=\"http://soap.sforce.com/2006/04/metadata\"><types><members>*</members><name>BlacklistedConsumer</name></types><version>64.0</version></Package>").unwrap();
        z.start_file(
            "pkg/blacklistedConsumers/Soap_Deploy.blacklistedConsumer",
            o,
        )
        .unwrap();
        z.write_all(format!("<BlacklistedConsumer xmlns=\"http://soap.sforce.com/2006/04/metadata\"><consumerKey>{key}</consumerKey><consumerName>Soap_Deploy</consumerName><masterLabel>Soap Deploy</masterLabel></BlacklistedConsumer>").as_bytes()).unwrap();
        z.finish().unwrap();
    }
    use base64::Engine as _;
    let zip = base64::engine::general_purpose::STANDARD.encode(buf.into_inner());
    let (_, started) = soap(&t, "/services/Soap/m/64.0", &format!("<met:deploy><met:ZipFile>{zip}</met:ZipFile><met:DeployOptions><met:rollbackOnError>true</met:rollbackOnError></met:DeployOptions></met:deploy>")).await;
    let id = between(&started, "<id>", "</id>")[0].to_owned();
    let mut status = String::new();
    for _ in 0..5 {
        let (_, s) = soap(&t, "/services/Soap/m/64.0", &format!("<met:checkDeployStatus><met:asyncProcessId>{id}</met:asyncProcessId><met:includeDetails>true</met:includeDetails></met:checkDeployStatus>")).await;
        if s.contains("<done>true</done>") {
            status = s;
            break;
        }
    }
    assert!(
        status.contains("<status>Succeeded</status>") && status.contains("<success>true</success>"),
        "{status}"
    );
    assert!(status.contains("<componentSuccesses>"), "{status}");
}

#[tokio::test]
async fn oauth_parameters_in_the_query_string_of_an_empty_post() {
    let t = start_default().await;
    let c = t.rs.credentials.clone();
    let r = t
        .http
        .post(t.url("/services/oauth2/token"))
        .query(&[
            ("grant_type", "password"),
            ("username", c.username.as_str()),
            ("password", c.password.as_str()),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let tok: Value = r.json().await.unwrap();
    let access = tok["access_token"].as_str().unwrap().to_owned();
    // An error in the same shape is Salesforce's JSON.
    let r = t
        .http
        .post(t.url("/services/oauth2/token"))
        .query(&[("grant_type", "password"), ("username", "nobody")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"].is_string(), "{e}");
    // Revoke by query string, then the session is gone.
    let r = t
        .http
        .post(t.url("/services/oauth2/revoke"))
        .query(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, _) = t.query_as(&access, "SELECT Id FROM User LIMIT 1").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn describe_fields_carry_every_key() {
    let t = start_default().await;
    let d: Value = t
        .get(&format!("{V}/sobjects/OauthToken/describe"))
        .await
        .json()
        .await
        .unwrap();
    for f in d["fields"].as_array().unwrap() {
        let keys = f.as_object().unwrap().len();
        assert!(keys >= 40, "{}: {keys} keys", f["name"]);
        assert!(f["picklistValues"].is_array());
    }
}
