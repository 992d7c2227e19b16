//! The tokens an org holds, kept in memory during its sync as one hash of
//! each live row's values, so that a token Salesforce returns unchanged is
//! neither staged nor compared in SQL: a resync where nothing changed writes
//! no staging row, and the merge looks only at what changed.
//!
//! The hash is keyed at random for each sync (std's `RandomState`), so
//! values chosen in Salesforce cannot be made to collide with a stored row.
//! It is only a filter: whatever it lets through is still compared column by
//! column by the merge, which writes nothing that is unchanged.
//!
//! The set is read once, under the org's sync lock, when the first tokens are
//! staged. Only syncs write tokens' values; an action may mark a token gone
//! meanwhile. Such a token, if Salesforce still lists it unchanged, stays gone
//! until the next sync (which no longer counts it as live, so stages it and
//! the merge brings it back, as a merge always did for a gone token listed).
//! Nothing the snapshot lacks is ever kept live: the merge marks gone exactly
//! the live tokens of that set that the complete snapshot did not contain.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    copy::{BinaryReader, MAX_TEXT_CHARS, int_field, micros_field, text_field},
    sync::StagedToken,
};

/// Salesforce ids are 18 characters; any other id is kept in `odd`.
type Key = [u8; 18];

pub(crate) struct StoredTokens {
    state: RandomState,
    /// Sorted by id: 32 bytes a token, about 32 MB for a million.
    sorted: Vec<(Key, u64)>,
    seen: Vec<bool>,
    odd: HashMap<String, (u64, bool)>,
}

fn key(id: &str) -> Option<Key> {
    id.as_bytes().try_into().ok()
}

fn values_hash(
    state: &RandomState,
    app_key: &str,
    user_id: &str,
    app_name: &str,
    created_micros: Option<i64>,
    last_used_micros: Option<i64>,
    use_count: Option<i64>,
) -> u64 {
    state.hash_one((
        app_key,
        user_id,
        app_name,
        created_micros,
        last_used_micros,
        use_count,
    ))
}

/// Postgres keeps microseconds, and COPY sends no more (`copy::BinaryRows::time`).
fn micros(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_micros())
}

/// Whether the text is stored exactly as sent: COPY cuts longer text and
/// replaces NUL (see `copy`), and such a row is left to the SQL compare.
fn stored_as_is(text: &str) -> bool {
    text.len() <= MAX_TEXT_CHARS && !text.contains('\0')
}

impl StoredTokens {
    fn new() -> Self {
        StoredTokens {
            state: RandomState::new(),
            sorted: Vec::new(),
            seen: Vec::new(),
            odd: HashMap::new(),
        }
    }

    fn insert(&mut self, id: &str, hash: u64) {
        match key(id) {
            Some(k) => self.sorted.push((k, hash)),
            None => {
                self.odd.insert(id.to_owned(), (hash, false));
            }
        }
    }

    /// Ready for lookups once every stored token is in.
    fn finish(mut self) -> Self {
        self.sorted.sort_unstable_by_key(|(k, _)| *k);
        self.seen = vec![false; self.sorted.len()];
        self
    }

    /// Reads the org's live tokens (one pass over its rows), as a binary
    /// COPY: a million rows are hashed straight from the bytes the server
    /// sends, with no row or string built for each.
    pub(crate) async fn load(conn: &mut PgConnection, org: Uuid) -> sqlx::Result<Self> {
        let mut stored = StoredTokens::new();
        // COPY takes no parameters; `org` is a UUID, safe to splice.
        let statement = format!(
            "COPY (SELECT id, app_key, user_id, app_name, created_at, last_used_at, use_count
                   FROM sf_tokens WHERE org_id = '{org}' AND gone_at IS NULL) TO STDOUT (FORMAT binary)"
        );
        let mut chunks = conn.copy_out_raw(&statement).await?;
        let mut reader = BinaryReader::default();
        while let Some(chunk) = chunks.try_next().await? {
            reader.feed(&chunk, |f| {
                let [
                    id,
                    app_key,
                    user_id,
                    app_name,
                    created_at,
                    last_used_at,
                    use_count,
                ] = f
                else {
                    return Err(sqlx::Error::Protocol(format!(
                        "stored tokens: {} columns instead of 7",
                        f.len()
                    )));
                };
                let hash = values_hash(
                    &stored.state,
                    text_field(*app_key)?,
                    text_field(*user_id)?,
                    text_field(*app_name)?,
                    micros_field(*created_at)?,
                    micros_field(*last_used_at)?,
                    int_field(*use_count)?,
                );
                stored.insert(text_field(*id)?, hash);
                Ok(())
            })?;
        }
        drop(chunks);
        if !reader.finished() {
            return Err(sqlx::Error::Protocol(
                "stored tokens: the COPY ended early".into(),
            ));
        }
        Ok(stored.finish())
    }

    /// Marks the token as present in the snapshot, and tells whether it is
    /// stored, live, with these very values (so it needs no write).
    pub(crate) fn seen_unchanged(&mut self, t: &StagedToken) -> bool {
        let stored = match key(&t.id) {
            Some(k) => match self.sorted.binary_search_by(|(x, _)| x.cmp(&k)) {
                Ok(i) => {
                    self.seen[i] = true;
                    self.sorted[i].1
                }
                Err(_) => return false,
            },
            None => match self.odd.get_mut(&t.id) {
                Some((hash, seen)) => {
                    *seen = true;
                    *hash
                }
                None => return false,
            },
        };
        stored_as_is(&t.app_key)
            && stored_as_is(&t.user_id)
            && stored_as_is(&t.app_name)
            && stored
                == values_hash(
                    &self.state,
                    &t.app_key,
                    &t.user_id,
                    &t.app_name,
                    micros(t.created_at),
                    micros(t.last_used_at),
                    t.use_count,
                )
    }

    /// The live tokens the snapshot did not contain.
    pub(crate) fn unseen(&self) -> impl Iterator<Item = &str> {
        let sorted = self
            .sorted
            .iter()
            .zip(&self.seen)
            .filter(|(_, seen)| !**seen)
            // Keys are ids as read from Postgres: valid UTF-8.
            .filter_map(|((k, _), _)| std::str::from_utf8(k).ok());
        let odd = self
            .odd
            .iter()
            .filter(|(_, (_, seen))| !*seen)
            .map(|(id, _)| id.as_str());
        sorted.chain(odd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: &str, uses: i64) -> StagedToken {
        StagedToken {
            id: id.into(),
            app_key: "0H4000000000000AAA".into(),
            user_id: "005000000000000AAA".into(),
            app_name: "App".into(),
            created_at: DateTime::from_timestamp(1_700_000_000, 123_456_789),
            last_used_at: None,
            use_count: Some(uses),
        }
    }

    fn stored(tokens: &[StagedToken]) -> StoredTokens {
        let mut stored = StoredTokens::new();
        for t in tokens {
            // As Postgres gives them back: microseconds.
            let hash = values_hash(
                &stored.state,
                &t.app_key,
                &t.user_id,
                &t.app_name,
                micros(t.created_at),
                micros(t.last_used_at),
                t.use_count,
            );
            stored.insert(&t.id, hash);
        }
        stored.finish()
    }

    #[test]
    fn unchanged_changed_new_and_unseen() {
        let a = token("0CQ000000000001AAA", 1);
        let b = token("0CQ000000000002AAA", 1);
        let odd = token("0CQshort", 1);
        let gone = token("0CQ000000000003AAA", 1);
        let mut s = stored(&[a.clone(), b.clone(), odd.clone(), gone.clone()]);
        assert!(s.seen_unchanged(&a), "same values, nanoseconds aside");
        assert!(!s.seen_unchanged(&token(&b.id, 2)), "use count changed");
        assert!(s.seen_unchanged(&odd));
        assert!(!s.seen_unchanged(&token("0CQ000000000009AAA", 1)), "new");
        let mut hostile = token(&a.id, 1);
        hostile.app_name = "App\0".into();
        assert!(!s.seen_unchanged(&hostile), "stored otherwise than sent");
        assert_eq!(s.unseen().collect::<Vec<_>>(), [gone.id.as_str()]);
    }
}
