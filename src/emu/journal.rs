//! A bounded journal of the requests the emulator received (`GET /_emu/requests`), and of those
//! to API paths it does not implement. Memory stays flat: the oldest entries give way.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Mutex;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Longest path or query kept per entry: a huge URL must not make one entry huge.
const MAX_TEXT: usize = 2048;

/// A request the emulator received.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub request_id: Option<String>,
    // The standard methods are static text: no allocation for them on every request.
    #[schema(value_type = String)]
    pub method: Cow<'static, str>,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    pub duration_ms: f64,
    /// False when the path is under the API but nothing implements it.
    pub implemented: bool,
    /// Members of the request's JSON body that the emulator does not know and ignored, as the
    /// real server does (`--strict-bodies` refuses them instead).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored_members: Vec<String>,
}

/// Marks a response from the API's fallback: the client asked for something not emulated.
#[derive(Debug, Clone, Copy)]
pub struct Unimplemented;

pub struct Journal {
    capacity: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    next: u64,
    entries: Ring,
    unimplemented: VecDeque<Entry>,
    /// Ignored body members by request id, until the request's entry is recorded.
    ignored: Vec<(String, Vec<String>)>,
}

/// The newest entries, at most the journal's capacity: once full, a new entry is written over
/// the oldest in place (its texts' memory reused, nothing moved), as every request is journalled.
#[derive(Default)]
struct Ring {
    slots: Vec<Entry>,
    /// Once full, the oldest entry's slot (the next one written); 0 until then. The entries,
    /// oldest first, are `slots[oldest..]` then `slots[..oldest]`.
    oldest: usize,
}

impl Ring {
    /// The slot of a new entry: a blank one while there is room, else the oldest entry's.
    fn slot(&mut self, capacity: usize) -> &mut Entry {
        if self.slots.len() < capacity {
            self.slots.push(Entry::blank());
            return self.slots.last_mut().expect("an entry was just pushed");
        }
        let at = self.oldest;
        self.oldest = (at + 1) % self.slots.len();
        &mut self.slots[at]
    }

    fn newest_first(&self) -> impl Iterator<Item = &Entry> {
        let (newer, older) = self.slots.split_at(self.oldest);
        newer.iter().rev().chain(older.iter().rev())
    }

    fn len(&self) -> usize {
        self.slots.len()
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.oldest = 0;
    }
}

/// Requests whose ignored members wait for their entry at once: a bound, not a tuning knob.
const MAX_PENDING_IGNORED: usize = 256;

#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// Only this method.
    #[param(example = "GET")]
    pub method: Option<String>,
    /// Only paths that start with this.
    #[param(example = "/MigrateApi/2019.8/sources")]
    pub path_prefix: Option<String>,
    /// Only answers with this status (100-599).
    #[param(minimum = 100, maximum = 599)]
    pub status: Option<u16>,
    /// At most this many (default 100).
    #[param(minimum = 0)]
    pub limit: Option<usize>,
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner {
                next: 1,
                entries: Ring::default(),
                unimplemented: VecDeque::new(),
                ignored: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Note the body members a request's handler ignored, for the request's entry.
    pub fn note_ignored(&self, request_id: &str, members: Vec<String>) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        if inner.ignored.len() >= MAX_PENDING_IGNORED {
            inner.ignored.remove(0);
        }
        inner.ignored.push((request_id.to_owned(), members));
    }

    pub fn record(&self, entry: Entry) {
        self.record_with(|slot| *slot = entry);
    }

    /// Record an entry that `fill` writes over the slot the journal gives it: once the journal
    /// is full, the oldest entry's, whose texts `fill` writes again rather than allocate anew.
    fn record_with(&self, fill: impl FnOnce(&mut Entry)) {
        if self.capacity == 0 {
            return;
        }
        let inner = &mut *self.lock();
        let entry = inner.entries.slot(self.capacity);
        fill(entry);
        // Almost always empty: no cost for requests whose bodies were fully understood.
        if !inner.ignored.is_empty()
            && let Some(id) = entry.request_id.as_deref()
            && let Some(at) = inner.ignored.iter().position(|(r, _)| r == id)
        {
            entry.ignored_members = inner.ignored.swap_remove(at).1;
        }
        entry.seq = inner.next;
        inner.next += 1;
        if !entry.implemented {
            if inner.unimplemented.len() >= self.capacity {
                inner.unimplemented.pop_front();
            }
            inner.unimplemented.push_back(entry.clone());
        }
    }

    /// Newest first, filtered.
    pub fn list(&self, filter: &Filter, unimplemented_only: bool) -> (Vec<Entry>, usize) {
        let inner = self.lock();
        let (newest_first, total): (Box<dyn Iterator<Item = &Entry>>, _) = match unimplemented_only
        {
            true => (
                Box::new(inner.unimplemented.iter().rev()),
                inner.unimplemented.len(),
            ),
            false => (Box::new(inner.entries.newest_first()), inner.entries.len()),
        };
        let matching = newest_first.filter(|e| {
            filter
                .method
                .as_deref()
                .is_none_or(|m| e.method.eq_ignore_ascii_case(m))
                && filter
                    .path_prefix
                    .as_deref()
                    .is_none_or(|p| e.path.starts_with(p))
                && filter.status.is_none_or(|s| e.status == s)
        });
        let entries: Vec<Entry> = matching
            .take(filter.limit.unwrap_or(100).min(self.capacity.max(1)))
            .cloned()
            .collect();
        (entries, total)
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.unimplemented.clear();
        inner.ignored.clear();
    }
}

fn method_text(method: &Method) -> Cow<'static, str> {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    match STANDARD.iter().find(|m| *m == method) {
        Some(standard) => Cow::Borrowed(standard.as_str()),
        None => Cow::Owned(method.as_str().to_owned()),
    }
}

fn clip(text: &str) -> String {
    let mut clipped = String::new();
    clip_into(&mut clipped, text);
    clipped
}

/// `text`, cut at [`MAX_TEXT`] bytes (and marked so), written over `into`.
fn clip_into(into: &mut String, text: &str) {
    into.clear();
    if text.len() <= MAX_TEXT {
        return into.push_str(text);
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    into.push_str(&text[..end]);
    into.push('…');
}

/// `value` written over `into`, keeping the memory `into` holds.
fn set_text(into: &mut Option<String>, value: Option<&str>) {
    match (into.as_mut(), value) {
        (Some(text), Some(value)) => clip_into(text, value),
        (None, Some(value)) => *into = Some(clip(value)),
        (_, None) => *into = None,
    }
}

impl Entry {
    fn blank() -> Self {
        Self {
            seq: 0,
            at: DateTime::UNIX_EPOCH,
            request_id: None,
            method: Cow::Borrowed(""),
            path: String::new(),
            query: None,
            status: 0,
            duration_ms: 0.0,
            implemented: true,
            ignored_members: Vec::new(),
        }
    }
}

/// A request on its way, to be journalled with its answer (every request but reads of the
/// journal itself). Taken by `crate::per_request` before the request runs. Its parts are
/// shared, not copied: the entry's texts are written once, when it is recorded.
pub struct Pending {
    method: Cow<'static, str>,
    uri: Uri,
    request_id: HeaderValue,
}

impl Pending {
    /// `request_id` is the one the answer will carry.
    pub fn begin(request: &Request, request_id: &HeaderValue) -> Option<Self> {
        if request.uri().path().starts_with("/_emu/requests") {
            return None;
        }
        Some(Self {
            method: method_text(request.method()),
            uri: request.uri().clone(),
            request_id: request_id.clone(),
        })
    }

    /// The request was answered with `response` after `took` (as the metrics counted it).
    pub fn finish(self, journal: &Journal, response: &Response, took: std::time::Duration) {
        journal.record_with(|entry| {
            entry.at = Utc::now();
            set_text(&mut entry.request_id, self.request_id.to_str().ok());
            entry.method = self.method;
            clip_into(&mut entry.path, self.uri.path());
            set_text(&mut entry.query, self.uri.query());
            entry.status = response.status().as_u16();
            entry.duration_ms = took.as_secs_f64() * 1000.0;
            entry.implemented = response.extensions().get::<Unimplemented>().is_none();
            entry.ignored_members.clear();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, implemented: bool) -> Entry {
        Entry {
            seq: 0,
            at: Utc::now(),
            request_id: None,
            method: "GET".into(),
            path: path.into(),
            query: None,
            status: 200,
            duration_ms: 1.0,
            implemented,
            ignored_members: Vec::new(),
        }
    }

    #[test]
    fn keeps_the_newest_within_its_capacity() {
        let j = Journal::new(3);
        for i in 0..10 {
            j.record(entry(&format!("/p{i}"), i % 2 == 0));
        }
        let (all, total) = j.list(&Filter::default(), false);
        assert_eq!(total, 3);
        assert_eq!(
            all.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            vec!["/p9", "/p8", "/p7"]
        );
        assert_eq!(all[0].seq, 10);
        let (unimplemented, total) = j.list(&Filter::default(), true);
        assert_eq!(total, 3);
        assert!(unimplemented.iter().all(|e| !e.implemented));
        let (some, _) = j.list(
            &Filter {
                path_prefix: Some("/p8".into()),
                ..Filter::default()
            },
            false,
        );
        assert_eq!(some.len(), 1);
        j.clear();
        assert!(j.is_empty());
    }

    #[test]
    fn recycled_entries_hold_only_their_own_request() {
        let j = Journal::new(2);
        let answer = |status: u16| {
            let mut response = Response::new(axum::body::Body::empty());
            *response.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
            response
        };
        let sent = [
            ("PUT", "/a?x=1", "id-1", 204),
            ("GET", "/b", "id-2", 200),
            ("POST", "/c?y=2", "id-3", 201),
            ("GET", "/d", "id-4", 404),
        ];
        for (method, uri, id, status) in sent {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .body(axum::body::Body::empty())
                .unwrap();
            let pending = Pending::begin(&request, &HeaderValue::from_static(id)).unwrap();
            pending.finish(&j, &answer(status), std::time::Duration::from_millis(3));
        }
        let (all, _) = j.list(&Filter::default(), false);
        let seen: Vec<_> = (all.iter())
            .map(|e| {
                let id = e.request_id.as_deref().unwrap();
                (
                    &*e.method,
                    e.path.as_str(),
                    e.query.as_deref(),
                    id,
                    e.status,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("GET", "/d", None, "id-4", 404),
                ("POST", "/c", Some("y=2"), "id-3", 201),
            ]
        );
        assert!(all.iter().all(|e| e.duration_ms == 3.0 && e.implemented));
    }

    #[test]
    fn long_paths_are_clipped() {
        assert_eq!(clip(&"é".repeat(3000)).chars().count(), 1025);
    }
}
