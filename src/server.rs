//! Start-up, serving and shutdown.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, Request};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tracing::Span;

use crate::config::Config;
use crate::db::Db;
use crate::state::AppState;

/// The request id header: kept from the client or made here, echoed on the response and named on
/// every log line of the request.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const VERSION: HeaderName = HeaderName::from_static("x-psserver-version");

/// The request's id: the client's `x-request-id`, or a new one put on the request, so that the
/// handler and the journal see the id the response will carry.
pub fn request_id(request: &mut Request<axum::body::Body>) -> HeaderValue {
    if let Some(id) = request.headers().get(REQUEST_ID) {
        return id.clone();
    }
    let id = new_request_id();
    request.headers_mut().insert(REQUEST_ID, id.clone());
    id
}

/// The span every log line of a request is written in.
pub fn request_span(request: &Request<axum::body::Body>, id: &HeaderValue) -> Span {
    let id = id.to_str().unwrap_or("-");
    let (method, path) = (request.method(), request.uri().path());
    // A read logs nothing at info unless it fails (and `per_request` then names it), so its
    // span is at debug and is not formatted for nothing. So is an agent's report: most change
    // nothing and log at debug, and the line of one that changes something names its request.
    // Other writes keep theirs at info, for the changes they log.
    let quiet = method == Method::GET
        || method == Method::HEAD
        || (method == Method::PUT && path.ends_with("/driverState"));
    if quiet {
        tracing::debug_span!("request", %method, path = %path, request_id = %id)
    } else {
        tracing::info_span!("request", %method, path = %path, request_id = %id)
    }
}

/// Every answer carries its request's id (unless the handler chose one) and the server's version.
pub fn stamp(response: &mut axum::response::Response, id: HeaderValue) {
    let headers = response.headers_mut();
    headers.entry(REQUEST_ID).or_insert(id);
    headers.insert(VERSION, HeaderValue::from_static(env!("CARGO_PKG_VERSION")));
}

/// Request ids shaped like v4 UUIDs, made without a system call: a v4 UUID per request asks the
/// kernel for random bytes each time, a measurable share of a small request. A random base drawn
/// once plus the request's number times an odd constant (a bijection on 128 bits): unique within
/// the process, and as opaque as before to whoever reads them.
fn new_request_id() -> HeaderValue {
    static BASE: OnceLock<u128> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    const SPREAD: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835;
    let base = *BASE.get_or_init(|| uuid::Uuid::new_v4().as_u128());
    let n = u128::from(NEXT.fetch_add(1, Ordering::Relaxed));
    let bits = base.wrapping_add(n.wrapping_mul(SPREAD));
    let id = uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid();
    let mut text = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
        .expect("a hyphenated UUID is a valid header value")
}

/// The most a request's header fields may add up to (names, values and line overhead). hyper's
/// read-buffer bound ([`MAX_REQUEST_HEAD`]) depends on how the bytes arrive; this check does not.
pub const MAX_HEADER_FIELDS: usize = 32 * 1024;

/// 400 for a request whose framing is ambiguous, before any handler runs (issue 20 D6): an
/// HTTP/1.1 request needs exactly one `Host` (RFC 9112 §3.2), and a request with two
/// `Authorization` fields could be read as either user, so it is read as neither. The `Host`
/// rule applies to requests that came over a connection (routes carry its `ConnectInfo`); a
/// request made in this process (tests through `oneshot`) has no wire to frame.
pub fn bad_framing(request: &Request<axum::body::Body>) -> Option<axum::response::Response> {
    use axum::http::header::{AUTHORIZATION, HOST};
    use axum::response::IntoResponse;
    let headers = request.headers();
    let over_the_wire = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some();
    let why = if over_the_wire
        && request.version() == axum::http::Version::HTTP_11
        && headers.get_all(HOST).iter().take(2).count() != 1
    {
        "an HTTP/1.1 request needs exactly one Host header field"
    } else if headers.get_all(AUTHORIZATION).iter().nth(1).is_some() {
        "the request has more than one Authorization header field; send one"
    } else {
        return None;
    };
    let mut response =
        crate::error::AppError::bad_request("BadRequestFraming", why).into_response();
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    Some(response)
}

/// 431 for a request whose header fields are too large (RFC 6585 §5), before any handler runs.
pub fn header_fields_too_large(
    request: &Request<axum::body::Body>,
) -> Option<axum::response::Response> {
    use axum::response::IntoResponse;
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > MAX_HEADER_FIELDS {
        let body = serde_json::json!({"error": {
            "code": "RequestHeaderFieldsTooLarge",
            "message": format!("the request's header fields add up to {size} bytes; the limit is {MAX_HEADER_FIELDS}"),
        }});
        let mut response = (
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            axum::Json(body),
        )
            .into_response();
        // Whoever sent this much may send it again: do not keep the connection.
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        return Some(response);
    }
    None
}

/// Make the state: open the database (creating the data directory).
pub async fn open(config: Config) -> Result<AppState, String> {
    tokio::fs::create_dir_all(&config.data_dir)
        .await
        .map_err(|e| {
            format!(
                "cannot create the data directory {}: {e}",
                config.data_dir.display()
            )
        })?;
    let url = config.database_url();
    let db = Db::connect(&url)
        .await
        .map_err(|e| format!("cannot open the database {url}: {e}"))?;
    Ok(AppState::new(db, config))
}

/// Migrate the database and index the driver packages, then mark the server ready.
pub async fn prepare(state: &AppState) -> Result<(), String> {
    state
        .db
        .migrate()
        .await
        .map_err(|e| format!("database migration failed: {e}"))?;
    let failed = crate::service::operations::recover(state)
        .await
        .map_err(|e| format!("recovering unfinished operations failed: {e}"))?;
    if failed > 0 {
        tracing::warn!(
            operations = failed,
            "operations that ran when the server stopped are marked failed"
        );
    }
    let report = crate::service::packages::rescan(state, None)
        .await
        .map_err(|e| format!("indexing the driver packages failed: {e}"))?;
    for skipped in &report.skipped {
        tracing::warn!(%skipped, "driver package skipped");
    }
    let count = state.db.catalog().await.map_err(|e| e.to_string())?.len();
    tracing::info!(
        packages = count,
        added = report.added.len(),
        changed = report.changed.len(),
        removed = report.removed.len(),
        repository = %state.config.driver_packages.display(),
        "driver packages indexed"
    );
    // A restart keeps the data; the scenario seeds an empty database only.
    let seeded = crate::service::emulator::seed_if_empty(state)
        .await
        .map_err(|e| e.public_message())?;
    if seeded > 0 {
        tracing::info!(sources = seeded, "seed scenario loaded");
    }
    state.set_ready();
    Ok(())
}

/// How the server serves `state`'s app: the bounds on what one connection may hold (the time
/// to send a request's headers: hyper's timer starts when it waits for a request head, so it
/// also closes idle kept-alive connections; and the size of the request head: hyper answers 431
/// beyond it and closes the connection after the time, where RFC 9110 §15.5.9 would allow a 408),
/// the cap on connections, and TLS when `tls` is set.
pub fn serving(state: &AppState, tls: Option<&crate::tls::Tls>) -> crate::http::Serving {
    crate::http::Serving {
        app: crate::app(state.clone()),
        tls: tls.map(|tls| tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.config))),
        max_connections: state.config.max_connections,
        header_timeout: Duration::from_secs(state.config.header_timeout_secs),
        max_head: MAX_REQUEST_HEAD,
    }
}

/// The largest request head (request line and headers) read: hyper's default is about 400 KiB;
/// real clients send a few KiB (a long Basic or Bearer credential included).
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// Run the server until Ctrl-C or SIGTERM (or `state.shutdown`), then drain for up to 10 s.
pub async fn run(config: Config) -> Result<(), String> {
    config.check_exposure()?;
    let listen = config.listen;
    let state = open(config).await?;
    let tls = crate::tls::setup(&state.config).await?;
    let listener = std::net::TcpListener::bind(listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, "psserver listening on {scheme}://{addr}");
    if let Some(path) = tls.as_ref().and_then(|t| t.self_signed_cert.as_ref()) {
        let fingerprint = tls
            .as_ref()
            .and_then(|t| t.fingerprint.as_deref())
            .unwrap_or("-");
        tracing::info!(certificate = %path.display(), sha256 = %fingerprint, "self-signed TLS certificate in use; trust it with migrate-agent --ca-cert");
    }

    let shutdown = state.shutdown.clone();
    // On shutdown: stop accepting, and let the requests in flight finish.
    let server = crate::http::serve(listener, serving(&state, tls.as_ref()), shutdown.clone())
        .map_err(|e| format!("cannot serve on {addr}: {e}"))?;
    let server = tokio::spawn(server);
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            wait_for_signal(shutdown.clone()).await;
            shutdown.cancel();
        }
    });

    if let Err(e) = prepare(&state).await {
        shutdown.cancel();
        return Err(e);
    }
    tracing::info!("psserver ready");

    shutdown.cancelled().await;
    tracing::info!("shutting down: finishing requests in flight (10 s at most)");
    match tokio::time::timeout(Duration::from_secs(10), server).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("server task failed: {e}")),
        Err(_) => tracing::warn!("requests still in flight after 10 s; stopping anyway"),
    }
    state.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal(shutdown: tokio_util::sync::CancellationToken) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
        () = shutdown.cancelled() => {},
    }
}
