//! The status-polling benchmark's baseline (`bench/run`): a bare axum handler that answers every
//! GET with a fixed JSON body, built in the same release build as `psserver`, so the ratio
//! measures what the server does per request and not the HTTP stack. It also answers every PUT
//! with `204 No Content` once the body is read: the HTTP floor of the agent-report figure.
//!
//! `cargo run --release --example bare_handler -- 127.0.0.1:18081 body.json`

use axum::http::header;
use axum::response::IntoResponse;

// The same allocator as `psserver`, so that it is not what the ratio measures either.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(body_file)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_handler ADDR BODY.json");
        std::process::exit(2);
    };
    let body = axum::body::Bytes::from(std::fs::read(body_file)?);
    let app = axum::Router::new().fallback(
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body).into_response() }
        })
        .put(|_: axum::body::Bytes| async { axum::http::StatusCode::NO_CONTENT }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
