//! Shared helpers for end-to-end tests: start the real `psserver` binary on a free port with a
//! temporary data directory, and talk to it over HTTP; for router tests, a fresh app and
//! [`AppExt`] to send it requests.
#![allow(dead_code)]

pub mod corpus;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ADMIN: (&str, &str) = ("administrator", "platespin");
pub const API: &str = "/MigrateApi/2019.8";
pub const API_ALIAS: &str = "/MigrateApi/2019.5";

pub fn repo_packages() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("driver-packages")
}

/// A running `psserver`, killed on drop. Its log is kept for failure messages.
pub struct Server {
    child: Child,
    pub scheme: String,
    pub addr: String,
    pub dir: tempfile::TempDir,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Start with the repository's sample packages and `extra` flags.
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, extra)
    }

    /// Start with an existing data directory (to test restarts).
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        Self::launch(Command::new(env!("CARGO_BIN_EXE_psserver")), dir, extra)
    }

    /// Start through `launcher` (a program and its arguments, which runs the server's binary
    /// given last), as `taskset -c 0`.
    pub fn start_through(launcher: &[&str], extra: &[&str]) -> Server {
        let mut command = Command::new(launcher[0]);
        command
            .args(&launcher[1..])
            .arg(env!("CARGO_BIN_EXE_psserver"));
        Self::launch(command, tempfile::tempdir().expect("temp dir"), extra)
    }

    fn launch(mut command: Command, dir: tempfile::TempDir, extra: &[&str]) -> Server {
        let data = dir.path().join("data");
        let mut child = command
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data)
            .arg("--driver-packages")
            .arg(repo_packages())
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start psserver");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        // Keep draining the output so the server never blocks on a full pipe.
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let log = log.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    // "psserver listening on http://127.0.0.1:PORT" (or https://)
                    if let Some(rest) = line.split("listening on ").nth(1)
                        && let Some((scheme, rest)) = rest.split_once("://")
                    {
                        let addr: String =
                            rest.chars().take_while(|c| !c.is_whitespace()).collect();
                        let _ = tx.send((scheme.to_owned(), addr));
                    }
                    log.lock().expect("log").push(line);
                }
            });
        }
        let (scheme, addr) = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "psserver did not log its address; log:\n{}",
                    log.lock().expect("log").join("\n")
                )
            });
        let server = Server {
            child,
            scheme,
            addr,
            dir,
            log,
        };
        server.wait_ready();
        server
    }

    /// The URL of `href`'s path on this server, wherever `href` pointed (a restarted server
    /// listens on a new port).
    pub fn moved(&self, href: &str) -> String {
        let path = href.split_once("://").map_or(href, |(_, rest)| {
            &rest[rest.find('/').unwrap_or(rest.len())..]
        });
        self.url(path)
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

    /// The server logs "psserver ready" once `/_emu/ready` answers 200 (plain or TLS alike).
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self
                .log
                .lock()
                .expect("log")
                .iter()
                .any(|l| l.contains("psserver ready"))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("psserver not ready after 30 s; log:\n{}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the process to exit by itself.
    pub fn wait_exit(mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Stop the server and hand back its data directory.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// A fresh, migrated and indexed app for router tests (`oneshot`), with its temp directory.
pub async fn test_app_with(
    tweak: impl FnOnce(&mut psserver::Config),
) -> (psserver::App, psserver::AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = psserver::Config::for_data_dir(dir.path().join("data"), repo_packages());
    tweak(&mut config);
    let state = psserver::server::open(config).await.expect("open");
    psserver::server::prepare(&state).await.expect("prepare");
    (psserver::app(state.clone()), state, dir)
}

pub async fn test_app() -> (psserver::App, psserver::AppState, tempfile::TempDir) {
    test_app_with(|_| {}).await
}

/// Register a Windows machine as its agent does (`machine_id` is also its host name): the new
/// source's id and the agent's token.
pub async fn register_agent(app: &psserver::App, machine_id: &str) -> (String, String) {
    let reply = app
        .post_json(
            &format!("{API}/sources?operation=Register"),
            serde_json::json!({"hostName": machine_id, "osFamily": "windows",
                   "platform": "windows-x64", "ipAddress": "10.0.0.5", "machineId": machine_id}),
        )
        .await;
    reply.assert_status(axum::http::StatusCode::CREATED);
    let reg = reply.json();
    (
        reg["id"].as_str().unwrap().to_owned(),
        reg["agentToken"].as_str().unwrap().to_owned(),
    )
}

/// `Authorization: Basic ...` for a user and password.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Send a request through the app (or its router alone) and read the whole response.
pub async fn send<S>(app: &S, request: axum::http::Request<axum::body::Body>) -> Reply
where
    S: tower::Service<
            axum::http::Request<axum::body::Body>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone,
{
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request_line = format!("{} {}", request.method(), request.uri());
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
        request: request_line,
    }
}

/// A whole response, with its assertions and readings (after docs.rs's `AxumResponseTestExt`).
pub struct Reply {
    pub status: axum::http::StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
    /// The request's method and URI, for failure messages.
    pub request: String,
}

impl Reply {
    /// Assert the status; on a mismatch the message shows the request and the body.
    #[track_caller]
    pub fn assert_status(&self, status: axum::http::StatusCode) -> &Self {
        assert_eq!(
            self.status,
            status,
            "{}: {}",
            self.request,
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a UTF-8 body")
    }

    /// The body parsed as an HTML document; it must be served as `text/html`.
    #[track_caller]
    pub fn html(&self) -> scraper::Html {
        assert!(
            self.header("content-type")
                .unwrap_or("")
                .starts_with("text/html"),
            "not HTML: {:?}",
            self.header("content-type")
        );
        scraper::Html::parse_document(&String::from_utf8_lossy(&self.body))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether a 401 offers what the real server does: NTLM (first), then Basic for scripts.
    pub fn offers_ntlm_and_basic(&self) -> bool {
        let offers: Vec<&str> = self
            .headers
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        offers.len() == 2 && offers[0] == "NTLM" && offers[1].starts_with("Basic realm=")
    }

    /// The stable error code of a JSON error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// A request builder with administrator credentials.
pub fn admin(method: &str, uri: &str) -> axum::http::request::Builder {
    axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", basic(ADMIN.0, ADMIN.1))
}

pub fn json_body(value: serde_json::Value) -> axum::body::Body {
    axum::body::Body::from(value.to_string())
}

/// Requests as the router tests send them to the app (or to its router alone), each answered with
/// the whole response read into a [`Reply`]; after docs.rs's `AxumRouterTestExt`. `get` and
/// `get_with` send no credentials, `get_as` a user's, `call`, `post_json` and `get_json` the
/// administrator's.
pub trait AppExt {
    /// Send a request and read the whole response.
    async fn send(&self, request: axum::http::Request<axum::body::Body>) -> Reply;
    /// `GET uri` without credentials.
    async fn get(&self, uri: &str) -> Reply;
    /// `GET uri` without credentials, with these headers.
    async fn get_with(&self, uri: &str, headers: &[(&str, &str)]) -> Reply;
    /// `GET uri` with a user's credentials (name, password).
    async fn get_as(&self, uri: &str, user: (&str, &str)) -> Reply;
    /// An administrator's request, with a JSON body or none.
    async fn call(&self, method: &str, uri: &str, body: Option<serde_json::Value>) -> Reply;
    /// An administrator's `POST` of a JSON body.
    async fn post_json(&self, uri: &str, body: serde_json::Value) -> Reply;
    /// An administrator's `GET` that must answer 200: its JSON.
    async fn get_json(&self, uri: &str) -> serde_json::Value;
}

impl<S> AppExt for S
where
    S: tower::Service<
            axum::http::Request<axum::body::Body>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone,
{
    async fn send(&self, request: axum::http::Request<axum::body::Body>) -> Reply {
        send(self, request).await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.get_with(uri, &[]).await
    }

    async fn get_with(&self, uri: &str, headers: &[(&str, &str)]) -> Reply {
        let mut builder = axum::http::Request::builder().method("GET").uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        send(
            self,
            builder.body(axum::body::Body::empty()).expect("request"),
        )
        .await
    }

    async fn get_as(&self, uri: &str, user: (&str, &str)) -> Reply {
        let request = axum::http::Request::builder()
            .method("GET")
            .uri(uri)
            .header("authorization", basic(user.0, user.1))
            .body(axum::body::Body::empty())
            .expect("request");
        send(self, request).await
    }

    async fn call(&self, method: &str, uri: &str, body: Option<serde_json::Value>) -> Reply {
        let body = body.map_or_else(axum::body::Body::empty, json_body);
        send(self, admin(method, uri).body(body).expect("request")).await
    }

    async fn post_json(&self, uri: &str, body: serde_json::Value) -> Reply {
        self.call("POST", uri, Some(body)).await
    }

    async fn get_json(&self, uri: &str) -> serde_json::Value {
        self.get_as(uri, ADMIN)
            .await
            .assert_status(axum::http::StatusCode::OK)
            .json()
    }
}

/// A connection of the test's own to an app's database file, for what the app's storage gives no
/// way to do (all its writes go through its use cases): bulk rows, or breaking the schema.
pub async fn own_connection(state: &psserver::AppState) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&state.config.database_url())
        .await
        .expect("a connection to the app's database")
}
