//! Notification figures (issue: tell people and systems). Prints; asserts
//! nothing.
//!
//! - What writing a notification adds to the transaction that causes it:
//!   `emit` timed inside `NOTIFY_BENCH_EVENTS` transactions (default
//!   10,000), with 5 channels configured (3 of which take the event), p50
//!   and p99.
//! - Delivery: those notifications, 3 deliveries each, posted by the
//!   worker's deliverer to a webhook receiver on loopback (axum, answering
//!   200), signed; deliveries per second from the first claim to the last
//!   recorded outcome.
//!
//! Run: `cargo bench -p oauth-cockpit --bench notify_bench`.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use axum::{Router, routing::post};
use cockpit_db::notify::{NewChannel, Notice, emit};
use cockpit_domain::{
    notify::{ChannelKind, EventKind, Severity, seal_channel},
    secret::{Keyring, MasterKey},
};
use cockpit_worker::deliver::{Deliverer, DeliverySettings};
use uuid::Uuid;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let events = common::env("NOTIFY_BENCH_EVENTS", 10_000) as usize;
    let db = common::BenchDb::new("notify");
    let pool = cockpit_db::connect(&db.url, &Default::default())
        .await
        .unwrap();
    cockpit_db::migrate(&pool).await.unwrap();
    let keyring = Arc::new(Keyring::new(MasterKey::from_bytes([3; 32]), vec![]));

    let hits = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/hook",
        post({
            let hits = hits.clone();
            move |_body: axum::body::Bytes| async move {
                hits.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Three channels take indicator hits; two take other kinds only.
    for (i, events) in [
        vec![],
        vec![EventKind::IndicatorHit],
        vec![EventKind::IndicatorHit, EventKind::AppNew],
        vec![EventKind::SyncFailing],
        vec![EventKind::IncidentClosed],
    ]
    .into_iter()
    .enumerate()
    {
        let id = Uuid::new_v4();
        let url = url::Url::parse(&format!("http://{addr}/hook")).unwrap();
        let sealed = seal_channel(&keyring, id, ChannelKind::Webhook, &url);
        cockpit_db::notify::create_channel(
            &pool,
            "bench",
            &NewChannel {
                id,
                name: &format!("channel {i}"),
                kind: ChannelKind::Webhook,
                target_sealed: &sealed.target,
                target_hint: "http://127.0.0.1",
                secret_sealed: sealed.secret_sealed.as_deref(),
                email_from: None,
                email_to: &[],
                events: &events,
                orgs: None,
                min_severity: Severity::Info,
                audit: false,
                digest: None,
            },
        )
        .await
        .unwrap();
    }

    // The machine's floor: one round trip of the smallest insert.
    sqlx::raw_sql("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, n int)")
        .execute(&pool)
        .await
        .unwrap();
    let mut floor = Vec::with_capacity(events);
    for i in 0..events {
        let mut tx = pool.begin().await.unwrap();
        let started = Instant::now();
        sqlx::query("INSERT INTO bench_floor (n) VALUES ($1)")
            .bind(i as i32)
            .execute(&mut *tx)
            .await
            .unwrap();
        floor.push(started.elapsed().as_secs_f64() * 1e3);
        tx.commit().await.unwrap();
    }
    floor.sort_by(f64::total_cmp);
    println!(
        "floor: one single-row insert, {events} transactions: p50 {:.3} ms, p99 {:.3} ms",
        percentile(&floor, 0.5),
        percentile(&floor, 0.99)
    );

    let mut lat = Vec::with_capacity(events);
    for i in 0..events {
        let mut tx = pool.begin().await.unwrap();
        let n = Notice::new(
            EventKind::IndicatorHit,
            None,
            format!("Published indicators matched calls of App {i}"),
        )
        .detail(serde_json::json!({ "app": format!("App {i}"), "indicators": ["203.0.113.9"], "hits": 1 }))
        .link(format!("/apps/{i}"));
        let started = Instant::now();
        emit(&mut tx, &n).await.unwrap();
        lat.push(started.elapsed().as_secs_f64() * 1e3);
        tx.commit().await.unwrap();
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "writing a notification (3 of 5 channels take it), {events} transactions: \
         p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );

    let deliveries: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries")
        .fetch_one(&pool)
        .await
        .unwrap();
    let d = Deliverer::new(pool.clone(), keyring.clone(), DeliverySettings::default()).unwrap();
    let started = Instant::now();
    while d.run_once().await.unwrap() > 0 {}
    let secs = started.elapsed().as_secs_f64();
    let delivered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'delivered'")
            .fetch_one(&pool)
            .await
            .unwrap();
    println!(
        "delivering {deliveries} webhook requests (signed, batch {}, {} in flight): {delivered} delivered \
         in {secs:.2} s, {:.0} deliveries/s; the receiver counted {}",
        DeliverySettings::default().batch,
        DeliverySettings::default().concurrency,
        delivered as f64 / secs,
        hits.load(Ordering::Relaxed)
    );
    pool.close().await;
    db.drop_it().await;
}
