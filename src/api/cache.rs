//! The answers to status polls (`GET sources/{id}`, `GET operations/{id}`), kept until the next
//! write. Clients poll these every few seconds for the whole of a migration, and between two
//! changes every poll would read the same rows again: six queries for a source, each a trip to
//! SQLite's thread. An answer is stored with the database generation it was computed at
//! ([`crate::db::Db::generation`]) and served only while the generation has not moved, so a
//! client never reads an answer older than a write that was acknowledged before its request.
//!
//! The generation is read before the rows: a write that lands while an answer is being computed
//! moves the generation past the one the answer is stored under, and the answer is never served.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{AppError, Result};
use crate::state::AppState;

/// Past this many answers, those of older generations are dropped (and all of them if every one
/// is current): a bound on memory, not a tuning knob.
const CAPACITY: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Source,
    Operation,
}

/// One answer: what, which one, and on which API base (the links name the base).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub kind: Kind,
    pub id: Uuid,
    pub base: &'static str,
}

#[derive(Default)]
pub struct ViewCache {
    entries: Mutex<HashMap<Key, (u64, Bytes)>>,
}

impl ViewCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (u64, Bytes)>> {
        // Entries are whole values: a panic elsewhere cannot leave one half-written.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The answer computed at `generation`, if there is one.
    pub fn get(&self, key: &Key, generation: u64) -> Option<Bytes> {
        let entries = self.lock();
        let (at, body) = entries.get(key)?;
        (*at == generation).then(|| body.clone())
    }

    pub fn put(&self, key: Key, generation: u64, body: Bytes) {
        let mut entries = self.lock();
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| *at == generation);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, (generation, body));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Answer `key` from the cache, or compute it, store it and answer it, as JSON.
pub async fn json<T, F>(state: &AppState, key: Key, compute: F) -> Result<Response>
where
    T: Serialize,
    F: Future<Output = Result<T>>,
{
    let generation = state.db.generation();
    if let Some(body) = state.views.get(&key, generation) {
        state.metrics.poll_answered(true);
        return Ok(answer(body));
    }
    state.metrics.poll_answered(false);
    let view = compute.await?;
    let body = Bytes::from(serde_json::to_vec(&view).map_err(AppError::internal)?);
    state.views.put(key, generation, body.clone());
    Ok(answer(body))
}

fn answer(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u128) -> Key {
        Key {
            kind: Kind::Source,
            id: Uuid::from_u128(n),
            base: "/MigrateApi/2019.8",
        }
    }

    #[test]
    fn serves_an_answer_only_at_its_generation() {
        let cache = ViewCache::default();
        cache.put(key(1), 7, Bytes::from_static(b"seven"));
        assert_eq!(cache.get(&key(1), 7).as_deref(), Some(&b"seven"[..]));
        assert_eq!(cache.get(&key(1), 8), None, "a write moved the generation");
        assert_eq!(cache.get(&key(2), 7), None);
        let other_base = Key {
            base: "/MigrateApi/2019.5",
            ..key(1)
        };
        assert_eq!(cache.get(&other_base, 7), None, "links differ by base");
        let operation = Key {
            kind: Kind::Operation,
            ..key(1)
        };
        assert_eq!(cache.get(&operation, 7), None);
    }

    #[test]
    fn stays_within_its_capacity() {
        let cache = ViewCache::default();
        for n in 0..CAPACITY as u128 {
            cache.put(key(n), 1, Bytes::from_static(b"old"));
        }
        assert_eq!(cache.len(), CAPACITY);
        // Full of answers from an older generation: they make room.
        cache.put(key(u128::MAX), 2, Bytes::from_static(b"new"));
        assert_eq!(cache.len(), 1);
        // Full of current answers: they all go, and the newest stays.
        for n in 0..CAPACITY as u128 {
            cache.put(key(n), 2, Bytes::from_static(b"current"));
            assert!(cache.len() <= CAPACITY);
        }
        let last = key(CAPACITY as u128 - 1);
        assert_eq!(cache.get(&last, 2).as_deref(), Some(&b"current"[..]));
    }
}
