//! Fault injection seen by the agent: a download cut short by a rule fails a client and the
//! agent alike. (The rules themselves are tested in the server's `tests/it/faults.rs`.)

use crate::common;

use common::{ADMIN, Server};
use serde_json::{Value, json};

fn rule(server: &Server, rule: Value) -> String {
    let reply = reqwest::blocking::Client::new()
        .post(server.url("/_emu/faults"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .json(&rule)
        .send()
        .unwrap();
    assert_eq!(reply.status(), 201);
    reply.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_download_cut_short_fails_the_client_and_the_agent() {
    let server = Server::start(&[]);
    let http = reqwest::blocking::Client::new();
    let latest: Value = http
        .get(server.api("/driverPackages/latest?platform=windows-x64"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let size = latest["size"].as_u64().unwrap();
    assert!(size > 1000, "{size}");
    rule(
        &server,
        json!({"method": "GET", "path": "*/content", "action": "truncate", "truncateAfterBytes": 1000}),
    );
    let href = latest["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "content")
        .unwrap()["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut reply = http.get(server.url(&href)).send().unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.content_length(), Some(size));
    let mut body = Vec::new();
    let read = std::io::Read::read_to_end(&mut reply, &mut body);
    assert!(read.is_err(), "the body ends with an error");
    assert_eq!(body.len(), 1000, "exactly the bytes before the cut");

    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_migrate-agent"))
        .args(["din", &format!("/psserver={}", server.addr)])
        .env("MIGRATE_AGENT_HOME", home.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("was cut short"), "{stdout}");
    assert!(stdout.ends_with("The task failed\n"), "{stdout}");
}
