use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;
use sfsim::SimConfig;

use crate::*;

#[tokio::test]
async fn versions_need_no_auth_and_unknown_versions_404() {
    let t = start_default().await;
    let r = t.http.get(t.url("/services/data/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("sforce-limit-info").is_none());
    let v: Value = r.json().await.unwrap();
    let versions: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions.first(), Some(&"59.0"));
    assert_eq!(versions.last(), Some(&"68.0"));
    assert_eq!(v[0]["label"], "Winter '24");
    assert_eq!(v[9]["url"], "/services/data/v68.0");
    for bad in ["v58.0", "v69.0", "64.0", "vx"] {
        let r = t.get(&format!("/services/data/{bad}/limits")).await;
        let s = r.status();
        assert_rest_error(s, &r.json().await.unwrap(), 404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn auth_errors_limits_and_budget() {
    let t = start_default().await;
    // No token, a garbage token, then an expired one.
    let r = t
        .http
        .get(t.url(&format!("{V}/limits")))
        .send()
        .await
        .unwrap();
    let s = r.status();
    assert_rest_error(s, &r.json().await.unwrap(), 401, "INVALID_SESSION_ID");
    let (s, b) = t.query_as("00Dxx!bogus", "SELECT Id FROM User").await;
    assert_rest_error(s, &b, 401, "INVALID_SESSION_ID");

    let r = t.get(&format!("{V}/limits")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let info = r.headers()["sforce-limit-info"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        info.starts_with("api-usage=") && info.ends_with("/100000"),
        "{info}"
    );
    let l: Value = r.json().await.unwrap();
    assert_eq!(l["DailyApiRequests"]["Max"], 100000);
    assert!(l["DailyApiRequests"]["Remaining"].as_u64().unwrap() < 100000);

    t.rs.sim.set_api_usage(100_000);
    let (s, b) = t.query("SELECT Id FROM User").await;
    assert_rest_error(s, &b, 403, "REQUEST_LIMIT_EXCEEDED");
    t.rs.sim.set_api_usage(10);
    t.query_ok("SELECT Id FROM User LIMIT 1").await;

    t.rs.sim.expire_access_tokens();
    let (s, b) = t.query("SELECT Id FROM User").await;
    assert_rest_error(s, &b, 401, "INVALID_SESSION_ID");
}

#[tokio::test]
async fn oauth_token_query_quirk_pages_of_500_and_silent_cap() {
    let t = start(SimConfig {
        tokens: 4_000,
        users: 400,
        ..SimConfig::default()
    })
    .await;
    let (first, records, sizes) = t
        .query_all_pages("SELECT Id, CreatedDate FROM OauthToken")
        .await;
    assert_eq!(first["totalSize"], 4000);
    assert_eq!(sizes, vec![500, 500, 500, 500, 500]);
    assert_eq!(records.len(), 2500);
    let count = t.query_ok("SELECT COUNT() FROM OauthToken").await;
    assert_eq!(count["totalSize"], 4000);
    assert_eq!(count["records"].as_array().unwrap().len(), 0);

    // The batch-size hint does not change OauthToken's 500-row pages.
    let r = t
        .http
        .get(t.url(&format!("{V}/query")))
        .query(&[("q", "SELECT Id FROM OauthToken")])
        .header("Sforce-Query-Options", "batchSize=2000")
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["records"].as_array().unwrap().len(), 500);

    // Workaround: split by CreatedDate ranges (ORDER BY CreatedDate + WHERE CreatedDate > last).
    let mut seen = HashSet::new();
    let mut last: Option<String> = None;
    loop {
        let soql = match &last {
            None => {
                "SELECT Id, CreatedDate FROM OauthToken ORDER BY CreatedDate LIMIT 2000".to_string()
            }
            Some(ts) => format!(
                "SELECT Id, CreatedDate FROM OauthToken WHERE CreatedDate > {} ORDER BY CreatedDate LIMIT 2000",
                ts.replace("+0000", "Z")
            ),
        };
        let (_, recs, _) = t.query_all_pages(&soql).await;
        if recs.is_empty() {
            break;
        }
        let mut prev = String::new();
        for r in &recs {
            let c = r["CreatedDate"].as_str().unwrap().to_string();
            assert!(c >= prev, "ordered by CreatedDate");
            prev = c;
            seen.insert(r["Id"].as_str().unwrap().to_string());
        }
        last = Some(prev);
    }
    assert_eq!(
        seen.len(),
        4000,
        "date-range splitting recovers every token"
    );
}

#[tokio::test]
async fn oauth_token_split_by_user_batches_and_non_admin_visibility() {
    let t = start_default().await;
    let users = t.query_ok("SELECT Id FROM User ORDER BY Id").await;
    let ids: Vec<String> = users["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["Id"].as_str().unwrap().to_string())
        .collect();
    let mut total = 0;
    for chunk in ids.chunks(50) {
        let list = chunk
            .iter()
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(",");
        let (first, recs, _) = t
            .query_all_pages(&format!(
                "SELECT Id, UserId FROM OauthToken WHERE UserId IN ({list})"
            ))
            .await;
        assert_eq!(first["totalSize"].as_u64().unwrap() as usize, recs.len());
        for r in &recs {
            assert!(chunk.contains(&r["UserId"].as_str().unwrap().to_string()));
        }
        total += recs.len();
    }
    assert_eq!(total, t.rs.sim.token_count());

    // A non-admin user silently sees only their own tokens.
    let (user, pw) = t.rs.sim.ordinary_user();
    let c = &t.rs.credentials;
    let tok = password_login(
        &t.http,
        &t.rs.base_url,
        &user,
        &pw,
        &c.client_id,
        &c.client_secret,
    )
    .await;
    let at = tok["access_token"].as_str().unwrap();
    let my_id = tok["id"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (s, v) = t.query_as(at, "SELECT Id, UserId FROM OauthToken").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["totalSize"].as_u64().unwrap() as usize,
        t.rs.sim.tokens_for_user(&my_id)
    );
    for r in v["records"].as_array().unwrap() {
        assert_eq!(r["UserId"], my_id.as_str());
    }
    let (s, v) = t.query_as(at, "SELECT PermissionsCustomizeApplication, PermissionsViewAllData, PermissionsManageUsers FROM UserPermissionAccess").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["records"][0]["PermissionsCustomizeApplication"], false);
    assert_eq!(v["records"][0]["PermissionsManageUsers"], false);
    let (s, v) = t.query_as(at, "SELECT Id FROM EventLogFile").await;
    assert_rest_error(s, &v, 400, "INVALID_TYPE");
    let admin = t.query_ok("SELECT PermissionsCustomizeApplication, PermissionsViewAllData, PermissionsManageUsers FROM UserPermissionAccess").await;
    assert_eq!(admin["totalSize"], 1);
    for f in [
        "PermissionsCustomizeApplication",
        "PermissionsViewAllData",
        "PermissionsManageUsers",
    ] {
        assert_eq!(admin["records"][0][f], true);
    }
}

#[tokio::test]
async fn relationship_fields_nest_and_null_lookups_are_null() {
    let t = start_default().await;
    let (_, recs, _) = t
        .query_all_pages("SELECT Id, AppName, DeleteToken, UseCount, LastUsedDate, CreatedDate, User.Name, User.Profile.Name, AppMenuItem.Id, AppMenuItem.Label, AppMenuItem.ApplicationId, AppMenuItem.IsUsingAdminAuthorization, AppMenuItemId FROM OauthToken")
        .await;
    assert!(!recs.is_empty());
    let r = &recs[0];
    assert_eq!(r["attributes"]["type"], "OauthToken");
    assert!(
        r["attributes"]["url"]
            .as_str()
            .unwrap()
            .starts_with("/services/data/v64.0/sobjects/OauthToken/0CQ")
    );
    let id = r["Id"].as_str().unwrap();
    assert_eq!(id.len(), 18);
    assert!(id.starts_with("0CQ"));
    assert_eq!(r["User"]["attributes"]["type"], "User");
    assert!(r["User"]["Profile"]["Name"].is_string());
    assert!(r["UseCount"].is_number());
    let created = r["CreatedDate"].as_str().unwrap();
    assert!(
        created.ends_with(".000+0000") || created.len() == 28,
        "{created}"
    );
    assert!(created.ends_with("+0000"));
    // Uninstalled third-party apps: no AppMenuItem.
    let uninstalled = recs.iter().filter(|r| r["AppMenuItem"].is_null()).count();
    assert!(uninstalled > 0, "some tokens belong to uninstalled apps");
    for r in recs.iter().filter(|r| r["AppMenuItem"].is_null()) {
        assert!(r["AppMenuItemId"].is_null());
    }
    for r in recs.iter().filter(|r| !r["AppMenuItem"].is_null()) {
        let app = r["AppMenuItem"]["ApplicationId"].as_str().unwrap();
        assert!(app.starts_with("0H4") || app.starts_with("0xI"), "{app}");
    }
    let users = t.query_ok("SELECT Name, Manager.Name, Profile.Name, CreatedBy.Name FROM User WHERE ManagerId != null LIMIT 5").await;
    assert!(users["records"][0]["Manager"]["Name"].is_string());
    let users = t
        .query_ok("SELECT Name, Manager.Name FROM User WHERE ManagerId = null LIMIT 5")
        .await;
    assert!(users["records"][0]["Manager"].is_null());
}

#[tokio::test]
async fn permission_sets_and_their_assignments_answer_who_holds_admin_rights() {
    let t = start_default().await;
    let sets = t
        .query_ok("SELECT Id, Name, Label, IsOwnedByProfile, Profile.Name, PermissionsModifyAllData FROM PermissionSet")
        .await;
    let sets = sets["records"].as_array().unwrap();
    let owned: Vec<&Value> = sets
        .iter()
        .filter(|s| s["IsOwnedByProfile"] == true)
        .collect();
    assert!(!owned.is_empty() && owned.len() < sets.len());
    for s in &owned {
        assert!(s["Name"].as_str().unwrap().starts_with("X00e"), "{s}");
        assert_eq!(s["Label"], s["Profile"]["Name"]);
    }
    assert!(
        sets.iter()
            .all(|s| s["Id"].as_str().unwrap().starts_with("0PS"))
    );
    // The question a sync asks: who holds an administrator's permission,
    // through their profile or through another permission set.
    let (_, grants, _) = t
        .query_all_pages(
            "SELECT AssigneeId, PermissionSet.Name, PermissionSet.IsOwnedByProfile, \
             PermissionSet.PermissionsModifyAllData, PermissionSet.PermissionsViewAllData, \
             PermissionSet.PermissionsCustomizeApplication FROM PermissionSetAssignment \
             WHERE PermissionSet.PermissionsModifyAllData = true \
             OR PermissionSet.PermissionsViewAllData = true \
             OR PermissionSet.PermissionsCustomizeApplication = true",
        )
        .await;
    let by_profile = grants
        .iter()
        .filter(|g| g["PermissionSet"]["IsOwnedByProfile"] == true)
        .count();
    let by_set: Vec<&Value> = grants
        .iter()
        .filter(|g| g["PermissionSet"]["IsOwnedByProfile"] == false)
        .collect();
    assert!(
        by_profile > 0,
        "System Administrators, through their profile"
    );
    assert!(!by_set.is_empty(), "others through a permission set");
    assert!(
        by_set
            .iter()
            .all(|g| g["PermissionSet"]["Name"] != "Sales_Operations")
    );
    assert!(
        grants
            .iter()
            .all(|g| g["Id"].is_null() || g["Id"].as_str().unwrap().starts_with("0Pa"))
    );
    // Every assignee is a user of the org, and an assignment reads back by id.
    let user = by_set[0]["AssigneeId"].as_str().unwrap();
    let u = t
        .query_ok(&format!(
            "SELECT Profile.Name FROM User WHERE Id = '{user}'"
        ))
        .await;
    assert_ne!(u["records"][0]["Profile"]["Name"], "System Administrator");
    let assignments = t
        .query_ok(&format!(
            "SELECT Id, PermissionSet.Label FROM PermissionSetAssignment WHERE AssigneeId = '{user}'"
        ))
        .await;
    assert_eq!(
        assignments["totalSize"], 2,
        "the profile's set and one other"
    );
}

#[tokio::test]
async fn where_order_limit_offset_semantics() {
    let t = start_default().await;
    let v = t
        .query_ok("SELECT Id, UseCount, LastUsedDate FROM OauthToken WHERE (UseCount > 10 AND UseCount <= 1000) OR NOT UseCount != 1 ORDER BY UseCount DESC, LastUsedDate ASC NULLS LAST LIMIT 300")
        .await;
    let recs = v["records"].as_array().unwrap();
    assert!(!recs.is_empty() && recs.len() <= 300);
    let mut prev = i64::MAX;
    for r in recs {
        let u = r["UseCount"].as_i64().unwrap();
        assert!((u > 10 && u <= 1000) || u == 1, "{u}");
        assert!(u <= prev);
        prev = u;
    }
    // Stale grants exist: not used in the last 90 days.
    let stale = t
        .query_ok("SELECT COUNT() FROM OauthToken WHERE LastUsedDate < LAST_N_DAYS:90")
        .await;
    assert!(stale["totalSize"].as_u64().unwrap() > 0);
    let recent = t
        .query_ok("SELECT COUNT() FROM OauthToken WHERE LastUsedDate = LAST_N_DAYS:90")
        .await;
    let never = t
        .query_ok("SELECT COUNT() FROM OauthToken WHERE LastUsedDate = null")
        .await;
    let all = t.query_ok("SELECT COUNT() FROM OauthToken").await;
    assert_eq!(
        stale["totalSize"].as_u64().unwrap()
            + recent["totalSize"].as_u64().unwrap()
            + never["totalSize"].as_u64().unwrap(),
        all["totalSize"].as_u64().unwrap()
    );
    // IN / NOT IN / LIKE on hostile names (case-insensitive).
    let v = t
        .query_ok("SELECT Name FROM ConnectedApplication WHERE Name IN ('drift', 'GAINSIGHT')")
        .await;
    let names: HashSet<&str> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Drift", "Gainsight"].into_iter().collect());
    let v = t
        .query_ok("SELECT Name FROM ConnectedApplication WHERE Name LIKE '%<script>%'")
        .await;
    assert_eq!(v["records"][0]["Name"], "<script>alert(1)</script>");
    let v = t
        .query_ok("SELECT COUNT() FROM ConnectedApplication WHERE Name NOT IN ('Drift')")
        .await;
    let all_apps = t.query_ok("SELECT COUNT() FROM ConnectedApplication").await;
    assert_eq!(
        v["totalSize"].as_u64().unwrap() + 1,
        all_apps["totalSize"].as_u64().unwrap()
    );
    // OFFSET and LIMIT on a sorted query.
    let a = t
        .query_ok("SELECT Id FROM User ORDER BY Username LIMIT 10")
        .await;
    let b = t
        .query_ok("SELECT Id FROM User ORDER BY Username LIMIT 5 OFFSET 5")
        .await;
    assert_eq!(a["records"][5]["Id"], b["records"][0]["Id"]);
    // Semi-join: deactivated users still holding tokens.
    let v = t.query_ok("SELECT Id, User.IsActive FROM OauthToken WHERE UserId IN (SELECT Id FROM User WHERE IsActive = false)").await;
    assert!(v["totalSize"].as_u64().unwrap() > 0);
    assert_eq!(v["records"][0]["User"]["IsActive"], false);
    // COUNT(Id) aggregate.
    let v = t.query_ok("SELECT COUNT(Id) FROM User").await;
    assert_eq!(v["records"][0]["expr0"], 200);
}

#[tokio::test]
async fn group_by_and_aggregates() {
    let t = start_default().await;
    let v = t.query_ok("SELECT AppName, COUNT(Id) n, SUM(UseCount), MAX(LastUsedDate) FROM OauthToken GROUP BY AppName ORDER BY AppName").await;
    let recs = v["records"].as_array().unwrap();
    assert!(recs.len() > 1);
    assert_eq!(recs[0]["attributes"]["type"], "AggregateResult");
    let total: u64 = recs.iter().map(|r| r["n"].as_u64().unwrap()).sum();
    assert_eq!(total as usize, t.rs.sim.token_count());
    assert!(recs[0]["expr0"].is_number() && recs[0]["expr1"].is_string());
    let names: Vec<String> = recs
        .iter()
        .map(|r| r["AppName"].as_str().unwrap().to_lowercase())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let v = t
        .query_ok("SELECT Application, COUNT(Id) FROM LoginHistory GROUP BY Application")
        .await;
    assert!(
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["Application"] == "Browser")
    );
    let v = t
        .query_ok("SELECT COUNT_DISTINCT(UserId) FROM OauthToken")
        .await;
    assert!(v["records"][0]["expr0"].as_u64().unwrap() > 10);
    let (s, b) = t
        .query("SELECT AppName, UserId, COUNT(Id) FROM OauthToken GROUP BY AppName")
        .await;
    assert_rest_error(s, &b, 400, "MALFORMED_QUERY");
    let (s, b) = t
        .query("SELECT LastUsedDate, COUNT(Id) FROM OauthToken GROUP BY LastUsedDate")
        .await;
    assert_rest_error(s, &b, 400, "INVALID_FIELD");
    // Wrong verb on a REST resource.
    let r = t
        .http
        .post(t.url(&format!("{V}/limits")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    let s = r.status();
    assert_rest_error(s, &r.json().await.unwrap(), 405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn soql_errors_match_salesforce() {
    let t = start_default().await;
    for (soql, status, code) in [
        ("SELECT Id FRM OauthToken", 400, "MALFORMED_QUERY"),
        ("SELECT Id, Bogus FROM OauthToken", 400, "INVALID_FIELD"),
        (
            "SELECT Id, User.Bogus FROM OauthToken",
            400,
            "INVALID_FIELD",
        ),
        ("SELECT Id, Nope.Name FROM OauthToken", 400, "INVALID_FIELD"),
        ("SELECT Id FROM NoSuchObject", 400, "INVALID_TYPE"),
        (
            "SELECT Id FROM OauthToken WHERE CreatedDate > '2026-01-01T00:00:00Z'",
            400,
            "INVALID_FIELD",
        ),
        (
            "SELECT Id FROM OauthToken WHERE UseCount = 'x'",
            400,
            "INVALID_FIELD",
        ),
        (
            "SELECT Id FROM OauthToken WHERE UserId = 'abc'",
            400,
            "INVALID_QUERY_FILTER_OPERATOR",
        ),
        (
            "SELECT Id FROM LoginHistory WHERE Status = 'Success'",
            400,
            "INVALID_FIELD",
        ),
        (
            "SELECT Id FROM User LIMIT 10 OFFSET 2001",
            400,
            "NUMBER_OUTSIDE_VALID_RANGE",
        ),
        ("SELECT COUNT(), Id FROM User", 400, "MALFORMED_QUERY"),
    ] {
        let (s, b) = t.query(soql).await;
        assert_rest_error(s, &b, status, code);
    }
    let (_, b) = t.query("SELECT Id, Bogus FROM OauthToken").await;
    let msg = b[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("No such column 'Bogus' on entity 'OauthToken'"),
        "{msg}"
    );
    assert!(msg.contains("ERROR at Row:1:Column:12"), "{msg}");
    let (_, b) = t.query("SELECT Id FROM NoSuchObject").await;
    assert!(
        b[0]["message"]
            .as_str()
            .unwrap()
            .contains("sObject type 'NoSuchObject' is not supported")
    );
    let r = t.get(&format!("{V}/query")).await;
    let s = r.status();
    assert_rest_error(s, &r.json().await.unwrap(), 400, "MALFORMED_QUERY");
}

#[tokio::test]
async fn paging_batch_size_query_all_and_locators() {
    let t = start(SimConfig {
        users: 2_500,
        ..SimConfig::default()
    })
    .await;
    let r = t
        .http
        .get(t.url(&format!("{V}/queryAll")))
        .query(&[("q", "SELECT Id, Username FROM User")])
        .header("Sforce-Query-Options", "batchSize=1000")
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["totalSize"], 2500);
    assert_eq!(v["done"], false);
    assert_eq!(v["records"].as_array().unwrap().len(), 1000);
    let next = v["nextRecordsUrl"].as_str().unwrap().to_string();
    assert!(
        next.starts_with("/services/data/v64.0/query/01g") && next.ends_with("-1000"),
        "{next}"
    );
    let (_, all, sizes) = t.query_all_pages("SELECT Id FROM User").await;
    assert_eq!(sizes, vec![2000, 500]);
    assert_eq!(
        all.iter()
            .map(|r| r["Id"].as_str().unwrap())
            .collect::<HashSet<_>>()
            .len(),
        2500
    );

    let r = t.get(&format!("{V}/query/01gBOGUS-2000")).await;
    let s = r.status();
    assert_rest_error(s, &r.json().await.unwrap(), 400, "INVALID_QUERY_LOCATOR");
    // Cursors expire after 15 minutes of inactivity.
    t.rs.sim.advance_clock(chrono::Duration::minutes(16));
    let r = t.get(&next).await;
    let s = r.status();
    assert_rest_error(s, &r.json().await.unwrap(), 400, "INVALID_QUERY_LOCATOR");
}

#[tokio::test]
async fn sobject_delete_describe_and_retrieve() {
    let t = start_default().await;
    let v = t.query_ok("SELECT Id FROM OauthToken LIMIT 1").await;
    let id = v["records"][0]["Id"].as_str().unwrap();
    let before = t.rs.sim.token_count();
    let r = t
        .http
        .delete(t.url(&format!("{V}/sobjects/OauthToken/{id}")))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    let s = r.status();
    assert_rest_error(
        s,
        &r.json().await.unwrap(),
        400,
        "INVALID_TYPE_FOR_OPERATION",
    );
    assert_eq!(t.rs.sim.token_count(), before);

    let d: Value = t
        .get(&format!("{V}/sobjects/OauthToken/describe"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["name"], "OauthToken");
    assert_eq!(d["keyPrefix"], "0CQ");
    let fields: Vec<&str> = d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for f in [
        "Id",
        "AppName",
        "AppMenuItemId",
        "DeleteToken",
        "LastUsedDate",
        "UseCount",
        "UserId",
        "CreatedDate",
    ] {
        assert!(fields.contains(&f), "{f}");
    }
    let user_field = d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "UserId")
        .unwrap();
    assert_eq!(user_field["relationshipName"], "User");
    let r = t.get(&format!("{V}/sobjects/Nope/describe")).await;
    let s = r.status();
    assert_rest_error(s, &r.json().await.unwrap(), 404, "NOT_FOUND");

    let u = t.query_ok("SELECT Id FROM User LIMIT 1").await;
    let uid = u["records"][0]["Id"].as_str().unwrap();
    let rec: Value = t
        .get(&format!("{V}/sobjects/User/{uid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rec["Id"], uid);
    assert!(rec["Username"].is_string());
    let r = t.get(&format!("{V}/sobjects/User/not-an-id")).await;
    let s = r.status();
    assert_rest_error(s, &r.json().await.unwrap(), 400, "MALFORMED_ID");
}

#[tokio::test]
async fn event_log_files_list_and_download() {
    let t = start_default().await;
    let v = t
        .query_ok("SELECT Id, EventType, LogDate, LogFileLength, LogFile FROM EventLogFile WHERE EventType='ApiTotalUsage' AND LogDate = LAST_N_DAYS:7")
        .await;
    assert!(v["totalSize"].as_u64().unwrap() >= 1);
    let rec = &v["records"][0];
    let path = rec["LogFile"].as_str().unwrap().to_string();
    assert!(path.ends_with("/LogFile") && path.contains("/sobjects/EventLogFile/0AT"));
    let len = rec["LogFileLength"].as_f64().unwrap() as usize;
    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let r = raw
        .get(t.url(&path))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csv = r.text().await.unwrap();
    assert_eq!(csv.len(), len);
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("\"EVENT_TYPE\",\"TIMESTAMP\",\"TIMESTAMP_DERIVED\",\"REQUEST_ID\",\"ORGANIZATION_ID\",\"USER_ID\""), "{header}");
    assert!(header.contains("\"CONNECTED_APP_ID\"") && header.contains("\"STATUS_CODE\""));
    assert!(
        csv.contains("\"401\"") || csv.contains("\"500\"") || csv.contains("\"403\""),
        "errors included"
    );
    let r = raw
        .get(t.url(&path))
        .bearer_auth(&t.token)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let gz = r.bytes().await.unwrap();
    let mut d = flate2::read::GzDecoder::new(&gz[..]);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut d, &mut out).unwrap();
    assert_eq!(out, csv);
}

#[tokio::test]
async fn new_daily_event_logs_appear_as_the_clock_moves() {
    let t = start_default().await;
    let soql = "SELECT Id, LogDate FROM EventLogFile WHERE EventType = 'ApiTotalUsage' ORDER BY LogDate DESC";
    let before = t.query_ok(soql).await;
    let n = before["totalSize"].as_u64().unwrap();
    t.rs.sim.advance_clock(chrono::Duration::days(2));
    let after = t.query_ok(soql).await;
    assert_eq!(after["totalSize"].as_u64().unwrap(), n + 2);
    assert!(
        after["records"][0]["LogDate"].as_str().unwrap()
            > before["records"][0]["LogDate"].as_str().unwrap()
    );
    let id = after["records"][0]["Id"].as_str().unwrap();
    let csv = t
        .get(&format!("{V}/sobjects/EventLogFile/{id}/LogFile"))
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.lines().count() > 1);
    let again = t.query_ok(soql).await;
    assert_eq!(again["totalSize"], after["totalSize"], "generated once");
}

#[tokio::test]
async fn org_data_has_realistic_and_hostile_signals() {
    let t = start_default().await;
    let deact = t.query_ok("SELECT Action, Display, CreatedDate FROM SetupAuditTrail WHERE Action = 'deactivateduser'").await;
    let inactive = t
        .query_ok("SELECT COUNT() FROM User WHERE IsActive = false")
        .await;
    assert_eq!(deact["totalSize"], inactive["totalSize"]);
    let v = t
        .query_ok("SELECT Name FROM User WHERE FirstName LIKE '%<img%'")
        .await;
    assert_eq!(v["totalSize"], 1);
    let apps = t
        .query_ok("SELECT Name FROM ConnectedApplication WHERE RefreshTokenValidityPeriod = null")
        .await;
    assert!(
        apps["totalSize"].as_u64().unwrap() > 0,
        "valid-until-revoked apps"
    );
    let ecas = t.query_ok("SELECT Id, MasterLabel, DeveloperName, DistributionState FROM ExternalClientApplication").await;
    assert!(
        ecas["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["MasterLabel"] == "OAuth Usage Cockpit")
    );
    let pol = t.query_ok("SELECT ExternalClientApplicationId, PermittedUsersPolicyType FROM ExtlClntAppOauthPlcyCnfg").await;
    assert_eq!(pol["totalSize"], ecas["totalSize"]);
    let org = t
        .query_ok("SELECT Id, Name, IsSandbox FROM Organization")
        .await;
    assert_eq!(org["records"][0]["Id"], t.rs.credentials.org_id.as_str());
    let lh = t.query_ok("SELECT UserId, LoginTime, LoginType, Application, Status FROM LoginHistory WHERE LoginTime = LAST_N_DAYS:30 ORDER BY LoginTime DESC LIMIT 5").await;
    assert!(lh["totalSize"].as_u64().unwrap() > 0);
    // Determinism: the same seed gives the same org.
    let a = sfsim::Sim::new(SimConfig::default());
    let b = sfsim::Sim::new(SimConfig::default());
    assert_eq!(a.token_count(), b.token_count());
    assert_eq!(a.credentials("x"), b.credentials("x"));
    let c = sfsim::Sim::new(SimConfig {
        seed: 7,
        ..SimConfig::default()
    });
    assert_ne!(a.credentials("x").client_id, c.credentials("x").client_id);
}

#[tokio::test]
async fn simulated_activity_changes_the_org() {
    let t = start_default().await;
    let before = t.rs.sim.token_count();
    let req = t.rs.sim.request_count();
    t.rs.sim.simulate_activity(500);
    let apps = t
        .query_ok("SELECT COUNT() FROM ConnectedApplication WHERE Name LIKE 'Shadow IT App%'")
        .await;
    assert!(apps["totalSize"].as_u64().unwrap() > 0, "new apps appear");
    assert_ne!(t.rs.sim.token_count(), before);
    assert!(t.rs.sim.request_count() > req);
}

#[tokio::test]
async fn created_dates_carry_varied_milliseconds_on_the_wire() {
    let t = start_default().await;
    for soql in [
        "SELECT CreatedDate FROM OauthToken",
        "SELECT CreatedDate FROM User",
        "SELECT CreatedDate FROM ConnectedApplication",
    ] {
        let (_, records, _) = t.query_all_pages(soql).await;
        let dates: Vec<String> = records
            .iter()
            .map(|r| r["CreatedDate"].as_str().unwrap().to_owned())
            .collect();
        let whole = dates.iter().filter(|d| d.ends_with(".000+0000")).count();
        assert!(
            whole * 20 <= dates.len(),
            "{soql}: {whole} of {} end in .000",
            dates.len()
        );
    }
}
