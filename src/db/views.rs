//! Answers computed from the database, kept until the next write: the answers to status polls
//! (`GET sources/{id}`, `GET operations/{id}`). Clients poll these every few seconds for the whole
//! of a migration, and between two changes every poll would read the same rows again. An answer
//! is stored with the database generation it was computed at ([`super::Db::generation`]) and
//! served only while the generation has not moved, so a client never reads an answer older than
//! a write that was acknowledged before its request.
//!
//! The generation is read before the rows: a write that lands while an answer is being computed
//! moves the generation past the one the answer is stored under, and the answer is never served.
//! The cache belongs to its [`super::Db`], so it dies with it.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use uuid::Uuid;

use crate::error::Result;

/// Past this many answers, those of older generations are dropped (and all of them if every one
/// is current): a bound on memory, not a tuning knob.
const CAPACITY: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Source,
    Operation,
}

/// One answer: what, which one, and on which API base (the links name the base).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub kind: Kind,
    pub id: Uuid,
    pub base: std::sync::Arc<str>,
}

#[derive(Debug, Default)]
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

impl super::Db {
    /// The answer for `key` as of now: the one kept, or `compute`'s, kept for the generation it
    /// was computed at. Also says whether it was kept (`true`) or computed. `compute`'s future
    /// is boxed: an answer from memory carries no room for the reads it did not make (a future
    /// is moved whole, whichever state it is in).
    pub async fn view<C, F>(&self, key: Key, compute: C) -> Result<(Bytes, bool)>
    where
        C: FnOnce() -> F,
        F: Future<Output = Result<Bytes>>,
    {
        let generation = self.generation();
        if let Some(body) = self.views().get(&key, generation) {
            return Ok((body, true));
        }
        let body = Box::pin(compute()).await?;
        self.views().put(key, generation, body.clone());
        Ok((body, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u128) -> Key {
        Key {
            kind: Kind::Source,
            id: Uuid::from_u128(n),
            base: "/MigrateApi/2019.8".into(),
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
            base: "/MigrateApi/2019.5".into(),
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
