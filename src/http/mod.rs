//! The HTTP engine: [`App`], the one service `main` serves and tests call. It is axum's router
//! with every route wrapped in the same per-request work ([`per_request`]: request id, span,
//! journal, metrics, readiness, fault rules), the router's fallback ([`not_found`]), and the
//! package downloads answered before the router with that same work ([`shortcut`]).

mod body_guard;
mod capped;
pub(crate) mod coarse_timer;
mod per_request;
mod serve;
pub mod shortcut;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Bytes, HttpBody};
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::api;
use crate::auth::ntlm;
use crate::error::AppError;
use crate::state::AppState;
pub use body_guard::BodyStalled;
use per_request::PerRequestLayer;
pub use serve::{Serving, serve};
use shortcut::{Shortcut, ShortcutLayer};

/// The HTTP surface: the router behind the download shortcut.
#[derive(Clone)]
pub struct App(Shortcut<Connected>);

impl App {
    /// The app serving `routes` (every route of the server, with `state`): the fallback and the
    /// per-request work added to the router, the shortcut put in front of it.
    pub fn new(routes: Router<AppState>, state: AppState) -> Self {
        let router = routes
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(PerRequestLayer(state.clone()))
            .with_state(state.clone());
        Self(ShortcutLayer::new(state).layer(Connected {
            router,
            remote: None,
            ntlm: None,
        }))
    }

    /// The app for one connection from `remote`: the router's routes see the address as
    /// `ConnectInfo<SocketAddr>` (the control plane's loopback check reads it). The server makes
    /// one per connection; without one, as in tests through `oneshot`, a request is taken as
    /// coming from this process. Only the routes get it: a download reads no address, and the
    /// insert would be the first allocation of its request's extensions. The routes also get the
    /// connection's NTLM state: an NTLM sign-in belongs to its connection (`auth::ntlm`).
    pub fn connected(&self, remote: SocketAddr) -> Self {
        let mut app = self.clone();
        let connected = app.0.inner_mut();
        connected.remote = Some(remote);
        connected.ntlm = Some(Arc::default());
        app
    }

    /// [`Shortcut::answer_taken`], by reference.
    fn answer_taken<B>(&self, request: Request<B>) -> shortcut::Passing<B>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        self.0.answer_taken(request)
    }

    /// The router alone, without the shortcut: for tests that compare the two.
    #[doc(hidden)]
    pub fn router_only(&self) -> Router {
        self.0.inner().router.clone()
    }
}

impl<B> Service<Request<B>> for App
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = <Shortcut<Connected> as Service<Request<B>>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        Service::<Request<B>>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.0.call(request)
    }
}

/// The router, giving the connection's remote address and NTLM state to its routes.
#[derive(Clone)]
pub struct Connected {
    router: Router,
    remote: Option<SocketAddr>,
    ntlm: Option<Arc<ntlm::Slot>>,
}

impl<B> Service<Request<B>> for Connected
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = axum::routing::future::RouteFuture<Infallible>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        Service::<Request<B>>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if let Some(remote) = self.remote {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(remote));
        }
        if let Some(ntlm) = &self.ntlm {
            request.extensions_mut().insert(Arc::clone(ntlm));
        }
        self.router.call(request)
    }
}

/// A method a path does not take: the JSON error everywhere (the control plane's included, issue
/// 20 D3), the error page on the operator pages.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let error = AppError::MethodNotAllowed(format!(
        "{method} is not allowed on {}",
        api::extract::truncate(uri.path())
    ));
    if uri.path() == "/migrate" || uri.path().starts_with("/migrate/") {
        return crate::web::WebError(error).into_response();
    }
    error.into_response()
}

/// The router's fallback: a path no route matches.
async fn not_found(uri: axum::http::Uri) -> Response {
    if api::is_api_path(uri.path()) {
        return api::unknown_api_path(uri).await;
    }
    AppError::NotFound(format!("nothing at {}", api::extract::truncate(uri.path()))).into_response()
}
