//! Extractors whose rejections are `AppError`s, so a malformed request gets the same JSON error
//! body as every other failure.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::state::AppState;

/// A JSON body. Members its type does not know are ignored, as the real server (ASP.NET)
/// ignores them, and named in the request's journal entry; under `--strict-bodies` they are
/// refused with a 400 that names the first one (SPEC 9). A type that denies unknown fields (the
/// control plane's own bodies) refuses them either way.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        read_body(req, state, from_json::<T>).await.map(Json)
    }
}

/// A JSON body read by `read` (its value, and the members it ignored): [`Json`]'s refusals
/// (415, 413, a body that is no object) before it, and its handling of ignored members after.
/// For a body type with a faster way to read it than [`from_json`].
pub async fn read_body<T>(
    req: Request,
    state: &AppState,
    read: impl FnOnce(&[u8]) -> Result<(T, Vec<String>), AppError>,
) -> Result<T, AppError> {
    // Scripts often leave out the content type; take a body without one as JSON. A body that
    // says it is something else is still refused (415).
    if !is_json(req.headers()) {
        return Err(AppError::UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json".into(),
        ));
    }
    refuse_declared_too_large(&req)?;
    let request_id = req.headers().get(crate::server::REQUEST_ID).cloned();
    let body = whole_body(req).await?;
    // Every JSON body of the API is an object: serde would take an array for a struct too.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match body.iter().all(u8::is_ascii_whitespace) {
            true => {
                AppError::bad_request("InvalidBody", "the request needs a JSON object as its body")
            }
            false => AppError::bad_request("InvalidBody", "the body must be a JSON object"),
        });
    }
    let (value, ignored) = read(&body)?;
    if !ignored.is_empty() {
        unknown_members(state, request_id.as_ref(), ignored)?;
    }
    Ok(value)
}

/// Whether the request's body is JSON: no content type (taken as JSON), `application/json`, or
/// a `+json` type, with or without parameters.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return true;
    };
    // What nearly every client sends, agents on every report: no parsing for it.
    if value.as_bytes() == b"application/json" {
        return true;
    }
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json")
            || sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Read `body` as `T`, and name the members `T` ignored (`a.b`, `list[0].c`). A number written
/// with a fraction of zero (`100.0`) is taken for an integer member, as JSON Schema's `integer`
/// takes it: serde refuses it, so a body serde refuses is read again with such numbers written
/// as integers (only then: a body it takes costs no more).
pub fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<(T, Vec<String>), AppError> {
    let error = match read_json(body) {
        Ok(read) => return Ok(read),
        Err(error) => error,
    };
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Err(error);
    };
    if !integral_floats_to_integers(&mut value) {
        return Err(error);
    }
    let Ok(again) = serde_json::to_vec(&value) else {
        return Err(error);
    };
    read_json(&again).map_err(|_| error)
}

/// Write each number of `value` that is a float with no fraction, within 64-bit integers, as an
/// integer; whether any was.
fn integral_floats_to_integers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // Exactly representable: |f| < 2^63 and no fraction.
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                *value = Value::from(f as i64);
                true
            } else {
                false
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |any, v| integral_floats_to_integers(v) | any),
        Value::Object(members) => members
            .values_mut()
            .fold(false, |any, v| integral_floats_to_integers(v) | any),
        _ => false,
    }
}

fn read_json<T: DeserializeOwned>(body: &[u8]) -> Result<(T, Vec<String>), AppError> {
    // Most bodies are read at once. Only one that fails is read again with the path of its
    // failure tracked, for the error to name it (tracking it costs as much as the reading).
    if let Some(read) = read_json_untracked(body) {
        return Ok(read);
    }
    let mut ignored: Vec<String> = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut note = |path: serde_ignored::Path<'_>| ignored.push(path.to_string());
    let value: T =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(&mut de, &mut note))
            .map_err(|e| {
                let path = e.path().to_string();
                body_error(&path, &e.into_inner())
            })?;
    // Only whitespace may follow the value.
    de.end().map_err(|e| body_error(".", &e))?;
    Ok((value, ignored))
}

/// [`read_json`] without the path of a failure: `None` when it fails.
fn read_json_untracked<T: DeserializeOwned>(body: &[u8]) -> Option<(T, Vec<String>)> {
    let mut ignored: Vec<String> = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut note = |path: serde_ignored::Path<'_>| ignored.push(path.to_string());
    let value: T =
        serde::Deserialize::deserialize(serde_ignored::Deserializer::new(&mut de, &mut note))
            .ok()?;
    de.end().ok()?;
    Some((value, ignored))
}

fn body_error(path: &str, inner: &serde_json::Error) -> AppError {
    match inner.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            AppError::bad_request(
                "MalformedJson",
                format!("the body is not valid JSON: {inner}"),
            )
        }
        _ if path == "." || path.is_empty() => AppError::bad_request(
            "InvalidBody",
            format!("Failed to deserialize the JSON body into the target type: {inner}"),
        ),
        _ => AppError::bad_request(
            "InvalidBody",
            format!(
                "Failed to deserialize the JSON body into the target type: {}: {inner}",
                truncate(path)
            ),
        ),
    }
}

/// Members a body's type did not know: refused under `--strict-bodies`, else noted in the
/// request's journal entry and the log.
pub fn unknown_members(
    state: &AppState,
    request_id: Option<&axum::http::HeaderValue>,
    ignored: Vec<String>,
) -> Result<(), AppError> {
    if state.config.strict_bodies {
        return Err(AppError::bad_request(
            "UnknownMember",
            format!(
                "the body has a member the server does not know: {:?} (--strict-bodies refuses unknown members)",
                truncate(&ignored[0])
            ),
        ));
    }
    tracing::info!(members = ?ignored, "ignored unknown members of the request body");
    if let Some(id) = request_id.and_then(|v| v.to_str().ok()) {
        state.journal.note_ignored(id, ignored);
    }
    Ok(())
}

/// A raw body (an operation's options), its failures as JSON errors like every other: a body
/// too large is a JSON 413, not axum's text (issue 20 D3).
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = AppError;

    async fn from_request(req: Request, _: &S) -> Result<Self, AppError> {
        refuse_declared_too_large(&req)?;
        whole_body(req).await.map(RawBody)
    }
}

/// The request's whole body, at most [`JSON_LIMIT`] bytes (413 past it). What axum's `Bytes`
/// extractor reads, with the same refusals, but without boxing the body in a limit and its
/// chunks in a list: a small body (an agent's report) comes in one frame, kept as it is.
async fn whole_body(req: Request) -> Result<axum::body::Bytes, AppError> {
    use axum::body::HttpBody;
    use bytes::BufMut;
    let mut body = std::pin::pin!(req.into_body());
    let mut whole = axum::body::Bytes::new();
    // Only once a second frame comes: the frames so far, copied together.
    let mut joined: Option<bytes::BytesMut> = None;
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        // Trailers are not part of the body, and an empty frame adds nothing to it.
        let Ok(data) = frame.map_err(body_refused)?.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        let so_far = joined.as_ref().map_or(whole.len(), bytes::BytesMut::len);
        if u64::try_from(so_far + data.len()).map_or(true, |n| n > JSON_LIMIT) {
            return Err(too_large());
        }
        match &mut joined {
            Some(joined) => joined.put(data),
            None if whole.is_empty() => whole = data,
            None => {
                let mut both = bytes::BytesMut::with_capacity(whole.len() + data.len());
                both.put(std::mem::take(&mut whole));
                both.put(data);
                joined = Some(both);
            }
        }
    }
    Ok(joined.map_or(whole, bytes::BytesMut::freeze))
}

/// A body whose read failed: a stalled one (408), or one cut short.
fn body_refused(error: axum::Error) -> AppError {
    if let Some(why) = crate::error::body_stalled(&error) {
        return crate::error::body_timeout(why);
    }
    AppError::bad_request(
        "InvalidBody",
        format!("the request body could not be read to its end: {error}"),
    )
}

/// A declared length beyond the limit is refused before a byte of the body is read, so the
/// client gets its 413 instead of a connection closed while it still sends.
fn refuse_declared_too_large(req: &Request) -> Result<(), AppError> {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared.is_some_and(|len| len > JSON_LIMIT) {
        true => Err(too_large()),
        false => Ok(()),
    }
}

/// axum's default body limit, which the JSON routes keep.
const JSON_LIMIT: u64 = 2 * 1024 * 1024;

fn too_large() -> AppError {
    AppError::PayloadTooLarge(format!(
        "the request body is too large for a JSON request (at most {} MiB)",
        JSON_LIMIT / (1024 * 1024)
    ))
}

pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> AppError {
    AppError::bad_request("InvalidPath", rejection.body_text())
}

pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> AppError {
    AppError::bad_request("InvalidQuery", rejection.body_text())
}

/// Parse a path or query segment that must be an id.
pub fn parse_id(text: &str, what: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(text).map_err(|_| {
        AppError::bad_request(
            "InvalidId",
            format!("{what} {:?} is not a valid id (a UUID)", truncate(text)),
        )
    })
}

/// Keep echoed client input short.
pub fn truncate(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

/// The client's `Prefer: return=…` (RFC 7240 §4.2): whether it wants the resource back or only
/// the outcome. Agents send `return=minimal`: they act on the status alone, so no body is made
/// for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnPreference {
    /// No preference, or `return=representation`: the resource as the answer's body.
    #[default]
    Representation,
    /// `return=minimal`: success without a body (`204 No Content`).
    Minimal,
}

impl ReturnPreference {
    /// The `Preference-Applied` value to send back, when the preference changed the answer.
    pub fn applied(self) -> Option<axum::http::HeaderValue> {
        match self {
            ReturnPreference::Minimal => {
                Some(axum::http::HeaderValue::from_static("return=minimal"))
            }
            ReturnPreference::Representation => None,
        }
    }
}

/// RFC 7240's request header. A name written once: a name given as text is parsed again on each
/// lookup.
const PREFER: axum::http::HeaderName = axum::http::HeaderName::from_static("prefer");

impl<S: Send + Sync> FromRequestParts<S> for ReturnPreference {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut prefer = parts.headers.get_all(PREFER).iter();
        // What migrate-agent sends with every report, answered without parsing.
        if let (Some(only), None) = (prefer.next(), prefer.next())
            && only.as_bytes() == b"return=minimal"
        {
            return Ok(ReturnPreference::Minimal);
        }
        let fields = parts
            .headers
            .get_all(PREFER)
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(return_preference(fields))
    }
}

/// The `return` preference among the `Prefer` header fields, read as RFC 7240 §2 says: names
/// are case-insensitive, the first occurrence of a preference counts, a value may be quoted, and
/// what is not understood is ignored (a preference is never an error).
pub fn return_preference<'a>(fields: impl IntoIterator<Item = &'a str>) -> ReturnPreference {
    let preferences = fields.into_iter().flat_map(|field| OutsideQuotes {
        rest: Some(field),
        sep: ',',
    });
    for preference in preferences {
        // The preference itself comes before its first `;` parameter.
        let head = OutsideQuotes {
            rest: Some(preference),
            sep: ';',
        }
        .next()
        .unwrap_or("");
        let (name, value) = head.split_once('=').unwrap_or((head, ""));
        if !name.trim().eq_ignore_ascii_case("return") {
            continue;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        return match value {
            "minimal" => ReturnPreference::Minimal,
            _ => ReturnPreference::Representation,
        };
    }
    ReturnPreference::Representation
}

/// The pieces of a text split on `sep` where it is not inside a quoted string (which may hold
/// `\"`).
struct OutsideQuotes<'a> {
    rest: Option<&'a str>,
    sep: char,
}

impl<'a> Iterator for OutsideQuotes<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, c) in text.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                c if c == self.sep && !quoted => {
                    self.rest = Some(&text[i + c.len_utf8()..]);
                    return Some(&text[..i]);
                }
                _ => {}
            }
        }
        self.rest = None;
        Some(text)
    }
}

/// The request's id (`X-Request-Id`, which every request gets), for a log line written where
/// the request's span is off at the default level.
pub struct RequestIdHeader(pub Option<axum::http::HeaderValue>);

impl RequestIdHeader {
    pub fn as_str(&self) -> &str {
        self.0.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestIdHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestIdHeader(
            parts.headers.get(crate::server::REQUEST_ID).cloned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{JSON_LIMIT, ReturnPreference, is_json, return_preference, whole_body};
    use ReturnPreference::{Minimal, Representation};

    /// A request whose body comes in `frames`, with no declared length (as a chunked upload).
    fn streamed(frames: Vec<Vec<u8>>) -> axum::extract::Request {
        let frames = frames.into_iter().map(Ok::<_, std::io::Error>);
        let body = axum::body::Body::from_stream(futures_util::stream::iter(frames));
        axum::extract::Request::new(body)
    }

    #[tokio::test]
    async fn a_body_in_several_frames_is_read_whole_and_in_order() {
        let read =
            |frames: Vec<&str>| whole_body(streamed(frames.into_iter().map(Vec::from).collect()));
        assert_eq!(&read(vec![]).await.unwrap()[..], b"");
        assert_eq!(&read(vec!["{}"]).await.unwrap()[..], b"{}");
        assert_eq!(
            &read(vec!["", "{\"a\"", ":", "", "1}"]).await.unwrap()[..],
            b"{\"a\":1}"
        );
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_refused_whichever_frame_crosses_it() {
        let limit = usize::try_from(JSON_LIMIT).unwrap();
        let exactly = whole_body(streamed(vec![vec![b' '; limit - 1], vec![b' ']])).await;
        assert_eq!(exactly.unwrap().len(), limit);
        for frames in [
            vec![vec![b' '; limit + 1]],
            vec![vec![b' '; limit], vec![b' ']],
            vec![vec![b' '; 10], vec![b' '; limit - 10], vec![b' ']],
        ] {
            let refused = whole_body(streamed(frames)).await.unwrap_err();
            assert_eq!(refused.code(), "PayloadTooLarge");
        }
    }

    #[test]
    fn json_is_what_the_content_type_says_or_none() {
        let with = |value: Option<&str>| {
            let mut headers = axum::http::HeaderMap::new();
            if let Some(value) = value {
                headers.insert("content-type", value.parse().unwrap());
            }
            is_json(&headers)
        };
        for json in [
            None,
            Some("application/json"),
            Some("Application/JSON; charset=utf-8"),
            Some(" application/json "),
            Some("application/problem+json"),
        ] {
            assert!(with(json), "{json:?}");
        }
        for other in [
            Some("text/plain"),
            Some("application/jsonx"),
            Some("application/+json"),
            Some("json"),
            Some(""),
        ] {
            assert!(!with(other), "{other:?}");
        }
    }

    #[test]
    fn the_return_preference_is_read_as_rfc_7240_says() {
        let cases: &[(&[&str], ReturnPreference)] = &[
            (&[], Representation),
            (&[""], Representation),
            (&["return=minimal"], Minimal),
            (&["Return=minimal"], Minimal),
            (&["RETURN = minimal"], Minimal),
            (&["return=\"minimal\""], Minimal),
            (&["return=representation"], Representation),
            (&["return=MINIMAL"], Representation), // values are case-sensitive
            (&["return"], Representation),
            (&["return=minimal; foo=bar"], Minimal),
            (&["respond-async, return=minimal"], Minimal),
            (&["respond-async", "return=minimal"], Minimal),
            (&["wait=10, return=minimal, handling=lenient"], Minimal),
            // The first occurrence counts.
            (&["return=representation, return=minimal"], Representation),
            (&["return=minimal", "return=representation"], Minimal),
            // A comma or a semicolon inside a quoted value splits nothing.
            (&["foo=\"a, return=minimal\""], Representation),
            (&["foo=\"a; b\", return=minimal"], Minimal),
            (&["foo=\"a \\\" , return=minimal\""], Representation),
            (&["returns=minimal"], Representation),
            (&["x-return=minimal"], Representation),
        ];
        for (fields, expected) in cases {
            assert_eq!(
                return_preference(fields.iter().copied()),
                *expected,
                "{fields:?}"
            );
        }
    }
}
