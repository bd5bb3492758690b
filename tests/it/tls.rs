//! HTTPS: the server with given certificate files, and bad TLS flags. The agent against a
//! self-signed server is in `crates/agent/tests/it/tls.rs`.

use crate::common;

use std::process::Command;

use common::Server;

fn trusting(cert_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn certificate_and_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let server = Server::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let reply = trusting(made.cert.pem().as_bytes())
        .get(server.api("/driverPackages"))
        .basic_auth(common::ADMIN.0, Some(common::ADMIN.1))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    // Links name the scheme the client used (SPEC 9).
    let list: serde_json::Value = reply.json().await.unwrap();
    let href = list["links"][0]["href"].as_str().unwrap();
    assert_eq!(
        href.split("/MigrateApi/").next(),
        Some(format!("https://{}", server.addr).as_str()),
        "{href}"
    );
}

#[test]
fn bad_tls_flags_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_psserver"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--tls-cert", "/nonexistent/cert.pem"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a certificate without its key is a usage error"
    );
    let out = run(&["--tls-self-signed", "--tls-cert", "a", "--tls-key", "b"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&[
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/cert.pem"), "{stderr}");
}

/// A self-signed server keeps its certificate across restarts, so that clients trust it once;
/// other names (`--tls-names`) make a new one. The key is readable by the server's user only.
#[test]
fn the_self_signed_certificate_is_kept_across_restarts() {
    let server = Server::start(&["--tls-self-signed"]);
    let cert_path = server.dir.path().join("data/tls/self-signed-cert.pem");
    let first = std::fs::read(&cert_path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = server.dir.path().join("data/tls/self-signed-key.pem");
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key is private: {mode:o}");
    }
    let dir = server.stop();
    let server = Server::start_in(dir, &["--tls-self-signed"]);
    assert_eq!(
        std::fs::read(&cert_path).unwrap(),
        first,
        "the same certificate"
    );
    let dir = server.stop();
    let server = Server::start_in(
        dir,
        &["--tls-self-signed", "--tls-names", "psserver.lab,10.0.0.5"],
    );
    let renamed = std::fs::read(&cert_path).unwrap();
    assert_ne!(renamed, first, "new names, a new certificate");
    let names =
        std::fs::read_to_string(server.dir.path().join("data/tls/self-signed-names.txt")).unwrap();
    assert!(
        names.contains("psserver.lab") && names.contains("10.0.0.5"),
        "{names}"
    );
}
