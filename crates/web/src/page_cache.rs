//! What the busiest pages read from the database, kept in memory between
//! requests until the data changes.
//!
//! The synced data changes only when something writes it: a sync's merge,
//! an action, an inventory or review edit. Every table those pages read has
//! a statement trigger (migrations 0019) that calls
//! `pg_notify('cockpit_data')`, which PostgreSQL delivers after the writing
//! transaction commits. Each process listens on that channel and counts a
//! generation per notification; an entry is stored under the generation its
//! request started in, and looked up under the current one, so a request
//! that read the data before a commit can never serve it after the
//! notification arrived. Entries also expire after [`TTL`], for what
//! changes with the clock alone (what counts as stale or new).
//!
//! While the listening connection is down nothing is served from memory or
//! stored (a notification could be missed); when it is back, the
//! generation moves on, so nothing from before the gap is served.
//!
//! Only what is the same for every viewer is kept: the session, roles, the
//! org switcher and the buttons a person may press are read and decided per
//! request, and the org checks stay in front of every page (see `auth`).
//! The entries are the pages' query results, weighed by their rows, with a
//! bound on the whole ([`CAPACITY`] rows); moka evicts the least used.

use std::{
    any::Any,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use moka::sync::Cache;
use sqlx::{PgPool, postgres::PgListener};
use tokio_util::sync::CancellationToken;

/// The channel the triggers notify.
pub const CHANNEL: &str = "cockpit_data";

/// How long an entry lives at most: relative times are rendered per request,
/// but counts of stale tokens and new apps depend on the clock.
pub const TTL: Duration = Duration::from_secs(30);

/// Rows kept at most, over every entry (an app page's entry weighs about
/// its 100 authorizations and its history): some tens of MiB.
pub const CAPACITY: u64 = 200_000;

/// Cached page data; cheap to clone. [`PageCache::off`] caches nothing.
#[derive(Clone, Default)]
pub struct PageCache(Option<Arc<Inner>>);

struct Inner {
    generation: AtomicU64,
    /// The listening connection is up and listening.
    live: AtomicBool,
    entries: Cache<(u64, String), Entry>,
    /// Requests answered from memory, and requests that read the database.
    hits: AtomicU64,
    misses: AtomicU64,
    /// Stops the listener when the last handle is dropped.
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[derive(Clone)]
struct Entry {
    value: Arc<dyn Any + Send + Sync>,
    weight: u32,
}

impl PageCache {
    /// Caches nothing: every request reads the database.
    pub fn off() -> PageCache {
        PageCache(None)
    }

    /// Caches, following the database's change notifications from a task of
    /// its own (needs a Tokio runtime). Until it listens, nothing is cached.
    pub fn listening(pool: PgPool) -> PageCache {
        let inner = Arc::new(Inner {
            generation: AtomicU64::new(1),
            live: AtomicBool::new(false),
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .weigher(|_, e: &Entry| e.weight)
                .time_to_live(TTL)
                .build(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stop: CancellationToken::new(),
        });
        let weak = Arc::downgrade(&inner);
        let stop = inner.stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = follow(pool, weak) => {}
            }
        });
        PageCache(Some(inner))
    }

    /// The generation entries are stored and found under now; `None` while
    /// nothing may be cached.
    pub fn generation(&self) -> Option<u64> {
        let inner = self.0.as_ref()?;
        inner
            .live
            .load(Ordering::Acquire)
            .then(|| inner.generation.load(Ordering::Acquire))
    }

    /// Requests answered from memory and requests that read the database
    /// while caching, since the start.
    pub fn counts(&self) -> (u64, u64) {
        self.0.as_ref().map_or((0, 0), |i| {
            (
                i.hits.load(Ordering::Relaxed),
                i.misses.load(Ordering::Relaxed),
            )
        })
    }

    /// The value under `key` for the current generation, or `load`'s, kept
    /// for the next request (`rows` weighs it, with a row more per 256 bytes
    /// of key). Errors are not kept.
    pub async fn get_or_load<T, E>(
        &self,
        key: String,
        rows: impl FnOnce(&T) -> usize,
        load: impl Future<Output = Result<T, E>>,
    ) -> Result<Arc<T>, E>
    where
        T: Send + Sync + 'static,
    {
        let (Some(inner), Some(generation)) = (self.0.as_ref(), self.generation()) else {
            return load.await.map(Arc::new);
        };
        // Keys carry request parameters: long ones weigh more.
        let key_weight = key.len() / 256;
        let key = (generation, key);
        if let Some(found) = inner.entries.get(&key)
            && let Ok(value) = found.value.downcast::<T>()
        {
            inner.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(value);
        }
        inner.misses.fetch_add(1, Ordering::Relaxed);
        let value = Arc::new(load.await?);
        let weight = u32::try_from(rows(&value).saturating_add(1 + key_weight)).unwrap_or(u32::MAX);
        inner.entries.insert(
            key,
            Entry {
                value: value.clone(),
                weight,
            },
        );
        Ok(value)
    }
}

/// Listens for as long as the cache exists, reconnecting after a failure.
async fn follow(pool: PgPool, cache: std::sync::Weak<Inner>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen(&pool, &cache).await {
            Ok(()) => return, // the cache is gone
            Err(e) => {
                tracing::warn!(error = %e, "page cache: change notifications lost; caching paused");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
        if cache.strong_count() == 0 {
            return;
        }
    }
}

/// One listening connection: `Ok` when the cache is gone, `Err` when the
/// connection failed (caching is paused by then).
async fn listen(pool: &PgPool, cache: &std::sync::Weak<Inner>) -> sqlx::Result<()> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    {
        let Some(inner) = cache.upgrade() else {
            return Ok(());
        };
        // Whatever changed while nobody listened: a new generation.
        advance(&inner);
        inner.live.store(true, Ordering::Release);
    }
    loop {
        let received = listener.try_recv().await;
        let Some(inner) = cache.upgrade() else {
            return Ok(());
        };
        match received {
            Ok(Some(_)) => advance(&inner),
            Ok(None) => {
                inner.live.store(false, Ordering::Release);
                return Err(sqlx::Error::Protocol(
                    "the listening connection was closed".into(),
                ));
            }
            Err(e) => {
                inner.live.store(false, Ordering::Release);
                return Err(e);
            }
        }
    }
}

fn advance(inner: &Inner) {
    inner.generation.fetch_add(1, Ordering::AcqRel);
    // Entries of older generations are never found again: free them now.
    inner.entries.invalidate_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generation once the cache listens.
    async fn live(cache: &PageCache) -> u64 {
        moved_past(cache, 0).await
    }

    async fn moved_past(cache: &PageCache, generation: u64) -> u64 {
        for _ in 0..500 {
            if let Some(g) = cache.generation()
                && g > generation
            {
                return g;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the page cache never saw the change");
    }

    async fn load(cache: &PageCache, pool: &PgPool) -> i64 {
        *cache
            .get_or_load("n".into(), |_| 1, async {
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM inventory")
                    .fetch_one(pool)
                    .await
            })
            .await
            .unwrap()
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn a_committed_write_is_seen_by_the_next_request(pool: PgPool) {
        let cache = PageCache::listening(pool.clone());
        let first = live(&cache).await;
        assert_eq!(load(&cache, &pool).await, 0);
        // A write that bypasses the triggers is not seen: the entry is served.
        let mut tx = pool.begin().await.unwrap();
        sqlx::raw_sql("ALTER TABLE inventory DISABLE TRIGGER USER; INSERT INTO inventory (name, status, updated_by) VALUES ('Hidden', 'approved', 'test'); ALTER TABLE inventory ENABLE TRIGGER USER")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(load(&cache, &pool).await, 0, "served from memory");
        // Uncommitted, nothing moves; committed, the generation moves on.
        let mut tx = pool.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO inventory (name, status, updated_by) VALUES ('Seen', 'approved', 'test')",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        assert_eq!(cache.generation(), Some(first));
        tx.commit().await.unwrap();
        moved_past(&cache, first).await;
        assert_eq!(load(&cache, &pool).await, 2);
    }

    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn a_lost_listener_pauses_caching_and_moves_on_when_back(pool: PgPool) {
        let cache = PageCache::listening(pool.clone());
        let first = live(&cache).await;
        assert_eq!(load(&cache, &pool).await, 0);
        // The listening backend dies; a write meanwhile is never notified.
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::raw_sql("ALTER TABLE inventory DISABLE TRIGGER USER; INSERT INTO inventory (name, status, updated_by) VALUES ('Quiet', 'approved', 'test'); ALTER TABLE inventory ENABLE TRIGGER USER")
            .execute(&pool)
            .await
            .unwrap();
        // Back listening, in a later generation: the write is read.
        moved_past(&cache, first).await;
        assert_eq!(load(&cache, &pool).await, 1);
    }

    /// The pages kept in memory, through the router as `serve` runs it:
    /// what a sync changes shows on the next request, and the org checks
    /// still answer before anything is served from memory.
    #[sqlx::test(migrator = "cockpit_db::MIGRATOR")]
    async fn cached_pages_follow_a_sync_and_keep_their_org_checks(pool: PgPool) {
        use crate::testutil::*;
        use axum::body::Body;
        use http::{Request, StatusCode};
        let (org, mut s) = seeded(&pool, "Acme").await;
        let other = new_org(&pool, "Globex").await;
        let state = state(&pool).with_page_cache();
        let first = live(&state.pages).await;
        let admin = admin_cookie(&pool).await;
        let get = |cookie: String, uri: String| {
            let state = state.clone();
            async move {
                let (status, _, body) = send_to(
                    &state,
                    &cookie,
                    Request::get(&uri).body(Body::empty()).unwrap(),
                )
                .await;
                (status, Page(scraper::Html::parse_document(&body)))
            }
        };
        let app = app_id(&pool, org, "0H4A").await;
        let alice = user_uid(&pool, org, "005A").await;
        let holders = |p: &Page| p.texts("#authorizations tbody td.user a");
        for _ in 0..2 {
            let (status, page) = get(admin.clone(), format!("/apps/{app}")).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(holders(&page), ["Alice Smith", "Carol Jones"]);
            let (_, page) = get(admin.clone(), "/users?q=ali".into()).await;
            assert_eq!(page.texts("table.users tbody td.apps"), ["1"]);
            let (_, page) = get(admin.clone(), "/".into()).await;
            assert_eq!(page.texts("#total-tokens"), ["4"]);
        }
        let (hits, _) = state.pages.counts();
        assert!(hits >= 3, "the second round came from memory");
        // Someone with a role in another org only: 404, cached or not.
        let (stranger, _) = member_cookie(&pool, other, "admin").await;
        let (status, _) = get(stranger.clone(), format!("/apps/{app}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = get(stranger, format!("/users/{alice}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Buttons are decided per viewer: a viewer of the org gets none.
        let (viewer, _) = member_cookie(&pool, org, "viewer").await;
        let (status, page) = get(viewer, format!("/apps/{app}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.select("section.actions [data-action]").is_empty());
        let (_, page) = get(admin.clone(), format!("/apps/{app}")).await;
        assert!(!page.select("section.actions [data-action]").is_empty());

        // Alice's token is revoked in Salesforce; the next sync sees it.
        s.tokens.retain(|t| t.id != "0CQ1");
        sync(&pool, org, &s).await;
        moved_past(&state.pages, first).await;
        let (_, page) = get(admin.clone(), format!("/apps/{app}")).await;
        assert_eq!(holders(&page), ["Carol Jones"]);
        let (_, page) = get(admin.clone(), "/users?q=ali".into()).await;
        assert_eq!(page.texts("table.users tbody td.apps"), ["0"]);
        let (_, page) = get(admin.clone(), format!("/users/{alice}")).await;
        assert!(page.texts("#apps tbody td.app a").is_empty());
        let (_, page) = get(admin, "/".into()).await;
        assert_eq!(page.texts("#total-tokens"), ["3"]);
    }

    #[tokio::test]
    async fn off_reads_every_time() {
        let cache = PageCache::off();
        assert_eq!(cache.generation(), None);
        let mut calls = 0;
        for _ in 0..2 {
            cache
                .get_or_load("k".into(), |_| 1, async {
                    calls += 1;
                    Ok::<_, ()>(())
                })
                .await
                .unwrap();
        }
        assert_eq!(calls, 2);
    }
}
