//! The server the agent's end-to-end tests talk to: `psserver`'s library (a dev-dependency) run
//! in this process on 127.0.0.1:0, with a temporary data directory, on a runtime and thread of
//! its own that end with it. The agent runs as its built binary, as users run it.
//!
//! Why in-process: only the root package's tests get `CARGO_BIN_EXE_psserver`, and a test here
//! that looked for the binary in the target directory would run whatever was built last. The
//! library's public start-up (`server::open`, `tls::setup`, `app`, `server::prepare`) is what
//! `psserver::server::run` does, less the signal handling; flags are parsed as the binary
//! parses them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use clap::Parser;

pub const ADMIN: (&str, &str) = ("administrator", "platespin");
pub const API: &str = migrate_core::wire::BASE;

pub fn repo_packages() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../driver-packages")
}

/// A running server, stopped on drop.
pub struct Server {
    pub scheme: String,
    pub addr: String,
    state: psserver::AppState,
    thread: Option<JoinHandle<()>>,
    /// Last: removed once the server has stopped.
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Start with the repository's sample packages and `extra` flags (`psserver`'s).
    pub fn start(extra: &[&str]) -> Server {
        Self::start_on("127.0.0.1:0", extra)
    }

    /// Start listening on `listen` (e.g. `127.0.0.1:443`, as the real server does).
    pub fn start_on(listen: &str, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let packages = repo_packages();
        let mut args: Vec<&std::ffi::OsStr> = ["psserver", "--listen", listen, "--data-dir"]
            .map(std::ffi::OsStr::new)
            .to_vec();
        args.push(data.as_os_str());
        args.push("--driver-packages".as_ref());
        args.push(packages.as_os_str());
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        let config = psserver::Config::try_parse_from(args).expect("psserver's flags");
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                match serve(config).await {
                    Ok((scheme, addr, state)) => {
                        let shutdown = state.shutdown.clone();
                        let _ = tx.send(Ok((scheme, addr, state)));
                        shutdown.cancelled().await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
            // Dropping the runtime ends the server's tasks.
        });
        let (scheme, addr, state) = rx
            .recv()
            .expect("the server thread answers")
            .unwrap_or_else(|e| panic!("psserver did not start: {e}"));
        Server {
            scheme,
            addr,
            state,
            thread: Some(thread),
            dir,
        }
    }

    /// The URL of `path` on this server; an absolute href (as the API's links are) as it is.
    pub fn url(&self, path: &str) -> String {
        if path.contains("://") {
            return path.to_owned();
        }
        format!("{}://{}{}", self.scheme, self.addr, path)
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}://{}{API}{}", self.scheme, self.addr, path)
    }
}

/// Listen, serve and prepare (migrate, index the packages) as `psserver::server::run` does.
async fn serve(config: psserver::Config) -> Result<(String, String, psserver::AppState), String> {
    let state = psserver::server::open(config).await?;
    let tls = psserver::tls::setup(&state.config).await?;
    let listener = std::net::TcpListener::bind(state.config.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let serving = psserver::server::serving(&state, tls.as_ref());
    let server = psserver::http::serve(listener, serving, state.shutdown.clone())
        .map_err(|e| e.to_string())?;
    tokio::spawn(server);
    psserver::server::prepare(&state).await?;
    Ok((scheme.to_owned(), addr.to_string(), state))
}

impl Drop for Server {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
