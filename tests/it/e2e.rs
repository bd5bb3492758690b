//! End-to-end tests: the built `psserver` on a free port, driven over HTTP as agents and
//! operators drive it.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{ADMIN, Server, client};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

async fn register(c: &reqwest::Client, server: &Server, machine_id: &str) -> (String, String) {
    let reply = c
        .post(server.api("/sources?operation=Register"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .json(&json!({"hostName": format!("WIN-{machine_id}"), "osFamily": "windows", "platform": "windows-x64", "ipAddress": "10.1.2.3", "machineId": machine_id}))
        .send()
        .await
        .expect("register");
    assert!(reply.status().is_success(), "{}", reply.status());
    let body: Value = reply.json().await.expect("json");
    (
        body["id"].as_str().expect("id").to_owned(),
        body["agentToken"].as_str().expect("token").to_owned(),
    )
}

async fn report(
    c: &reqwest::Client,
    server: &Server,
    id: &str,
    token: &str,
    installed: Option<&str>,
    running: Option<&str>,
) -> reqwest::Response {
    c.put(server.api(&format!("/sources/{id}/driverState")))
        .bearer_auth(token)
        .json(&json!({"installedVersion": installed, "runningVersion": running, "controllerService": "running"}))
        .send()
        .await
        .expect("report")
}

async fn get(c: &reqwest::Client, url: String) -> Value {
    let reply = c
        .get(&url)
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .expect("get");
    assert_eq!(reply.status(), 200, "{url}");
    reply.json().await.expect("json")
}

#[tokio::test]
async fn the_seed_story_over_http() {
    let server = Server::start(&[]);
    let c = client();
    let (id, token) = register(&c, &server, "seed").await;

    // install 8.0.0.11 without a reboot: the reboot-notification task appears
    let reply = report(&c, &server, &id, &token, Some("8.0.0.11"), None).await;
    assert_eq!(reply.status(), 200);
    let tasks = get(
        &c,
        server.api(&format!("/tasks?sourceId={id}&state=active")),
    )
    .await;
    assert_eq!(tasks["totalCount"], 1);
    assert_eq!(tasks["tasks"][0]["kind"], "RebootRequired");
    assert!(
        tasks["tasks"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Reboot required to complete the driver installation")
    );

    // the reboot: the task is resolved and a server-sync is required
    let reply = report(&c, &server, &id, &token, Some("8.0.0.11"), Some("8.0.0.11")).await;
    let source: Value = reply.json().await.unwrap();
    assert_eq!(source["serverSyncRequired"], true);
    assert_eq!(source["driver"]["rebootPending"], false);
    assert_eq!(source["warnings"][0]["message"], "Server-sync required");
    let tasks = get(&c, server.api(&format!("/tasks?sourceId={id}"))).await;
    assert_eq!(tasks["totalCount"], 1);
    assert_eq!(tasks["tasks"][0]["state"], "resolved");

    // download the latest windows-x64 package, as `/psserver=` does, and check it
    let latest: Value = c
        .get(server.api("/driverPackages/latest?platform=windows-x64"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(latest["version"], "8.0.0.12");
    let href = latest["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "content")
        .unwrap()["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = c.get(server.url(&href)).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()["etag"].to_str().unwrap(),
        format!("\"{}\"", latest["sha256"].as_str().unwrap())
    );
    let bytes = reply.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, latest["size"].as_u64().unwrap());
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        latest["sha256"].as_str().unwrap()
    );
}

#[tokio::test]
async fn sixty_four_agents_at_once() {
    let server = Server::start(&[]);
    let c = client();
    let mut machines = Vec::new();
    for i in 0..64 {
        machines.push(register(&c, &server, &format!("m{i}")).await);
    }
    // every agent installs without reboot, then reports the same state again, all at once
    let mut handles = Vec::new();
    for (id, token) in machines.clone() {
        let c = c.clone();
        let urls = server.api(&format!("/sources/{id}/driverState"));
        handles.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..3 {
                let r = c
                    .put(&urls)
                    .bearer_auth(&token)
                    .json(&json!({"installedVersion": "8.0.0.11", "runningVersion": null}))
                    .send()
                    .await
                    .expect("send");
                statuses.push(r.status().as_u16());
            }
            statuses
        }));
    }
    for h in handles {
        assert!(h.await.unwrap().iter().all(|s| *s == 200));
    }
    let tasks = get(&c, server.api("/tasks?state=active&limit=500")).await;
    assert_eq!(tasks["totalCount"], 64, "one task per machine");
    let mut per_source: Vec<&str> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["sourceId"].as_str().unwrap())
        .collect();
    per_source.sort_unstable();
    per_source.dedup();
    assert_eq!(per_source.len(), 64);
    assert!(
        !server.log_text().contains("database is locked"),
        "{}",
        server.log_text()
    );
}

#[tokio::test]
async fn fifty_reports_for_one_machine_make_one_task() {
    let server = Server::start(&[]);
    let c = client();
    let (id, token) = register(&c, &server, "busy").await;
    let versions = ["8.0.0.11", "8.0.0.12", "8.0.0.13"];
    let mut handles = Vec::new();
    for i in 0..50 {
        let c = c.clone();
        let url = server.api(&format!("/sources/{id}/driverState"));
        let token = token.clone();
        let installed = versions[i % versions.len()];
        handles.push(tokio::spawn(async move {
            c.put(&url)
                .bearer_auth(&token)
                .json(&json!({"installedVersion": installed, "runningVersion": null}))
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), 200);
    }
    let active = get(
        &c,
        server.api(&format!("/tasks?sourceId={id}&state=active")),
    )
    .await;
    assert_eq!(active["totalCount"], 1);
    let all = get(&c, server.api(&format!("/tasks?sourceId={id}"))).await;
    assert_eq!(all["totalCount"], 1, "updated, never duplicated");
}

#[tokio::test]
async fn data_survives_a_restart() {
    let server = Server::start(&[]);
    let c = client();
    let (id, token) = register(&c, &server, "durable").await;
    report(&c, &server, &id, &token, Some("8.0.0.11"), None).await;
    let dir = server.stop();
    let server = Server::start_in(dir, &[]);
    let source = get(&c, server.api(&format!("/sources/{id}"))).await;
    assert_eq!(source["driver"]["installedVersion"], "8.0.0.11");
    let packages = get(&c, server.api("/driverPackages")).await;
    assert_eq!(
        packages["totalCount"], 4,
        "re-indexing does not duplicate the samples"
    );
    let tasks = get(&c, server.api("/tasks?state=active")).await;
    assert_eq!(tasks["totalCount"], 1);
}

#[test]
fn refuses_the_default_password_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_psserver"))
        .args(["--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("default password"), "{stderr}");
}

#[test]
fn help_lists_every_flag_with_its_environment_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_psserver"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--data-dir",
        "--database-url",
        "--driver-packages",
        "--max-upload-mb",
        "--admin-password",
        "--operator-password",
        "--log-format",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    for env in [
        "PSSERVER_LISTEN",
        "PSSERVER_DATA_DIR",
        "PSSERVER_DATABASE_URL",
        "PSSERVER_DRIVER_PACKAGES",
        "PSSERVER_ADMIN_PASSWORD",
    ] {
        assert!(help.contains(env), "{env} missing from --help");
    }
}

#[tokio::test]
async fn stops_cleanly_on_sigterm() {
    let server = Server::start(&[]);
    stops_on_sigterm(server);
}

/// A kept-alive connection that sits idle when the server is told to stop is closed at once
/// (`http::serve`: the shutdown signal wakes the connection), not left to the 10 s the server
/// gives requests in flight.
#[test]
fn closes_idle_kept_alive_connections_on_sigterm() {
    use std::io::{Read, Write};
    let server = Server::start(&[]);
    let mut idle = std::net::TcpStream::connect(&server.addr).unwrap();
    idle.write_all(b"GET /_emu/health HTTP/1.1\r\nHost: p\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = [0u8; 1024];
    let n = idle.read(&mut answer).unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer[..n])
    );
    let started = std::time::Instant::now();
    let pid = server.pid();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let code = server
        .wait_exit(Duration::from_secs(15))
        .expect("psserver did not stop on SIGTERM");
    assert!(code.success(), "{code:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopping took {:?}: the idle connection was waited for",
        started.elapsed()
    );
    assert!(
        matches!(idle.read(&mut answer), Ok(0) | Err(_)),
        "the idle connection is closed"
    );
}

/// Send SIGTERM to `server`; it must exit, with success, within 15 s.
fn stops_on_sigterm(server: Server) {
    let pid = server.pid();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = server
        .wait_exit(Duration::from_secs(15))
        .expect("psserver did not stop on SIGTERM");
    assert!(code.success(), "{code:?}");
}

/// Status polls are answered from memory between writes (`api::cache`): a poll sent after a
/// report was acknowledged must show that report, however many pollers keep the old answer warm.
#[tokio::test]
async fn a_poll_after_an_acknowledged_report_shows_it() {
    let server = Server::start(&[]);
    let c = client();
    let (id, token) = register(&c, &server, "cache").await;
    let url = server.api(&format!("/sources/{id}"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pollers: Vec<_> = (0..4)
        .map(|_| {
            let (c, url, stop) = (c.clone(), url.clone(), stop.clone());
            tokio::spawn(async move {
                let mut polls = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    get(&c, url.clone()).await;
                    polls += 1;
                }
                polls
            })
        })
        .collect();
    for round in 0..40 {
        let service = if round % 2 == 0 {
            "installed"
        } else {
            "running"
        };
        let reply = c
            .put(server.api(&format!("/sources/{id}/driverState")))
            .bearer_auth(&token)
            .json(&json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": service}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        let seen = get(&c, url.clone()).await;
        assert_eq!(seen["controllerService"], service, "round {round}");
        // The alias base answers with its own links, never the other base's cached answer.
        let alias = get(&c, url.replace("/2019.8/", "/2019.5/")).await;
        assert_eq!(alias["controllerService"], service, "round {round}");
        assert!(
            alias["links"][0]["href"]
                .as_str()
                .unwrap()
                .contains("/MigrateApi/2019.5/"),
            "{alias}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for poller in pollers {
        assert!(poller.await.unwrap() > 0);
    }
}

/// On one CPU the server runs every task on one thread (`main`): agents' reports, an operator's
/// writes meanwhile and a clean stop all work there as on more CPUs.
#[tokio::test]
async fn serves_on_one_cpu() {
    let server = Server::start_through(&["taskset", "-c", "0"], &[]);
    assert!(
        server
            .log_text()
            .contains("one CPU: every task runs on one thread"),
        "{}",
        server.log_text()
    );
    let c = client();
    let mut machines = Vec::new();
    for i in 0..16 {
        machines.push(register(&c, &server, &format!("one-cpu-{i}")).await);
    }
    let reporters: Vec<_> = machines
        .iter()
        .cloned()
        .map(|(id, token)| {
            let (c, url) = (c.clone(), server.api(&format!("/sources/{id}/driverState")));
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for _ in 0..20 {
                    let reply = c
                        .put(&url)
                        .bearer_auth(&token)
                        .header("prefer", "return=minimal")
                        .json(&json!({"installedVersion": null, "runningVersion": null}))
                        .send()
                        .await
                        .expect("report");
                    statuses.push(reply.status().as_u16());
                }
                statuses
            })
        })
        .collect();
    let (late, _) = register(&c, &server, "one-cpu-late").await;
    for reporter in reporters {
        assert!(reporter.await.unwrap().iter().all(|s| *s == 204));
    }
    let source = get(&c, server.api(&format!("/sources/{}", machines[0].0))).await;
    assert!(source["lastReportAt"].is_string(), "{source}");
    get(&c, server.api(&format!("/sources/{late}"))).await;
    stops_on_sigterm(server);
}
