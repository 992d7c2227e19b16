//! The complete OauthToken fetch.
//!
//! Salesforce returns at most 2,500 OauthToken rows per query and then says `done: true` without
//! an error. We count first, then read keyset parts of at most 2,500 rows ordered by CreatedDate
//! (second precision, `>=` the last value seen, deduplicating the overlap by Id). When one second
//! holds 2,500 rows or more, that second is split by UserId, and a (second, user) pair that large
//! by Id. At the end the distinct rows must add up to the count, or the stream ends with
//! [`Error::Incomplete`]. Memory stays bounded: a page per walk is buffered, plus the Ids that
//! share each walk's current boundary value.
//!
//! Each part's query depends on the last row of the part before it, so one walk is a chain of
//! round trips: request, render, send, parse, request again. An org larger than one part is
//! therefore cut first into time slices by CreatedDate (two one-row queries find the oldest and
//! newest token; the slices are whole seconds, so they partition the rows exactly; a slice per
//! ten thousand tokens, sixteen at most), and up to
//! [`CONCURRENT_WALKS`] slices are walked at once, each by the same keyset as above. The first
//! slice is open below and the last open above, so a token created during the fetch is read as
//! the serial walk would read it. The cost is a part or two per slice beyond the serial walk.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, Stream, StreamExt, TryStreamExt};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::client::SalesforceClient;
use crate::error::{Error, Result};
use crate::query::PageOptions;
use crate::records::{OauthToken, soql_datetime};

/// Rows Salesforce returns per OauthToken query at most.
pub const OAUTH_TOKEN_CAP: u64 = 2_500;

/// Time slices an org is cut into at most. More slices than walks keep every walk busy when the
/// tokens crowd into recent years, as they do; each slice costs about one partial part, so an org
/// gets a slice per [`ROWS_PER_SLICE`] tokens (one walk below that).
const SLICES: u64 = 16;
const ROWS_PER_SLICE: u64 = 4 * OAUTH_TOKEN_CAP;

/// Slices walked at once: enough that rendering (Salesforce), parsing (here) and staging
/// (PostgreSQL) overlap; well under Salesforce's 10 open query cursors per user, which the
/// client's cursor pool enforces anyway.
pub const CONCURRENT_WALKS: usize = 4;

/// Rows buffered between the walks and the consumer.
const CHANNEL_ROWS: usize = 8_192;

/// Progress and cost of a complete fetch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// `SELECT COUNT() FROM OauthToken`, once known.
    pub expected: Option<u64>,
    /// Distinct rows delivered so far.
    pub received: u64,
    /// Keyset queries issued.
    pub parts: u64,
    /// REST calls made (count + every page of every part).
    pub api_calls: u64,
    /// True once every row was delivered and the total matched.
    pub complete: bool,
}

/// Stream of every OauthToken row; see the module docs. Only a stream that ends (`None`)
/// without having yielded an error delivered the complete set.
pub struct OauthTokenStream {
    rx: BoxStream<'static, Result<OauthToken>>,
    stats: Arc<Mutex<FetchStats>>,
    task: JoinHandle<()>,
}

impl OauthTokenStream {
    pub fn stats(&self) -> FetchStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for OauthTokenStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream for OauthTokenStream {
    type Item = Result<OauthToken>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_next_unpin(cx)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Level {
    Created,
    User,
    Id,
}

impl Level {
    fn field(self) -> &'static str {
        match self {
            Level::Created => "CreatedDate",
            Level::User => "UserId",
            Level::Id => "Id",
        }
    }

    fn next(self) -> Option<Level> {
        match self {
            Level::Created => Some(Level::User),
            Level::User => Some(Level::Id),
            Level::Id => None,
        }
    }

    fn key(self, t: &OauthToken) -> Option<Key> {
        match self {
            Level::Created => {
                DateTime::from_timestamp(t.created_date.timestamp(), 0).map(Key::Time)
            }
            Level::User => t.user_id.clone().map(Key::Text),
            Level::Id => Some(Key::Text(t.id.clone())),
        }
    }

    /// `field >= key` (inclusive) or `field > key`.
    fn lower(self, key: &Key, inclusive: bool) -> String {
        let f = self.field();
        match key {
            Key::Time(t) if inclusive => format!("{f} >= {}", soql_datetime(*t)),
            Key::Time(t) => format!("{f} >= {}", soql_datetime(*t + TimeDelta::seconds(1))),
            Key::Text(s) if inclusive => format!("{f} >= '{}'", escape(s)),
            Key::Text(s) => format!("{f} > '{}'", escape(s)),
        }
    }

    /// `field == key` (a whole second for datetimes).
    fn equal(self, key: &Key) -> String {
        let f = self.field();
        match key {
            Key::Time(t) => format!(
                "{f} >= {} AND {f} < {}",
                soql_datetime(*t),
                soql_datetime(*t + TimeDelta::seconds(1))
            ),
            Key::Text(s) => format!("{f} = '{}'", escape(s)),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
enum Key {
    Time(DateTime<Utc>),
    Text(String),
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

struct Fetcher {
    client: SalesforceClient,
    /// The SELECT clause.
    fields: &'static str,
    tx: mpsc::Sender<Result<OauthToken>>,
    stats: Arc<Mutex<FetchStats>>,
}

/// Stop signal: the consumer dropped the stream.
struct Closed;

impl Fetcher {
    fn update(&self, f: impl FnOnce(&mut FetchStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn stats(&self) -> FetchStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn emit(&self, row: OauthToken) -> std::result::Result<(), Closed> {
        self.update(|s| s.received += 1);
        self.tx.send(Ok(row)).await.map_err(|_| Closed)
    }

    async fn run(self: &Arc<Self>) -> std::result::Result<Result<()>, Closed> {
        self.update(|s| s.api_calls += 1);
        let expected = match self.client.count("SELECT COUNT() FROM OauthToken").await {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        self.update(|s| s.expected = Some(expected));
        if let Err(e) = self.walk(expected).await? {
            return Ok(Err(e));
        }
        let got = self.stats().received;
        if got == expected {
            self.update(|s| s.complete = true);
            return Ok(Ok(()));
        }
        // Rows may have been created or revoked meanwhile: accept a total that a fresh count
        // confirms, never a short list against it.
        self.update(|s| s.api_calls += 1);
        let recount = match self.client.count("SELECT COUNT() FROM OauthToken").await {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        if got == recount {
            self.update(|s| {
                s.expected = Some(recount);
                s.complete = true;
            });
            Ok(Ok(()))
        } else {
            Ok(Err(Error::Incomplete {
                expected: recount,
                got,
            }))
        }
    }

    /// Delivers every row once: one keyset walk for an org that fits in a few parts, else time
    /// slices walked [`CONCURRENT_WALKS`] at a time (see the module docs).
    async fn walk(self: &Arc<Self>, expected: u64) -> std::result::Result<Result<()>, Closed> {
        let wanted = (expected / ROWS_PER_SLICE).min(SLICES) as i64;
        let slices = if wanted < 2 {
            Vec::new()
        } else {
            match self.slices(wanted).await {
                Ok(s) => s,
                Err(e) => return Ok(Err(e)),
            }
        };
        if slices.len() < 2 {
            return self
                .range(Level::Created, Vec::new(), &HashSet::new())
                .await;
        }
        let mut walks = JoinSet::new();
        let mut pending = slices.into_iter();
        let spawn = |walks: &mut JoinSet<_>, filters: Vec<String>| {
            let fetcher = Arc::clone(self);
            walks.spawn(async move {
                fetcher
                    .range(Level::Created, filters, &HashSet::new())
                    .await
            });
        };
        for filters in pending.by_ref().take(CONCURRENT_WALKS) {
            spawn(&mut walks, filters);
        }
        // Dropping the set (an error, or this task aborted) aborts the other walks.
        while let Some(done) = walks.join_next().await {
            match done {
                Ok(Ok(Ok(()))) => {
                    if let Some(filters) = pending.next() {
                        spawn(&mut walks, filters);
                    }
                }
                Ok(Ok(Err(e))) => return Ok(Err(e)),
                Ok(Err(Closed)) => return Err(Closed),
                Err(e) => {
                    return Ok(Err(Error::Protocol(format!(
                        "an OauthToken walk ended abnormally: {e}"
                    ))));
                }
            }
        }
        Ok(Ok(()))
    }

    /// The filters of up to `wanted` time slices, oldest first: whole seconds from the oldest
    /// token's to the newest's, the first slice open below and the last open above. Fewer than
    /// two when the tokens span too few seconds to cut.
    async fn slices(&self, wanted: i64) -> Result<Vec<Vec<String>>> {
        let mut ends = Vec::with_capacity(2);
        for dir in ["ASC", "DESC"] {
            let soql = format!(
                "SELECT Id, CreatedDate FROM OauthToken ORDER BY CreatedDate {dir} LIMIT 1"
            );
            let mut pages = self.client.query_pages_with::<OauthToken>(
                &soql,
                PageOptions {
                    all: false,
                    limit: Some(1),
                },
            );
            let mut end = None;
            while let Some(page) = pages.next().await {
                self.update(|s| s.api_calls += 1);
                if let Some(row) = page?.records.into_iter().next() {
                    end = Some(row.created_date.timestamp());
                }
            }
            match end {
                Some(t) => ends.push(t),
                // Every token went between the count and now: one walk finds out.
                None => return Ok(Vec::new()),
            }
        }
        let (oldest, newest) = (ends[0], ends[1] + 1);
        let span = newest - oldest;
        let n = wanted.min(span);
        if n < 2 {
            return Ok(Vec::new());
        }
        let Some(cuts) = (0..=n)
            .map(|i| DateTime::from_timestamp(oldest + span * i / n, 0))
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(Vec::new());
        };
        Ok((0..n as usize)
            .map(|i| {
                let mut filters = Vec::with_capacity(2);
                if i > 0 {
                    filters.push(format!("CreatedDate >= {}", soql_datetime(cuts[i])));
                }
                if i + 1 < n as usize {
                    filters.push(format!("CreatedDate < {}", soql_datetime(cuts[i + 1])));
                }
                filters
            })
            .collect())
    }

    /// Fetch every row matching `filters`, keyset on `level`. Rows whose Id is in `inherited`
    /// were already delivered by the enclosing level.
    fn range<'a>(
        &'a self,
        level: Level,
        filters: Vec<String>,
        inherited: &'a HashSet<String>,
    ) -> BoxFuture<'a, std::result::Result<Result<()>, Closed>> {
        Box::pin(async move {
            let mut lower: Option<(Key, bool)> = None;
            // Ids delivered whose key equals the current lower bound.
            let mut at_boundary: HashSet<String> = HashSet::new();
            loop {
                let mut conds = filters.clone();
                if let Some((key, inclusive)) = &lower {
                    conds.push(level.lower(key, *inclusive));
                }
                let where_clause = if conds.is_empty() {
                    String::new()
                } else {
                    format!(" WHERE {}", conds.join(" AND "))
                };
                let soql = format!(
                    "SELECT {} FROM OauthToken{where_clause} ORDER BY {} LIMIT {OAUTH_TOKEN_CAP}",
                    self.fields,
                    level.field()
                );
                self.update(|s| s.parts += 1);
                tracing::debug!(level = ?level, "OauthToken part");
                let mut pages = self.client.query_pages_with::<OauthToken>(
                    &soql,
                    PageOptions {
                        all: false,
                        limit: Some(OAUTH_TOKEN_CAP),
                    },
                );
                let mut rows = 0u64;
                let mut first_key: Option<Option<Key>> = None;
                let mut last_key: Option<Key> = None;
                let mut new_boundary: HashSet<String> = HashSet::new();
                while let Some(page) = pages.next().await {
                    self.update(|s| s.api_calls += 1);
                    let page = match page {
                        Ok(p) => p,
                        Err(e) => return Ok(Err(e)),
                    };
                    for row in page.records {
                        rows += 1;
                        let key = level.key(&row);
                        if first_key.is_none() {
                            first_key = Some(key.clone());
                        }
                        if key != last_key {
                            new_boundary.clear();
                            last_key = key.clone();
                        }
                        new_boundary.insert(row.id.clone());
                        let dup = inherited.contains(&row.id)
                            || (lower.as_ref().is_some_and(|(k, _)| Some(k) == key.as_ref())
                                && at_boundary.contains(&row.id));
                        if !dup {
                            self.emit(row).await?;
                        }
                    }
                }
                drop(pages);
                if rows < OAUTH_TOKEN_CAP {
                    return Ok(Ok(()));
                }
                let Some(last) = last_key else {
                    // A null UserId fills a whole part: cannot split further; the final count
                    // check reports the gap.
                    return Ok(Ok(()));
                };
                if first_key.as_ref() == Some(&Some(last.clone())) {
                    // The whole part shares one key value: split it on the next level.
                    let Some(sub) = level.next() else {
                        return Ok(Err(Error::Protocol(
                            "OauthToken keyset on Id did not advance".into(),
                        )));
                    };
                    let mut sub_filters = filters.clone();
                    sub_filters.push(level.equal(&last));
                    let mut sub_inherited: HashSet<String> = inherited.clone();
                    let same_as_lower = lower.as_ref().is_some_and(|(k, _)| *k == last);
                    if same_as_lower {
                        sub_inherited.extend(at_boundary.iter().cloned());
                    }
                    sub_inherited.extend(new_boundary);
                    if let Err(e) = self.range(sub, sub_filters, &sub_inherited).await? {
                        return Ok(Err(e));
                    }
                    lower = Some((last, false));
                    at_boundary.clear();
                } else {
                    let unique = level == Level::Id;
                    lower = Some((last, !unique));
                    at_boundary = if unique { HashSet::new() } else { new_boundary };
                }
            }
        })
    }
}

impl SalesforceClient {
    /// Every OauthToken row, complete or ending in an error; see [`OauthTokenStream`].
    /// Needs a Tokio runtime (the fetch runs as a task feeding a bounded channel).
    ///
    /// "Every" means every row the running user can see: without Customize Application (or
    /// View All Data) Salesforce silently scopes both the count and the rows to the user's own
    /// tokens. Check [`SalesforceClient::user_permissions`] first.
    pub fn oauth_tokens_complete(&self) -> OauthTokenStream {
        self.oauth_tokens_complete_with(OauthToken::FIELDS)
    }

    /// [`SalesforceClient::oauth_tokens_complete`] reading only `fields` (a SELECT clause, which
    /// must include Id, CreatedDate and UserId, the keys of the parts); the fields left out are
    /// `None` in the rows. Fewer fields are fewer bytes to render, send and parse per row.
    pub fn oauth_tokens_complete_with(&self, fields: &'static str) -> OauthTokenStream {
        let (tx, mut rx) = mpsc::channel::<Result<OauthToken>>(CHANNEL_ROWS);
        let stats = Arc::new(Mutex::new(FetchStats::default()));
        let fetcher = Arc::new(Fetcher {
            client: self.clone(),
            fields,
            tx,
            stats: stats.clone(),
        });
        let task = tokio::spawn(async move {
            if let Ok(Err(e)) = fetcher.run().await {
                let _ = fetcher.tx.send(Err(e)).await;
            }
        });
        let rx = stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed();
        OauthTokenStream { rx, stats, task }
    }

    /// Collect every OauthToken row (for small orgs and tests).
    pub async fn oauth_tokens_all(&self) -> Result<(Vec<OauthToken>, FetchStats)> {
        let mut s = self.oauth_tokens_complete();
        let rows: Vec<OauthToken> = (&mut s).try_collect().await?;
        let stats = s.stats();
        if !stats.complete {
            return Err(Error::Incomplete {
                expected: stats.expected.unwrap_or(0),
                got: stats.received,
            });
        }
        Ok((rows, stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_conditions() {
        let t = DateTime::parse_from_rfc3339("2026-04-06T16:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let k = Key::Time(t);
        assert_eq!(
            Level::Created.lower(&k, true),
            "CreatedDate >= 2026-04-06T16:00:00Z"
        );
        assert_eq!(
            Level::Created.lower(&k, false),
            "CreatedDate >= 2026-04-06T16:00:01Z"
        );
        assert_eq!(
            Level::Created.equal(&k),
            "CreatedDate >= 2026-04-06T16:00:00Z AND CreatedDate < 2026-04-06T16:00:01Z"
        );
        let u = Key::Text("005'x".into());
        assert_eq!(Level::User.lower(&u, true), "UserId >= '005\\'x'");
        assert_eq!(Level::Id.lower(&u, false), "Id > '005\\'x'");
        assert_eq!(Level::User.equal(&u), "UserId = '005\\'x'");
    }

    /// The literal a keyset condition carries, as sfsim's SOQL parser (the
    /// same grammar as Salesforce's) reads it back.
    fn literal_of(condition: &str) -> sfsim::soql::Lit {
        let q = sfsim::soql::parse(&format!("SELECT Id FROM OauthToken WHERE {condition}"))
            .unwrap_or_else(|e| panic!("{condition}: {e:?}"));
        let mut e = q.where_.expect("a WHERE clause");
        loop {
            match e {
                sfsim::soql::Expr::And(mut parts) => e = parts.remove(0),
                sfsim::soql::Expr::Cmp { lit, .. } => return lit,
                other => panic!("{condition}: {other:?}"),
            }
        }
    }

    proptest::proptest! {
        /// Any key, quotes and backslashes included, survives the trip
        /// through the SOQL the client builds.
        #[test]
        fn keyset_conditions_round_trip(text in "\\PC{0,40}", secs in 0i64..4_102_444_800) {
            for cond in [
                Level::Id.lower(&Key::Text(text.clone()), false),
                Level::User.lower(&Key::Text(text.clone()), true),
                Level::User.equal(&Key::Text(text.clone())),
            ] {
                proptest::prop_assert_eq!(literal_of(&cond), sfsim::soql::Lit::Str(text.clone()));
            }
            let t = DateTime::from_timestamp(secs, 0).unwrap();
            proptest::prop_assert_eq!(
                literal_of(&Level::Created.lower(&Key::Time(t), true)),
                sfsim::soql::Lit::DateTime(t.timestamp_millis())
            );
        }
    }
}
