//! Reliability: what a hostile or broken client can do over plain TCP against the real server:
//! oversized headers and bodies, malformed requests, slow clients. The server answers such a
//! client with a 4xx or by closing its connection, never a 5xx, and keeps answering the others
//! promptly while it happens.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{ADMIN, Server};

/// What came back on a raw connection: the status of the first response (if any) and whether
/// the server closed the connection.
#[derive(Debug)]
struct RawReply {
    status: Option<u16>,
    head: String,
    full: String,
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(&server.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

/// Read until the server closes the connection, the read times out or one response with a
/// Content-Length is complete, and parse the first status line.
fn read_reply(stream: &mut TcpStream) -> RawReply {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.len() > 1 << 20 || response_complete(&got) {
                    break;
                }
            }
            // A reset is a closed connection too.
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    RawReply {
        status,
        head: text.chars().take(300).collect(),
        full: text,
    }
}

fn response_complete(got: &[u8]) -> bool {
    let text = String::from_utf8_lossy(got);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .and_then(|n| n.trim().parse::<usize>().ok())
        })
        .is_some_and(|len| body.len() >= len)
}

/// Send raw bytes (ignoring a write refused because the server already closed) and read what
/// comes back.
fn send_raw(server: &Server, bytes: &[u8]) -> RawReply {
    let mut stream = connect(server);
    let _ = stream.write_all(bytes);
    let _ = stream.flush();
    // Half-close: the server sees the end of the request and may close its side.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    read_reply(&mut stream)
}

/// `GET /_emu/health` on a fresh connection: its status and how long it took.
/// (Without a half-close: hyper may drop a response when it sees the client's end first.)
fn health(server: &Server) -> (RawReply, Duration) {
    let started = Instant::now();
    let mut stream = connect(server);
    stream
        .write_all(b"GET /_emu/health HTTP/1.1\r\nHost: psserver\r\nConnection: close\r\n\r\n")
        .expect("write");
    let reply = read_reply(&mut stream);
    (reply, started.elapsed())
}

fn assert_healthy(server: &Server, context: &str) {
    let (reply, took) = health(server);
    assert_eq!(
        reply.status,
        Some(200),
        "health after {context}: {:?}",
        reply.head
    );
    assert!(
        took < Duration::from_secs(2),
        "health took {took:?} after {context}"
    );
}

/// Each health probe's status and time.
type Probes = Vec<(Option<u16>, Duration)>;

/// Checks `/_emu/health` every 100 ms on another thread until dropped; reports the slowest.
struct HealthWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Probes>>,
}

impl HealthWatch {
    fn start(server: &Server) -> Self {
        let addr = server.addr.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let started = Instant::now();
                    let status = TcpStream::connect(&addr).ok().and_then(|mut s| {
                        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
                        s.write_all(
                            b"GET /_emu/health HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n",
                        )
                        .ok()?;
                        let mut text = String::new();
                        let _ = s.read_to_string(&mut text);
                        text.get(9..12).and_then(|c| c.parse::<u16>().ok())
                    });
                    seen.push((status, started.elapsed()));
                    std::thread::sleep(Duration::from_millis(100));
                }
                seen
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stop (after at least a second of probes) and check that every probe answered 200
    /// within `limit`.
    fn assert_prompt(mut self, limit: Duration) {
        std::thread::sleep(Duration::from_secs(1));
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let seen = self
            .thread
            .take()
            .expect("thread")
            .join()
            .expect("health thread");
        assert!(seen.len() >= 3, "only {} health probes ran", seen.len());
        for (i, (status, took)) in seen.iter().enumerate() {
            assert_eq!(*status, Some(200), "health probe {i} of {}", seen.len());
            assert!(
                *took < limit,
                "health probe {i} took {took:?} (limit {limit:?})"
            );
        }
    }
}

#[test]
fn an_oversized_header_gets_431_or_a_closed_connection_and_the_server_stays_up() {
    let server = Server::start(&[]);
    let watch = HealthWatch::start(&server);
    let big = "a".repeat(100 * 1024);
    let cases = [
        // One 100 KiB header value.
        format!("GET /_emu/health HTTP/1.1\r\nHost: p\r\nX-Big: {big}\r\n\r\n"),
        // A 100 KiB request target.
        format!("GET /MigrateApi/2019.8/sources/{big} HTTP/1.1\r\nHost: p\r\n\r\n"),
        // 100 KiB of credentials.
        format!(
            "GET /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nAuthorization: Basic {big}\r\n\r\n"
        ),
        // 2,000 small headers (hyper keeps at most 100).
        format!(
            "GET /_emu/health HTTP/1.1\r\nHost: p\r\n{}\r\n",
            (0..2000)
                .map(|i| format!("X-H{i}: v\r\n"))
                .collect::<String>()
        ),
        // A header that never ends: 1 MiB without a line break.
        format!(
            "GET /_emu/health HTTP/1.1\r\nHost: p\r\nX-Endless: {}",
            "b".repeat(1 << 20)
        ),
    ];
    for (i, request) in cases.iter().enumerate() {
        let reply = send_raw(&server, request.as_bytes());
        assert!(
            matches!(reply.status, None | Some(431) | Some(414)),
            "case {i}: expected 431 (414 for a long target) or a closed connection, got {:?}",
            reply.head
        );
        assert_healthy(&server, &format!("oversized header case {i}"));
    }
    // Through an ordinary client too.
    let client = reqwest::blocking::Client::new();
    match client
        .get(server.url("/_emu/health"))
        .header("x-big", &big)
        .send()
    {
        Ok(response) => assert_eq!(response.status().as_u16(), 431),
        Err(e) => assert!(e.is_request() || e.is_connect() || e.is_body(), "{e}"),
    }
    // Headers of an ordinary size are fine.
    let ok = client
        .get(server.api("/sources"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .header("x-fine", "c".repeat(4 * 1024))
        .send()
        .expect("request");
    assert_eq!(ok.status().as_u16(), 200);
    watch.assert_prompt(Duration::from_secs(2));
}

/// The status and body of a response read on a raw connection (headers, then Content-Length
/// bytes).
fn status_and_json_of(reply: &RawReply) -> (u16, serde_json::Value) {
    let status = reply
        .status
        .unwrap_or_else(|| panic!("no response: {:?}", reply.head));
    let body = reply.full.split("\r\n\r\n").nth(1).unwrap_or("");
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    (status, json)
}

#[test]
fn an_oversized_json_body_gets_413_with_a_json_error() {
    let server = Server::start(&[]);
    let client = reqwest::blocking::Client::new();
    let created: serde_json::Value = client
        .post(server.api("/sources"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .json(
            &serde_json::json!({"hostName": "w1", "osFamily": "windows", "ipAddress": "10.0.0.2"}),
        )
        .send()
        .expect("create")
        .json()
        .expect("json");
    let id = created["id"].as_str().expect("id");
    let driver_state = format!("/sources/{id}/driverState");
    // The JSON limit is 2 MiB; a client declares 3 MiB and waits for the verdict before it
    // sends the body (as with `Expect: 100-continue`): 413 at once, with the JSON error.
    let padding = "x".repeat(3 * 1024 * 1024);
    let body = format!(r#"{{"hostName":"{padding}","osFamily":"windows","ipAddress":"10.0.0.1"}}"#);
    for (method, path) in [
        ("POST", "/sources"),
        ("POST", "/sources?operation=Register"),
        ("POST", "/transformations"),
        ("PUT", driver_state.as_str()),
    ] {
        let mut stream = connect(&server);
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let head = format!(
            "{method} /MigrateApi/2019.8{path} HTTP/1.1\r\nHost: p\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            common::basic(ADMIN.0, ADMIN.1),
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("write");
        let reply = read_reply(&mut stream);
        let (status, json) = status_and_json_of(&reply);
        assert_eq!(status, 413, "{method} {path}: {json}");
        assert_eq!(json["error"]["code"], "PayloadTooLarge", "{method} {path}");
        // The body is left unread: the answer must say the connection ends, or a client would
        // send its next request on it and meet a closed socket.
        assert!(
            reply
                .head
                .to_ascii_lowercase()
                .contains("\r\nconnection: close\r\n"),
            "{method} {path}: {}",
            reply.head
        );
    }
    // A client that streams the whole body without waiting may see its connection closed
    // before it reads the answer; when it does read one, it is the 413.
    match client
        .post(server.api("/sources"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
    {
        Ok(response) => assert_eq!(response.status().as_u16(), 413),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    // Nothing was added by any of it.
    let list: serde_json::Value = client
        .get(server.api("/sources"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .expect("list")
        .json()
        .expect("json");
    assert_eq!(list["totalCount"], 1);
    assert_healthy(&server, "oversized bodies");
}

#[test]
fn malformed_requests_get_a_4xx_or_a_closed_connection_never_a_5xx() {
    let server = Server::start(&[]);
    let watch = HealthWatch::start(&server);
    let auth = common::basic(ADMIN.0, ADMIN.1);
    let mut garbage = vec![0u8; 4096];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for b in &mut garbage {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", garbage),
        ("a TLS client hello on plain HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec()),
        ("an HTTP/2 preface on HTTP/1", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
        ("a bare method", b"GET\r\n\r\n".to_vec()),
        ("no version", b"GET /_emu/health\r\n\r\n".to_vec()),
        ("HTTP/9.9", b"GET /_emu/health HTTP/9.9\r\nHost: p\r\n\r\n".to_vec()),
        ("a space in the target", b"GET /_emu/ health HTTP/1.1\r\nHost: p\r\n\r\n".to_vec()),
        ("a NUL in the target", b"GET /_emu/\0health HTTP/1.1\r\nHost: p\r\n\r\n".to_vec()),
        ("a method with a slash", b"G/ET /_emu/health HTTP/1.1\r\nHost: p\r\n\r\n".to_vec()),
        ("lowercase version", b"GET /_emu/health http/1.1\r\nHost: p\r\n\r\n".to_vec()),
        ("bare LF line ends", b"GET /_emu/health HTTP/1.1\nHost: p\n\n".to_vec()),
        ("a header without a colon", b"GET /_emu/health HTTP/1.1\r\nHost p\r\n\r\n".to_vec()),
        ("a header name with a space", b"GET /_emu/health HTTP/1.1\r\nBad Name: v\r\n\r\n".to_vec()),
        ("a NUL in a header value", b"GET /_emu/health HTTP/1.1\r\nX-A: a\0b\r\n\r\n".to_vec()),
        ("an obsolete folded header", b"GET /_emu/health HTTP/1.1\r\nX-A: a\r\n  folded\r\n\r\n".to_vec()),
        ("Content-Length: abc", b"POST /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nContent-Length: abc\r\n\r\n{}".to_vec()),
        ("Content-Length: -1", b"POST /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nContent-Length: -1\r\n\r\n{}".to_vec()),
        ("Content-Length: 1e3", b"POST /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nContent-Length: 1e3\r\n\r\n{}".to_vec()),
        ("Content-Length beyond u64", b"POST /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nContent-Length: 99999999999999999999999\r\n\r\n{}".to_vec()),
        ("two different Content-Lengths", b"POST /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}".to_vec()),
        ("Content-Length and chunked", b"POST /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec()),
        ("a bad chunk size", b"POST /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".to_vec()),
        ("a chunk size beyond u64", b"POST /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n".to_vec()),
        ("an unknown transfer coding", b"POST /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: gzip\r\n\r\n{}".to_vec()),
        ("a body cut short", format!("POST /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nAuthorization: {auth}\r\nContent-Length: 100\r\n\r\n{{\"hostName\"").into_bytes()),
        ("an upload cut short", format!("POST /MigrateApi/2019.8/driverPackages?platform=windows-x64&version=9.0.0.1 HTTP/1.1\r\nHost: p\r\nAuthorization: {auth}\r\nContent-Length: 100000\r\n\r\nPK\x03\x04").into_bytes()),
        ("malformed JSON", format!("POST /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{{\"a\": [1,").into_bytes()),
        ("JSON nested 100,000 deep", {
            let body = "[".repeat(100_000);
            format!("POST /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
        }),
        ("a bad Basic credential", b"GET /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nAuthorization: Basic %%%\r\n\r\n".to_vec()),
        ("a non-UTF-8 credential", b"GET /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nAuthorization: Basic \xff\xfe\r\n\r\n".to_vec()),
        ("a non-UTF-8 Range", b"GET /MigrateApi/2019.8/driverPackages/latest/content?platform=linux-x64 HTTP/1.1\r\nHost: p\r\nRange: bytes=\xff-\r\n\r\n".to_vec()),
        ("an absolute-form target", b"GET http://evil.example/_emu/health HTTP/1.1\r\nHost: p\r\n\r\n".to_vec()),
        ("CONNECT", b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n".to_vec()),
        ("an asterisk target", b"OPTIONS * HTTP/1.1\r\nHost: p\r\n\r\n".to_vec()),
        ("an unknown method", b"BREW /_emu/health HTTP/1.1\r\nHost: p\r\n\r\n".to_vec()),
        ("only line ends", b"\r\n\r\n\r\n\r\n".to_vec()),
        ("nothing", Vec::new()),
    ];
    for (name, bytes) in &cases {
        let reply = send_raw(&server, bytes);
        match reply.status {
            None => {}
            Some(status) => assert!(
                (200..500).contains(&status),
                "{name}: a {status}: {:?}",
                reply.head
            ),
        }
        // Only requests that are valid after all may succeed.
        if let Some(status) = reply.status.filter(|s| *s < 300) {
            assert!(
                matches!(
                    *name,
                    "bare LF line ends"
                        | "an absolute-form target"
                        | "an obsolete folded header"
                        | "a bad Basic credential"
                        // Not a valid range: ignored, the whole package (RFC 9110 §14.2), as
                        // for any malformed Range (`src/drivers/range.rs`). Whether the answer
                        // arrives before the half-close is seen depends on timing.
                        | "a non-UTF-8 Range"
                ),
                "{name} succeeded with {status}: {:?}",
                reply.head
            );
        }
        assert_healthy(&server, name);
    }
    watch.assert_prompt(Duration::from_secs(2));
    assert!(
        !server.log_text().contains("panicked"),
        "the server panicked:\n{}",
        server.log_text()
    );
}

#[test]
fn slow_clients_are_cut_off_by_the_header_timeout_while_others_are_served() {
    let server = Server::start(&["--header-timeout-secs", "2"]);
    let watch = HealthWatch::start(&server);

    // 50 idle connections that never send a byte, and one that trickles a header, a byte a second.
    let idle: Vec<TcpStream> = (0..50).map(|_| connect(&server)).collect();
    let mut slow = connect(&server);
    let started = Instant::now();
    slow.write_all(b"GET /_emu/health HTTP/1.1\r\nHost: p\r\nX-Slow: ")
        .expect("write");
    let mut cut_off = None;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_secs(1));
        if slow.write_all(b"z").is_err() {
            cut_off = Some(started.elapsed());
            break;
        }
        // A closed connection shows as EOF on a read that does not wait.
        slow.set_nonblocking(true).expect("nonblocking");
        let mut buf = [0u8; 64];
        let closed = matches!(slow.read(&mut buf), Ok(0))
            || matches!(slow.read(&mut buf), Err(ref e) if e.kind() != std::io::ErrorKind::WouldBlock);
        slow.set_nonblocking(false).expect("blocking");
        if closed {
            cut_off = Some(started.elapsed());
            break;
        }
    }
    let cut_off = cut_off.expect("the trickling client was never cut off");
    assert!(
        cut_off < Duration::from_secs(6),
        "cut off only after {cut_off:?} (timeout 2 s)"
    );
    // The idle ones are closed too.
    for (i, mut stream) in idle.into_iter().enumerate() {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) | Err(_) if started.elapsed() < Duration::from_secs(12) => {}
            other => panic!("idle connection {i} still open: {other:?}"),
        }
    }
    watch.assert_prompt(Duration::from_secs(1));

    // A client that sends its headers in time is served as usual, also on a kept-alive
    // connection.
    let mut stream = connect(&server);
    for _ in 0..3 {
        stream
            .write_all(b"GET /_emu/health HTTP/1.1\r\nHost: p\r\n\r\n")
            .expect("write");
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    }
}

#[test]
fn a_body_that_stops_arriving_is_answered_408_while_others_are_served() {
    let server = Server::start(&["--body-timeout-secs", "1"]);
    let watch = HealthWatch::start(&server);
    let auth = common::basic(ADMIN.0, ADMIN.1);
    let stalls = [
        (
            "a JSON body",
            format!(
                "POST /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nAuthorization: {auth}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"hostName\":"
            ),
        ),
        (
            "an upload",
            format!(
                "POST /MigrateApi/2019.8/driverPackages?platform=windows-x64&version=9.0.0.1 HTTP/1.1\r\n\
                 Host: p\r\nAuthorization: {auth}\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: 100000\r\n\r\nPK\x03\x04"
            ),
        ),
    ];
    for (what, head) in &stalls {
        let started = Instant::now();
        let mut stream = connect(&server);
        stream.write_all(head.as_bytes()).expect("write");
        // No half-close: the client keeps the connection and simply stops sending.
        let reply = read_reply(&mut stream);
        let took = started.elapsed();
        assert_eq!(reply.status, Some(408), "{what}: {:?}", reply.head);
        assert!(
            reply.full.contains("\"RequestTimeout\""),
            "{what}: {}",
            reply.full
        );
        assert!(
            took < Duration::from_secs(5),
            "{what}: answered after {took:?} (timeout 1 s)"
        );
    }
    watch.assert_prompt(Duration::from_secs(1));
    // No half-written package is left behind, and the server lists what it had.
    let mut stream = connect(&server);
    stream
        .write_all(
            format!("GET /MigrateApi/2019.8/driverPackages HTTP/1.1\r\nHost: p\r\nAuthorization: {auth}\r\n\r\n")
                .as_bytes(),
        )
        .expect("write");
    let reply = read_reply(&mut stream);
    assert_eq!(reply.status, Some(200), "{:?}", reply.head);
    assert!(!reply.full.contains("9.0.0.1"), "{}", reply.full);
}

/// Issue 20 D6: ambiguous framing is refused with a 400 before any handler runs: an HTTP/1.1
/// request without `Host` or with two (RFC 9112 §3.2), and a request with two `Authorization`
/// fields, which could be read as either user. One `Host` and one `Authorization` pass.
#[test]
fn ambiguous_framing_gets_400() {
    use base64::Engine;
    let server = Server::start(&[]);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", ADMIN.0, ADMIN.1));
    let path = "/MigrateApi/2019.8/sources";
    for (what, head) in [
        (
            "no Host",
            format!(
                "GET {path} HTTP/1.1\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n"
            ),
        ),
        (
            "two Host",
            format!(
                "GET {path} HTTP/1.1\r\nHost: a\r\nHost: b\r\nAuthorization: Basic {auth}\r\n\r\n"
            ),
        ),
        (
            "two Authorization",
            format!(
                "GET {path} HTTP/1.1\r\nHost: a\r\nAuthorization: Basic {auth}\r\nAuthorization: Basic Zm9vOmJhcg==\r\nConnection: close\r\n\r\n"
            ),
        ),
    ] {
        let reply = exchange(&server, head.as_bytes());
        assert_eq!(reply.status, Some(400), "{what}: {}", reply.head);
        assert!(
            reply.full.contains("BadRequestFraming"),
            "{what}: {}",
            reply.full
        );
    }
    let fine = format!(
        "GET {path} HTTP/1.1\r\nHost: a\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n"
    );
    let reply = exchange(&server, fine.as_bytes());
    assert_eq!(reply.status, Some(200), "{}", reply.head);
}

/// Send a whole request and read the answer, without half-closing: a server may drop a request
/// whose connection it sees end before it answers.
fn exchange(server: &Server, bytes: &[u8]) -> RawReply {
    let mut stream = connect(server);
    let _ = stream.write_all(bytes);
    let _ = stream.flush();
    read_reply(&mut stream)
}

/// Issue 20 D1: a body trickled fast enough never to pause for `--body-timeout-secs` is still
/// cut once it falls behind `--body-min-rate`: answered 408 with the JSON error, soon after the
/// grace, while the server goes on answering others.
#[test]
fn a_trickled_body_is_answered_408_once_it_falls_behind_the_minimum_rate() {
    let server = Server::start(&["--body-timeout-secs", "2", "--body-min-rate", "100"]);
    let watch = HealthWatch::start(&server);
    let auth = common::basic(ADMIN.0, ADMIN.1);
    let head = format!(
        "POST /MigrateApi/2019.8/sources HTTP/1.1\r\nHost: p\r\nAuthorization: {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    let started = Instant::now();
    let mut stream = connect(&server);
    stream.write_all(head.as_bytes()).expect("write");
    // One byte every 300 ms: never a pause of 2 s, but 3 bytes a second against 100.
    let mut writer = stream.try_clone().expect("clone");
    let trickle = std::thread::spawn(move || {
        for _ in 0..60 {
            if writer.write_all(b" ").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let reply = read_reply(&mut stream);
    let took = started.elapsed();
    assert_eq!(reply.status, Some(408), "{:?}", reply.head);
    let (_, json) = status_and_json_of(&reply);
    assert_eq!(json["error"]["code"], "RequestTimeout", "{json}");
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("--body-min-rate"), "{message}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "answered after {took:?} (grace 2 s)"
    );
    drop(stream);
    trickle.join().expect("writer");
    watch.assert_prompt(Duration::from_secs(1));
}

/// Issue 20 D1: an upload that takes longer than the grace, at more than the minimum rate, is
/// taken whole: the rate bounds a body's time by its size, and does not cut slow links.
#[test]
fn an_upload_above_the_minimum_rate_is_taken_however_long_it_takes() {
    use psserver::domain::platform::Platform;
    use psserver::domain::version::DriverVersion;
    let package = psserver::drivers::package::build_bytes(
        "windows-x64".parse::<Platform>().expect("platform"),
        "9.0.0.2".parse::<DriverVersion>().expect("version"),
    );
    // Twelve pieces 250 ms apart (3 s, past the 1 s grace) at twice the minimum rate.
    let min_rate = (package.len() / 6).max(1);
    let server = Server::start(&[
        "--body-timeout-secs",
        "1",
        "--body-min-rate",
        &min_rate.to_string(),
    ]);
    let auth = common::basic(ADMIN.0, ADMIN.1);
    let head = format!(
        "POST /MigrateApi/2019.8/driverPackages?platform=windows-x64&version=9.0.0.2 HTTP/1.1\r\n\
         Host: p\r\nAuthorization: {auth}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\n\r\n",
        package.len()
    );
    let started = Instant::now();
    let mut stream = connect(&server);
    stream.write_all(head.as_bytes()).expect("write");
    for piece in package.chunks(package.len().div_ceil(12)) {
        std::thread::sleep(Duration::from_millis(250));
        stream.write_all(piece).expect("write a piece");
    }
    let reply = read_reply(&mut stream);
    assert!(started.elapsed() > Duration::from_secs(2));
    assert_eq!(reply.status, Some(201), "{}", reply.full);
}

/// Issue 20 D1: beyond `--max-connections`, a connection is answered 503 with `Retry-After`
/// and closed; the place is given back when a connection closes.
#[test]
fn a_connection_beyond_the_cap_is_answered_503_and_places_are_given_back() {
    let server = Server::start(&["--max-connections", "3"]);
    let health = b"GET /_emu/health HTTP/1.1\r\nHost: p\r\n\r\n";
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut stream = connect(&server);
            stream.write_all(health).expect("write");
            let reply = read_reply(&mut stream);
            assert_eq!(reply.status, Some(200), "{}", reply.head);
            stream
        })
        .collect();
    let reply = exchange(&server, health);
    assert_eq!(reply.status, Some(503), "{}", reply.full);
    let head = reply.full.to_ascii_lowercase();
    assert!(head.contains("retry-after: 1\r\n"), "{}", reply.full);
    assert!(reply.full.contains("TooManyConnections"), "{}", reply.full);
    // The refusal does not take a place: still refused while the three are held.
    assert_eq!(exchange(&server, health).status, Some(503));
    drop(held);
    // Their places come back once the server sees them closed.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = exchange(
            &server,
            b"GET /_emu/health HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n",
        );
        if reply.status == Some(200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "places never given back: {}",
            reply.head
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Issue 20 D1 over TLS: connections still in their handshake hold places too, and one beyond
/// the cap gets the 503 over TLS.
#[test]
fn the_connection_cap_holds_on_the_tls_listener() {
    let server = Server::start(&["--tls-self-signed", "--max-connections", "2"]);
    let cert = std::fs::read(server.dir.path().join("data/tls/self-signed-cert.pem"))
        .expect("the certificate");
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).expect("pem"))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let url = format!("https://{}/_emu/health", server.addr);
    assert_eq!(client.get(&url).send().expect("served").status(), 200);
    // Two connections that never start their handshake fill the cap.
    let held: Vec<TcpStream> = (0..2).map(|_| connect(&server)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let refused = client.get(&url).send().expect("answered");
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.get(&url).send().map(|r| r.status()).ok() != Some(reqwest::StatusCode::OK) {
        assert!(Instant::now() < deadline, "places never given back");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Issue 20 D1 under `/migrate`: an upload form that stops arriving (here, the first part
/// trickled too slowly) is answered 408 with the HTML error page, as the API answers its JSON.
#[test]
fn a_trickled_upload_form_gets_the_408_error_page() {
    let server = Server::start(&["--body-timeout-secs", "1", "--body-min-rate", "100"]);
    let auth = common::basic(ADMIN.0, ADMIN.1);
    let head = format!(
        "POST /migrate/driver-packages HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\n\
         Authorization: {auth}\r\nContent-Type: multipart/form-data; boundary=B\r\n\
         Content-Length: 5000\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n",
        addr = server.addr
    );
    let started = Instant::now();
    let mut stream = connect(&server);
    stream.write_all(head.as_bytes()).expect("write");
    let mut writer = stream.try_clone().expect("clone");
    let trickle = std::thread::spawn(move || {
        for _ in 0..40 {
            if writer.write_all(b"a").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    let reply = read_reply(&mut stream);
    assert_eq!(reply.status, Some(408), "{}", reply.full);
    let lower = reply.full.to_ascii_lowercase();
    assert!(lower.contains("content-type: text/html"), "{}", reply.full);
    assert!(started.elapsed() < Duration::from_secs(6));
    drop(stream);
    trickle.join().expect("writer");
}
