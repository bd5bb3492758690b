//! The package downloads answered before the router: a [`tower::Layer`] in front of it, as
//! axum's `http-proxy` example steps in front of its router.
//!
//! Why: a download is what a fleet of agents asks for most, and for a small package routing
//! itself (the lookup, each URL parameter decoded and allocated, the matched path, the route's
//! clone and its boxed futures) was a large share of the cost (bench/RESULTS.md).
//!
//! What it takes: a `GET` of one of the two download routes ([`Route`]) under one of the API's
//! bases ([`Base`]), whose parameters parse with their own types (`Uuid`, `Platform`,
//! `DriverVersion`). Anything else (a parameter that does not parse, an escape, a segment more or
//! less, a `HEAD`, another method) goes to the router unchanged, so every error answer is the
//! router's. A segment that parses holds no `%`, so the router's percent-decoding would leave it
//! as it is: both ways see the same value. What it answers gets the same per-request work as the
//! router's routes ([`per_request`]), counted under the route's template, and the same handler
//! code. `tests/it/fast_download.rs` holds the two ways to the same answers.

use std::convert::Infallible;
use std::sync::{Arc, LazyLock};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{Method, Request};
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use tower::{Layer, Service};
use uuid::Uuid;

use super::per_request::{content_length_of, per_request};
use crate::api;
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;
use crate::metrics::RouteSeries;
use crate::state::AppState;

/// The API base a download was asked under: its links and metrics keep to it.
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
}

/// Which download route, by its template under a base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// [`api::packages::CONTENT_BY_ID`]: the agent's, the `content` link of a package.
    ById,
    /// [`api::packages::CONTENT_BY_VERSION`].
    ByVersion,
}

impl Route {
    pub fn template(self) -> &'static str {
        match self {
            Self::ById => api::packages::CONTENT_BY_ID,
            Self::ByVersion => api::packages::CONTENT_BY_VERSION,
        }
    }
}

/// A download, its parameters parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Download {
    ById(Uuid),
    ByVersion(Platform, DriverVersion),
}

impl Download {
    pub fn route(self) -> Route {
        match self {
            Self::ById(_) => Route::ById,
            Self::ByVersion(..) => Route::ByVersion,
        }
    }

    /// The download a path asks for, and under which base; `None` for a path the router answers.
    pub fn parse(path: &str) -> Option<(Base, Self)> {
        let (base, rest) = Base::ALL
            .into_iter()
            .find_map(|base| Some((base, path.strip_prefix(base.path())?)))?;
        let download = if let Some([id]) = captures(Route::ById.segments(), rest) {
            Self::ById(id.parse().ok()?)
        } else {
            let [platform, version] = captures(Route::ByVersion.segments(), rest)?;
            Self::ByVersion(platform.parse().ok()?, version.parse().ok()?)
        };
        Some((base, download))
    }

    /// The answer, from the same code as the router's route for it.
    async fn answer(self, state: &AppState, request: Request<Body>) -> Response {
        let (parts, _) = request.into_parts();
        let (method, headers) = (&parts.method, &parts.headers);
        match self {
            Self::ById(id) => api::packages::download_by_id(state, id, method, headers).await,
            Self::ByVersion(platform, version) => {
                api::packages::download_by_version(state, platform, version, method, headers).await
            }
        }
        .into_response()
    }
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

/// The download routes' templates, as segments: read from the route constants once, so that a
/// download compares literals and looks for `/` only in its parameters.
static ROUTES: LazyLock<[Vec<Segment>; 2]> =
    LazyLock::new(|| [Route::ById, Route::ByVersion].map(|route| segments(route.template())));

impl Route {
    fn segments(self) -> &'static [Segment] {
        let [by_id, by_version] = &*ROUTES;
        match self {
            Self::ById => by_id,
            Self::ByVersion => by_version,
        }
    }
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
/// download route under one base.
struct Counted {
    template: Arc<str>,
    series: RouteSeries,
}

impl Counted {
    fn new(base: Base, route: Route) -> Self {
        Self {
            template: Arc::from([base.path(), route.template()].concat()),
            series: RouteSeries::default(),
        }
    }
}

/// What the shortcut needs to answer: the state, and each route's metrics under each base.
struct Downloads {
    state: AppState,
    current: [Counted; 2],
    alias: [Counted; 2],
}

impl Downloads {
    fn new(state: AppState) -> Self {
        let under = |base| [Route::ById, Route::ByVersion].map(|route| Counted::new(base, route));
        Self {
            state,
            current: under(Base::Current),
            alias: under(Base::Alias),
        }
    }

    fn counted(&self, base: Base, route: Route) -> &Counted {
        let [by_id, by_version] = match base {
            Base::Current => &self.current,
            Base::Alias => &self.alias,
        };
        match route {
            Route::ById => by_id,
            Route::ByVersion => by_version,
        }
    }
}

/// Puts [`Shortcut`] in front of a service (the router).
#[derive(Clone)]
pub struct ShortcutLayer(Arc<Downloads>);

impl ShortcutLayer {
    pub fn new(state: AppState) -> Self {
        Self(Arc::new(Downloads::new(state)))
    }
}

impl<S> Layer<S> for ShortcutLayer {
    type Service = Shortcut<S>;

    fn layer(&self, inner: S) -> Shortcut<S> {
        Shortcut {
            downloads: Arc::clone(&self.0),
            inner,
        }
    }
}

/// Answers the downloads it can parse ([`Download::parse`]), and hands every other request to
/// `inner`.
#[derive(Clone)]
pub struct Shortcut<S> {
    downloads: Arc<Downloads>,
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

type Answered =
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
        // A download answered here leaves the readiness unused; the router's is always there.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let found = (request.method() == Method::GET)
            .then(|| Download::parse(request.uri().path()))
            .flatten();
        let Some((base, download)) = found else {
            return Either::Right(self.inner.call(request));
        };
        let downloads = Arc::clone(&self.downloads);
        let request = request.map(Body::new);
        Either::Left(Box::pin(async move {
            let Counted { template, series } = downloads.counted(base, download.route());
            let state = &downloads.state;
            let response = per_request(
                state,
                request,
                Some(template),
                series,
                // As the router's route sets it on its handler's answer: before a fault rule
                // that truncates the body, so the length stays the whole one's.
                |request| async move { content_length_of(download.answer(state, request).await) },
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
}
