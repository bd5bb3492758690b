//! What a fleet of agents sends most, answered before the router: package downloads and
//! driver-state reports. A [`tower::Layer`] in front of the router, as axum's `http-proxy`
//! example steps in front of its router.
//!
//! Why: for a small package or a report, routing itself (the lookup, each URL parameter decoded
//! and allocated, the matched path, the route's clone, its boxed futures and the handler's
//! extractor machinery) was a large share of the cost (bench/RESULTS.md).
//!
//! What it takes ([`Taken::of`]): a `GET` of one of the two download routes ([`Download`]) and a
//! `PUT` of an agent's report with its bearer token ([`Report`]), under one of the API's bases
//! ([`Base`]), whose parameters parse with their own types (`Uuid`, `Platform`, `DriverVersion`),
//! over a request with exactly one `Host`. Anything else (a parameter that does not parse, an
//! escape, a segment more or less, a `HEAD`, another method, other credentials, a framing the
//! router refuses) goes to the router unchanged. A segment that parses holds no `%`, so the
//! router's percent-decoding would leave it as it is: both ways see the same value. What it
//! answers gets the same per-request work as the router's routes ([`per_request`]), counted under
//! the route's template, and the same handler code with the same extractors in the same order,
//! so that every refusal is the router's too. `tests/it/fast_download.rs` and
//! `tests/it/fast_report.rs` hold the two ways to the same answers.

mod download;
mod report;

use std::convert::Infallible;
use std::sync::{Arc, LazyLock};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderMap, Method, Request, header};
use axum::response::Response;
use futures_util::future::Either;
use tower::{Layer, Service};

use super::per_request::{content_length_of, per_request};
use crate::api;
use crate::metrics::RouteSeries;
use crate::state::AppState;
pub use download::Download;
pub use report::Report;

/// The API base a request was made under: its links and metrics keep to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// [`api::BASE`].
    Current,
    /// [`api::BASE_ALIAS`].
    Alias,
}

impl Base {
    const ALL: [Self; 2] = [Self::Current, Self::Alias];

    pub fn path(self) -> &'static str {
        match self {
            Self::Current => api::BASE,
            Self::Alias => api::BASE_ALIAS,
        }
    }

    /// The base `path` is under, and the rest of it.
    fn split(path: &str) -> Option<(Self, &str)> {
        Self::ALL
            .into_iter()
            .find_map(|base| Some((base, path.strip_prefix(base.path())?)))
    }
}

/// Which route the shortcut answers, by its template under a base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// [`api::packages::CONTENT_BY_ID`]: the agent's, the `content` link of a package.
    ById,
    /// [`api::packages::CONTENT_BY_VERSION`].
    ByVersion,
    /// [`api::sources::DRIVER_STATE`]: an agent's report.
    Report,
}

impl Route {
    const ALL: [Self; 3] = [Self::ById, Self::ByVersion, Self::Report];

    pub fn template(self) -> &'static str {
        match self {
            Self::ById => api::packages::CONTENT_BY_ID,
            Self::ByVersion => api::packages::CONTENT_BY_VERSION,
            Self::Report => api::sources::DRIVER_STATE,
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The template's segments, read from the route constants once, so that a request compares
    /// literals and looks for `/` only in its parameters.
    fn segments(self) -> &'static [Segment] {
        static ROUTES: LazyLock<[Vec<Segment>; 3]> =
            LazyLock::new(|| Route::ALL.map(|route| segments(route.template())));
        &ROUTES[self.index()]
    }
}

/// A request the shortcut answers, its parameters parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Download(Download),
    Report(Report),
}

impl Taken {
    /// What the shortcut takes `request` for, and under which base; `None` for a request the
    /// router answers.
    pub fn of<B>(request: &Request<B>) -> Option<(Base, Self)> {
        let (base, rest) = Base::split(request.uri().path())?;
        if !one_host(request.headers()) {
            return None;
        }
        let taken = match *request.method() {
            Method::GET => Self::Download(Download::parse_under(rest)?),
            Method::PUT => Self::Report(Report::parse_under(rest, request.headers())?),
            _ => return None,
        };
        Some((base, taken))
    }

    pub fn route(self) -> Route {
        match self {
            Self::Download(download) => download.route(),
            Self::Report(_) => Route::Report,
        }
    }

    /// The answer, from the same code as the router's route for it.
    async fn answer(self, state: &AppState, request: Request<Body>) -> Response {
        match self {
            // Boxed: a download's future is three times a report's, and every future of the
            // shortcut would otherwise be as large (copied more than once for each request).
            Self::Download(download) => Box::pin(download.answer(state, request)).await,
            Self::Report(report) => report.answer(state, request).await,
        }
    }
}

/// Exactly one `Host`: what the router's framing check wants of a request that came over a
/// connection (`server::bad_framing`, which sees the connection only on the router's routes).
/// Any other count goes to the router, which refuses it.
fn one_host(headers: &HeaderMap) -> bool {
    headers.get_all(header::HOST).iter().take(2).count() == 1
}

/// A segment of a route template: literal text, or a `{name}` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Literal(&'static str),
    Parameter,
}

/// A route template's segments, in order.
fn segments(template: &'static str) -> Vec<Segment> {
    template
        .split('/')
        .map(|s| match s.starts_with('{') {
            true => Segment::Parameter,
            false => Segment::Literal(s),
        })
        .collect()
}

/// The `N` parameters of `path` if it has the segments of a template, as they are in the path.
fn captures<'p, const N: usize>(template: &[Segment], path: &'p str) -> Option<[&'p str; N]> {
    let mut found = [""; N];
    let mut taken = 0;
    let mut rest = path;
    for (i, segment) in template.iter().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix('/')?;
        }
        match segment {
            Segment::Literal(text) => rest = rest.strip_prefix(text)?,
            Segment::Parameter => {
                let end = rest.bytes().position(|b| b == b'/').unwrap_or(rest.len());
                *found.get_mut(taken)? = &rest[..end];
                taken += 1;
                rest = &rest[end..];
            }
        }
    }
    (rest.is_empty() && taken == N).then_some(found)
}

/// The route template (as the router names it in the metrics) and the metrics series of one
/// route under one base.
struct Counted {
    template: Arc<str>,
    series: RouteSeries,
}

/// What the shortcut needs to answer: the state, and each route's metrics under each base.
struct Shared {
    state: AppState,
    /// By base, then by route ([`Route::index`]).
    counted: [[Counted; 3]; 2],
}

impl Shared {
    fn new(state: AppState) -> Self {
        Self {
            state,
            counted: Base::ALL.map(|base| {
                Route::ALL.map(|route| Counted {
                    template: Arc::from([base.path(), route.template()].concat()),
                    series: RouteSeries::default(),
                })
            }),
        }
    }

    fn counted(&self, base: Base, route: Route) -> &Counted {
        &self.counted[base as usize][route.index()]
    }
}

/// Puts [`Shortcut`] in front of a service (the router).
#[derive(Clone)]
pub struct ShortcutLayer(Arc<Shared>);

impl ShortcutLayer {
    pub fn new(state: AppState) -> Self {
        Self(Arc::new(Shared::new(state)))
    }
}

impl<S> Layer<S> for ShortcutLayer {
    type Service = Shortcut<S>;

    fn layer(&self, inner: S) -> Shortcut<S> {
        Shortcut {
            shared: Arc::clone(&self.0),
            inner,
        }
    }
}

/// Answers the requests it takes ([`Taken::of`]), and hands every other request to `inner`.
#[derive(Clone)]
pub struct Shortcut<S> {
    shared: Arc<Shared>,
    inner: S,
}

impl<S> Shortcut<S> {
    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

/// What [`Shortcut::answer_taken`] did with a request: answered it, or passed it on.
#[expect(
    clippy::large_enum_variant,
    reason = "the request passes on by value, as tower's `call` takes it: boxed, it would cost \
              every request the router answers an allocation"
)]
pub enum Passing<B> {
    Answered(Answered),
    On(Request<B>),
}

pub type Answered =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Infallible>> + Send>>;

impl<S, B> Service<Request<B>> for Shortcut<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Answered, S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        // A request answered here leaves the readiness unused; the router's is always there.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.answer_taken(request) {
            Passing::Answered(answered) => Either::Left(answered),
            Passing::On(request) => Either::Right(self.inner.call(request)),
        }
    }
}

impl<S> Shortcut<S> {
    /// The answer to `request` when the shortcut takes it; else the request, for `inner`.
    /// Needs only `&self`: a connection answers what the shortcut takes without a clone of the
    /// service for each request (`super::serve`).
    pub fn answer_taken<B>(&self, request: Request<B>) -> Passing<B>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let Some((base, taken)) = Taken::of(&request) else {
            return Passing::On(request);
        };
        let shared = Arc::clone(&self.shared);
        let request = request.map(Body::new);
        Passing::Answered(Box::pin(async move {
            let Counted { template, series } = shared.counted(base, taken.route());
            let state = &shared.state;
            let response = per_request(
                state,
                request,
                Some(template),
                series,
                // As the router's route sets it on its handler's answer: before a fault rule
                // that truncates the body, so the length stays the whole one's.
                |request| async move { content_length_of(taken.answer(state, request).await) },
            )
            .await;
            // And on what the fault rules answered instead, as the router's outer route does.
            Ok(content_length_of(response))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_the_segments_in_the_templates_braces() {
        let t = &segments("/a/{x}/b/{y}");
        assert_eq!(captures(t, "/a/1/b/2"), Some(["1", "2"]));
        assert_eq!(captures(t, "/a//b/"), Some(["", ""]));
        assert_eq!(captures::<2>(t, "/a/1/b/2/"), None);
        assert_eq!(captures::<2>(t, "/a/1/b"), None);
        assert_eq!(captures::<2>(t, "/a/1/c/2"), None);
        assert_eq!(captures::<2>(t, "a/1/b/2"), None);
        // A count of parameters other than the template's is no match.
        assert_eq!(captures::<1>(t, "/a/1/b/2"), None);
        assert_eq!(captures::<3>(t, "/a/1/b/2"), None);
    }

    #[test]
    fn routes_are_indexed_in_the_order_of_all() {
        for (i, route) in Route::ALL.into_iter().enumerate() {
            assert_eq!(route.index(), i);
        }
        for (i, base) in Base::ALL.into_iter().enumerate() {
            assert_eq!(base as usize, i);
        }
    }
}
