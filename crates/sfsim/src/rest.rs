//! REST data API: versions, resources, query/queryAll (+ paging), sObject
//! describe/retrieve, limits, EventLogFile content.

use std::collections::HashMap;
use std::io::Write as _;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value as J, json};

use crate::error::RestError;
use crate::model::perm;
use crate::query::{self, Entry, Node};
use crate::schema::{self, ALL_OBJECTS, Obj};
use crate::{Ctx, MAX_API_VERSION, MIN_API_VERSION, Sim, ids};

pub fn routes() -> Router<Sim> {
    Router::new()
        .route("/services/data/{v}", get(resources))
        .route("/services/data/{v}/", get(resources))
        .route("/services/data/{v}/query", get(query_first))
        .route("/services/data/{v}/query/", get(query_first))
        .route("/services/data/{v}/query/{locator}", get(query_more))
        .route("/services/data/{v}/queryAll", get(query_all_first))
        .route("/services/data/{v}/queryAll/", get(query_all_first))
        .route("/services/data/{v}/queryAll/{locator}", get(query_more))
        .route("/services/data/{v}/limits", get(limits))
        .route("/services/data/{v}/limits/", get(limits))
        .route("/services/data/{v}/sobjects", get(describe_global))
        .route("/services/data/{v}/sobjects/", get(describe_global))
        .route("/services/data/{v}/sobjects/{obj}", get(sobject_basic))
        .route("/services/data/{v}/sobjects/{obj}/describe", get(describe))
        .route("/services/data/{v}/sobjects/{obj}/describe/", get(describe))
        .route(
            "/services/data/{v}/sobjects/{obj}/{id}",
            get(record_get).delete(record_delete).patch(record_patch),
        )
        .route(
            "/services/data/{v}/sobjects/{obj}/{id}/{field}",
            get(record_blob),
        )
}

pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body,
    )
        .into_response()
}

fn label(v: u32) -> String {
    let season = ["Spring", "Summer", "Winter"][((v - 59 + 2) % 3) as usize];
    // v59 = Winter '24, v60 Spring '24, v61 Summer '24, v62 Winter '25, ...
    let year = 24 + (v - 59) / 3;
    format!("{season} '{year}")
}

/// `GET /services/data/` — no auth, not counted against limits.
pub async fn versions() -> Response {
    let list: Vec<J> = (MIN_API_VERSION..=MAX_API_VERSION)
        .map(|v| json!({"label": label(v), "url": format!("/services/data/v{v}.0"), "version": format!("{v}.0")}))
        .collect();
    json_response(StatusCode::OK, J::Array(list).to_string())
}

async fn resources(
    State(sim): State<Sim>,
    Path(v): Path<String>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let ctx = sim.rest_begin(&headers, &v)?;
    let b = format!("/services/data/v{}", ctx.version);
    let body = json!({
        "limits": format!("{b}/limits"),
        "sobjects": format!("{b}/sobjects"),
        "query": format!("{b}/query"),
        "queryAll": format!("{b}/queryAll"),
        "metadata": format!("{b}/metadata"),
        "connect": format!("{b}/connect"),
        "apps": format!("{b}/apps"),
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}

fn batch_hint(headers: &HeaderMap) -> Option<usize> {
    let h = headers.get("sforce-query-options")?.to_str().ok()?;
    h.split([',', ';']).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("batchSize")
            .then(|| v.trim().parse().ok())
            .flatten()
    })
}

async fn do_query(
    sim: &Sim,
    v: &str,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    all: bool,
) -> Result<Response, RestError> {
    let ctx = sim.rest_begin(headers, v)?;
    sim.ensure_event_logs();
    let Some(q) = params.get("q").filter(|q| !q.trim().is_empty()) else {
        return Err(RestError::new(
            400,
            "MALFORMED_QUERY",
            "A query string has to be specified",
        ));
    };
    let now = sim.now_ms();
    let st = sim.read();
    let env = sim.env(&ctx);
    let req = query::Request {
        soql: q,
        batch_hint: batch_hint(headers),
        now,
        query_all: all,
    };
    match query::run(&st, &sim.inner.cursors, &env, &req) {
        Ok(body) => Ok(json_response(StatusCode::OK, body)),
        Err(e) => Err(RestError::new(400, e.code, e.message)),
    }
}

async fn query_first(
    State(sim): State<Sim>,
    Path(v): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, RestError> {
    do_query(&sim, &v, &headers, &params, false).await
}

async fn query_all_first(
    State(sim): State<Sim>,
    Path(v): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, RestError> {
    // [C] revoked OauthTokens are gone for good, so queryAll returns the same rows.
    do_query(&sim, &v, &headers, &params, true).await
}

async fn query_more(
    State(sim): State<Sim>,
    Path((v, locator)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let ctx = sim.rest_begin(&headers, &v)?;
    let now = sim.now_ms();
    let st = sim.read();
    let env = sim.env(&ctx);
    match query::next_page(&st, &sim.inner.cursors, &env, &locator, now) {
        Ok(body) => Ok(json_response(StatusCode::OK, body)),
        Err((status, code, msg)) => Err(RestError::new(status, code, msg)),
    }
}

async fn limits(
    State(sim): State<Sim>,
    Path(v): Path<String>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let ctx = sim.rest_begin(&headers, &v)?;
    let st = sim.read();
    if st.users[ctx.user as usize].perms() & perm::VIEW_SETUP == 0 {
        return Err(RestError::new(
            403,
            "INSUFFICIENT_ACCESS",
            "The user does not have the View Setup and Configuration permission",
        ));
    }
    let max = sim.inner.config.daily_api_limit;
    let used = sim.api_usage().min(max);
    let mut daily = serde_json::Map::new();
    daily.insert("Max".into(), json!(max));
    daily.insert("Remaining".into(), json!(max - used));
    // Per-app sub-objects (0/0 when the app has no own cap).
    for a in st.apps.iter().take(5) {
        daily.insert(a.name.clone(), json!({"Max": 0, "Remaining": 0}));
    }
    let body = json!({
        "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
        "DailyApiRequests": daily,
        "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
        "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
        "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
        "DataStorageMB": {"Max": 1024, "Remaining": 1000},
        "FileStorageMB": {"Max": 1024, "Remaining": 1020},
        "HourlyTimeBasedWorkflow": {"Max": 1000, "Remaining": 1000},
        "MassEmail": {"Max": 5000, "Remaining": 5000},
        "SingleEmail": {"Max": 5000, "Remaining": 5000},
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}

fn object_summary(o: Obj, version: &str) -> J {
    let b = format!("/services/data/v{version}/sobjects/{}", o.name());
    json!({
        "name": o.name(), "label": o.label(), "labelPlural": format!("{}s", o.label()),
        "keyPrefix": o.prefix(), "queryable": true, "retrieveable": o.retrievable(),
        "createable": false, "updateable": false, "deletable": false, "searchable": false,
        "custom": false, "layoutable": false,
        "urls": {"sobject": b, "describe": format!("{b}/describe"), "rowTemplate": format!("{b}/{{ID}}")}
    })
}

async fn describe_global(
    State(sim): State<Sim>,
    Path(v): Path<String>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let ctx = sim.rest_begin(&headers, &v)?;
    let objs: Vec<J> = ALL_OBJECTS
        .iter()
        .map(|o| object_summary(*o, &ctx.version))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objs}).to_string(),
    ))
}

fn find_obj(name: &str) -> Result<Obj, RestError> {
    Obj::from_name(name)
        .ok_or_else(|| RestError::new(404, "NOT_FOUND", "The requested resource does not exist"))
}

async fn sobject_basic(
    State(sim): State<Sim>,
    Path((v, obj)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let ctx = sim.rest_begin(&headers, &v)?;
    let o = find_obj(&obj)?;
    Ok(json_response(
        StatusCode::OK,
        json!({"objectDescribe": object_summary(o, &ctx.version), "recentItems": []}).to_string(),
    ))
}

async fn describe(
    State(sim): State<Sim>,
    Path((v, obj)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let ctx = sim.rest_begin(&headers, &v)?;
    let o = find_obj(&obj)?;
    let fields: Vec<J> = o
        .fields()
        .iter()
        .map(|f| {
            use schema::FType as T;
            let length = match f.ty {
                T::Id | T::Reference => 18,
                T::String | T::Email | T::Url | T::Picklist => 255,
                T::Textarea => 32_000,
                _ => 0,
            };
            let (precision, digits) = match f.ty {
                T::Double => (18, 0),
                T::Int => (0, 9),
                _ => (0, 0),
            };
            // Every key a real describe gives a field (about 55), with the
            // values of a read-only standard field. [C] picklist values are
            // not modelled: picklists describe none.
            json!({
                "aggregatable": f.flags & schema::GRP != 0 || matches!(f.ty, T::Int | T::Double | T::DateTime | T::Date),
                "aiPredictionField": false, "autoNumber": false,
                "byteLength": length * 3, "calculated": false, "calculatedFormula": null,
                "cascadeDelete": false, "caseSensitive": false, "compoundFieldName": null,
                "controllerName": null, "createable": false, "custom": false,
                "defaultValue": null, "defaultValueFormula": null, "defaultedOnCreate": f.name == "Id",
                "dependentPicklist": false, "deprecatedAndHidden": false, "digits": digits,
                "displayLocationInDecimal": false, "encrypted": false, "externalId": false,
                "extraTypeInfo": null, "filterable": f.filterable(), "filteredLookupInfo": null,
                "formulaTreatNullNumberAsZero": false, "groupable": f.flags & schema::GRP != 0,
                "highScaleNumber": false, "htmlFormatted": false, "idLookup": f.name == "Id",
                "inlineHelpText": null, "label": f.name, "length": length, "mask": null,
                "maskType": null, "name": f.name, "nameField": f.name == "Name",
                "namePointing": false, "nillable": f.flags & schema::NIL != 0,
                "permissionable": false, "picklistValues": [], "polymorphicForeignKey": false,
                "precision": precision, "queryByDistance": false, "referenceTargetField": null,
                "referenceTo": if f.reference_to.is_empty() { vec![] } else { vec![f.reference_to] },
                "relationshipName": if f.relationship.is_empty() { J::Null } else { json!(f.relationship) },
                "relationshipOrder": null, "restrictedDelete": false,
                "restrictedPicklist": f.ty == T::Picklist, "scale": 0,
                "searchPrefilterable": false, "soapType": f.ty.soap_type(),
                "sortable": f.sortable(), "type": f.ty.wire(), "unique": false,
                "updateable": false, "writeRequiresMasterRead": false,
            })
        })
        .collect();
    let mut d = object_summary(o, &ctx.version);
    d["fields"] = J::Array(fields);
    d["childRelationships"] = json!([]);
    d["supportedScopes"] = json!([{"label": "All", "name": "everything"}]);
    Ok(json_response(StatusCode::OK, d.to_string()))
}

fn decode_row(o: Obj, id: &str) -> Result<u32, RestError> {
    if !ids::looks_like_id(id) {
        return Err(RestError::malformed_id(id));
    }
    let prefix = match o {
        Obj::ConnectedApplication => ids::CONNECTED_APP,
        Obj::ExternalClientApplication => ids::ECA,
        _ => o.prefix(),
    };
    ids::parse_id(prefix, id)
        .map(|n| n as u32)
        .ok_or_else(RestError::not_found)
}

async fn record_get(
    State(sim): State<Sim>,
    Path((v, obj, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, RestError> {
    let ctx = sim.rest_begin(&headers, &v)?;
    let o = find_obj(&obj)?;
    if !o.retrievable() {
        return Err(RestError::new(
            400,
            "INVALID_TYPE_FOR_OPERATION",
            format!("entity type {} does not support retrieve", o.name()),
        ));
    }
    let row = decode_row(o, &id)?;
    let st = sim.read();
    if !schema::row_exists(&st, o, row) {
        return Err(RestError::not_found());
    }
    let wanted: Option<Vec<String>> = params
        .get("fields")
        .map(|f| f.split(',').map(|s| s.trim().to_string()).collect());
    let mut node = Node {
        obj: o,
        entries: Vec::new(),
    };
    for f in o.fields() {
        if wanted
            .as_ref()
            .is_none_or(|w| w.iter().any(|x| x.eq_ignore_ascii_case(f.name)))
        {
            node.entries.push((f.name.to_string(), Entry::Field(f)));
        }
    }
    let env = sim.env(&ctx);
    let mut out = String::new();
    query::render_record(&mut out, &st, &env, o, row, &node);
    Ok(json_response(StatusCode::OK, out))
}

/// `DELETE /sobjects/OauthToken/{id}` is not a supported operation (reference §5.1).
async fn record_delete(
    State(sim): State<Sim>,
    Path((v, obj, _id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let _ctx = sim.rest_begin(&headers, &v)?;
    let o = find_obj(&obj)?;
    // [C] the real error is not captured; this is the suggested shape.
    Err(RestError::new(
        400,
        "INVALID_TYPE_FOR_OPERATION",
        format!("entity type {} does not support delete", o.name()),
    ))
}

async fn record_patch(
    State(sim): State<Sim>,
    Path((v, obj, _id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, RestError> {
    let _ctx = sim.rest_begin(&headers, &v)?;
    let o = find_obj(&obj)?;
    Err(RestError::new(
        400,
        "INVALID_TYPE_FOR_OPERATION",
        format!("entity type {} does not support update", o.name()),
    ))
}

/// `GET /sobjects/EventLogFile/{id}/LogFile`: the CSV, gzipped on request.
async fn record_blob(
    State(sim): State<Sim>,
    Path((v, obj, id, field)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    method: Method,
) -> Result<Response, RestError> {
    let ctx: Ctx = sim.rest_begin(&headers, &v)?;
    let o = find_obj(&obj)?;
    if o != Obj::EventLogFile || field != "LogFile" || method != Method::GET {
        return Err(RestError::not_found());
    }
    let row = decode_row(o, &id)?;
    sim.ensure_event_logs();
    let st = sim.read();
    let perms = st.users[ctx.user as usize].perms();
    if perms & (perm::VIEW_EVENT_LOGS | perm::VIEW_ALL_DATA) == 0 {
        return Err(RestError::new(
            403,
            "INSUFFICIENT_ACCESS",
            "insufficient access rights on object id",
        ));
    }
    let Some(log) = st.event_logs.get(row as usize) else {
        return Err(RestError::not_found());
    };
    let gzip = headers
        .get(http::header::ACCEPT_ENCODING)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h.split(',').any(|e| e.trim().starts_with("gzip")));
    let csv = log.csv.clone();
    drop(st);
    let mut resp = if gzip {
        // Compressed a megabyte at a time as it is sent, as a server
        // streams a large file: the client reads the first lines while the
        // rest is being compressed.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
        tokio::task::spawn_blocking(move || {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            for chunk in csv.chunks(1 << 20) {
                if enc.write_all(chunk).is_err() {
                    return;
                }
                let out = std::mem::take(enc.get_mut());
                if !out.is_empty() && tx.blocking_send(Ok(out)).is_err() {
                    return; // the client went away
                }
            }
            if let Ok(rest) = enc.finish() {
                let _ = tx.blocking_send(Ok(rest));
            }
        });
        let body = axum::body::Body::from_stream(tokio_stream_of(rx));
        let mut r = (StatusCode::OK, body).into_response();
        r.headers_mut().insert(
            http::header::CONTENT_ENCODING,
            HeaderValue::from_static("gzip"),
        );
        r
    } else {
        (StatusCode::OK, csv).into_response()
    };
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv"),
    );
    Ok(resp)
}

/// The receiving end of a channel as a stream of body chunks.
fn tokio_stream_of(
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}
