//! The control plane: info, reset, settings and transitions, the request journal.

use crate::common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{API, AppExt, admin, basic, json_body, send, test_app, test_app_with};
use psserver::config::ReplicationSpeed;
use psserver::drivers::package::build_bytes;
use serde_json::json;

/// Add a source and a contract, start Prepare; answers the operation's href.
async fn start_prepare(app: &psserver::App) -> String {
    let s = app
        .call(
            "POST",
            &format!("{API}/sources"),
            Some(json!({"hostName": "P", "osFamily": "windows", "ipAddress": "10.0.0.1"})),
        )
        .await
        .json();
    let t = app
        .call(
            "POST",
            &format!("{API}/transformations"),
            Some(json!({"sourceId": s["id"]})),
        )
        .await
        .json();
    let path = format!(
        "{API}/transformations/{}?operation=Prepare",
        t["id"].as_str().unwrap()
    );
    let accepted = app.call("POST", &path, None).await.json();
    accepted["operation"]["href"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn control_plane_needs_an_administrator_but_health_and_ready_do_not() {
    let (app, _, _dir) = test_app_with(|c| c.operator_password = Some("op".into())).await;
    for path in ["/_emu/health", "/_emu/ready"] {
        let reply = send(&app, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
    }
    for (method, path) in [
        ("GET", "/_emu/info"),
        ("POST", "/_emu/state/reset"),
        ("GET", "/_emu/settings"),
        ("PUT", "/_emu/settings"),
        ("GET", "/_emu/requests"),
    ] {
        let reply = send(
            &app,
            Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let reply = send(
            &app,
            Request::builder()
                .method(method)
                .uri(path)
                .header("authorization", basic("operator", "op"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}");
    }
}

#[tokio::test]
async fn info_tells_versions_and_hides_secrets() {
    let (app, _, _dir) = test_app_with(|c| c.operator_password = Some("op-secret".into())).await;
    let reply = app.call("GET", "/_emu/info", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("x-psserver-version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let info = reply.json();
    assert_eq!(info["emulatedApiVersion"], "2019.8");
    assert_eq!(info["database"]["schemaVersion"], 8);
    assert_eq!(info["config"]["adminPassword"], "***");
    assert_eq!(info["config"]["operatorPassword"], "***");
    let text = String::from_utf8_lossy(&reply.body);
    assert!(
        !text.contains("op-secret") && !text.contains("platespin\""),
        "{text}"
    );
}

#[tokio::test]
async fn reset_clears_everything_and_scopes_clear_their_part() {
    let (app, _, _dir) = test_app().await;
    let add =
        |host: &'static str| {
            let app = app.clone();
            async move {
                let s = app.call("POST",
                &format!("{API}/sources"),
                Some(json!({"hostName": host, "osFamily": "windows", "ipAddress": "10.0.0.1"})),
            )
            .await
            .json();
                let id = s["id"].as_str().unwrap().to_owned();
                app.call(
                    "PUT",
                    &format!("{API}/sources/{id}/driverState"),
                    Some(json!({"installedVersion": "8.0.0.11"})),
                )
                .await;
                id
            }
        };
    add("A").await;
    add("B").await;
    let count = |path: &'static str| {
        let app = app.clone();
        async move {
            app.call("GET", &format!("{API}{path}"), None).await.json()["totalCount"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(count("/tasks").await, 2);
    let reply = app
        .call("POST", "/_emu/state/reset?scope=tasks", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["scope"], "tasks");
    assert_eq!(count("/tasks").await, 0);
    assert_eq!(count("/sources").await, 2);
    let reply = app
        .call("POST", "/_emu/state/reset?scope=everything", None)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "InvalidScope");
    // An upload that a full reset takes away again.
    let upload = admin(
        "POST",
        &format!("{API}/driverPackages?platform=windows-x64&version=9.9.9.9"),
    )
    .header("content-type", "application/zip")
    .body(Body::from(build_bytes(
        "windows-x64".parse().unwrap(),
        "9.9.9.9".parse().unwrap(),
    )))
    .unwrap();
    assert_eq!(send(&app, upload).await.status, StatusCode::CREATED);
    let latest = || {
        let app = app.clone();
        async move {
            let reply = app
                .call(
                    "GET",
                    &format!("{API}/driverPackages/latest?platform=windows-x64"),
                    None,
                )
                .await;
            reply.json()["version"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(latest().await, "9.9.9.9");
    assert_eq!(count("/driverPackages").await, 5);
    let reply = app.call("POST", "/_emu/state/reset", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(count("/sources").await, 0);
    assert_eq!(count("/events").await, 0);
    assert_eq!(
        count("/driverPackages").await,
        4,
        "the sample packages stay, the upload is gone"
    );
    assert_ne!(latest().await, "9.9.9.9");
}

#[tokio::test]
async fn reset_while_replications_run_and_with_ten_thousand_sources() {
    let (app, state, _dir) =
        test_app_with(|c| c.replication_speed = ReplicationSpeed::Normal).await;
    // 10,000 sources straight into the database (from a connection of the test's own), and a
    // running replication
    let other = common::own_connection(&state).await;
    let mut tx = other.begin().await.unwrap();
    for i in 0..10_000 {
        sqlx::query("INSERT INTO sources (id, host_name, os_family, platform, ip_address, added_by, created_at, updated_at) VALUES (?, ?, 'windows', 'windows-x64', '10.0.0.1', 'api', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(format!("H{i}"))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let s = app
        .call(
            "POST",
            &format!("{API}/sources"),
            Some(json!({"hostName": "R", "osFamily": "windows", "ipAddress": "10.0.0.1"})),
        )
        .await
        .json();
    let t = app
        .call(
            "POST",
            &format!("{API}/transformations"),
            Some(json!({"sourceId": s["id"]})),
        )
        .await
        .json();
    let reply = app
        .call(
            "POST",
            &format!(
                "{API}/transformations/{}?operation=Prepare",
                t["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let started = std::time::Instant::now();
    let reply = app.call("POST", "/_emu/state/reset", None).await;
    let took = started.elapsed();
    assert_eq!(reply.status, StatusCode::OK);
    eprintln!(
        "reset of 10,001 sources with a running operation: {took:?} (server says {} ms)",
        reply.json()["durationMs"]
    );
    assert_eq!(
        app.call("GET", &format!("{API}/sources"), None)
            .await
            .json()["totalCount"],
        0
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        state.running_operations.lock().unwrap().is_empty(),
        "the runner ended"
    );
    // the server still works
    let reply = app
        .call(
            "POST",
            &format!("{API}/sources"),
            Some(json!({"hostName": "after", "osFamily": "linux", "ipAddress": "10.0.0.2"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
}

#[tokio::test]
async fn settings_change_and_an_after_three_polls_transition() {
    let (app, _, _dir) = test_app().await;
    let settings = app.call("GET", "/_emu/settings", None).await.json();
    assert_eq!(
        settings,
        json!({"replicationSpeed": "instant", "transition": {"mode": "steps"}})
    );
    for bad in [
        json!({"transition": {"mode": "afterPolls", "polls": 0}}),
        json!({"transition": {"mode": "sometimes"}}),
        json!({"speed": "fast"}),
        json!({"replicationSpeed": "warp"}),
    ] {
        let reply = app.call("PUT", "/_emu/settings", Some(bad.clone())).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let reply = app
        .call(
            "PUT",
            "/_emu/settings",
            Some(json!({"transition": {"mode": "afterPolls", "polls": 3}})),
        )
        .await;
    assert_eq!(
        reply.json()["transition"],
        json!({"mode": "afterPolls", "polls": 3})
    );

    let href = start_prepare(&app).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(
            app.call("GET", &href, None).await.json()["status"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(seen, vec!["running", "running", "succeeded", "succeeded"]);
}

#[tokio::test]
async fn an_after_seconds_transition_takes_that_long() {
    let (app, _, _dir) = test_app().await;
    app.call(
        "PUT",
        "/_emu/settings",
        Some(json!({"transition": {"mode": "afterSeconds", "seconds": 0.6}})),
    )
    .await;
    let href = start_prepare(&app).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.call("GET", &href, None).await.json()["status"],
        "running"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        app.call("GET", &href, None).await.json()["status"],
        "succeeded"
    );
}

#[tokio::test]
async fn the_journal_keeps_recent_requests_and_unimplemented_paths() {
    let (app, _, _dir) = test_app_with(|c| c.journal_size = 5).await;
    for i in 0..12 {
        app.call("GET", &format!("{API}/sources?offset={i}"), None)
            .await;
    }
    app.call("GET", &format!("{API}/workloads/legacy"), None)
        .await;
    let journal = app.call("GET", "/_emu/requests", None).await.json();
    assert_eq!(journal["capacity"], 5);
    assert_eq!(journal["kept"], 5);
    assert_eq!(
        journal["requests"][0]["path"],
        format!("{API}/workloads/legacy")
    );
    assert_eq!(journal["requests"][0]["status"], 404);
    assert_eq!(journal["requests"][1]["query"], "offset=11");
    let filtered = app
        .call("GET", "/_emu/requests?status=404", None)
        .await
        .json();
    assert_eq!(filtered["requests"].as_array().unwrap().len(), 1);
    let missing = app
        .call("GET", "/_emu/requests/unimplemented", None)
        .await
        .json();
    assert_eq!(missing["requests"].as_array().unwrap().len(), 1);
    assert_eq!(missing["requests"][0]["implemented"], false);
    app.call("POST", "/_emu/state/reset?scope=journal", None)
        .await;
    assert_eq!(
        app.call("GET", "/_emu/requests", None).await.json()["kept"],
        1,
        "only the reset itself"
    );
}

#[tokio::test]
async fn a_seed_file_is_loaded_at_start_and_on_reset() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(&seed, json!({"sources": [
        {"hostName": "WIN-SEED", "osFamily": "windows", "ipAddress": "10.0.0.9", "machineId": "seed-1", "agentToken": "psa_known", "installedVersion": "8.0.0.11", "runningVersion": null, "controllerService": "running",
         "transformation": {"state": "Prepared", "hasFullReplication": true}},
        {"hostName": "LNX-SEED", "osFamily": "linux", "ipAddress": "10.0.0.10", "installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11"}
    ]}).to_string()).unwrap();
    let (app, _, _d) = test_app_with(|c| c.seed_file = Some(seed.clone())).await;
    let sources = app
        .call("GET", &format!("{API}/sources"), None)
        .await
        .json();
    assert_eq!(sources["totalCount"], 2);
    let win = &sources["sources"][0];
    assert_eq!(win["status"], "Idle");
    assert_eq!(win["driver"]["rebootPending"], true);
    assert_eq!(
        app.call("GET", &format!("{API}/tasks?state=active"), None)
            .await
            .json()["totalCount"],
        1
    );
    // the known token reports
    let id = win["id"].as_str().unwrap();
    let reply = send(
        &app,
        Request::put(format!("{API}/sources/{id}/driverState"))
            .header("authorization", "Bearer psa_known")
            .body(json_body(
                json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11"}),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    // reset brings the scenario back
    let reply = app.call("POST", "/_emu/state/reset", None).await;
    assert_eq!(reply.json()["seededSources"], 2);
    assert_eq!(
        app.call("GET", &format!("{API}/tasks?state=active"), None)
            .await
            .json()["totalCount"],
        1
    );
    // a broken scenario is refused clearly
    std::fs::write(&seed, r#"{"sources": [{"hostName": "X", "osFamily": "windows", "platform": "linux-x64", "ipAddress": "10.0.0.1"}]}"#).unwrap();
    let reply = app.call("POST", "/_emu/state/reset", None).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sources[0]")
    );
}

#[tokio::test]
async fn loopback_only_refuses_other_addresses() {
    // A request over a connection names its Host (HTTP/1.1 needs one), and an administrator.
    fn with_host(uri: &str) -> Request<Body> {
        common::admin("GET", uri)
            .header("host", "psserver.lab")
            .body(Body::empty())
            .unwrap()
    }
    use std::net::SocketAddr;
    let (app, _, _dir) =
        test_app_with(|c| c.control_plane = psserver::config::ControlPlane::LoopbackOnly).await;
    // The app as the server makes it for a connection from elsewhere.
    let remote = app.connected(SocketAddr::from(([192, 0, 2, 10], 40000)));
    let reply = send(&remote, with_host("/_emu/info")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loopback-only")
    );
    // health and ready still answer, and the emulated API is not affected
    let reply = send(&remote, with_host("/_emu/ready")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = send(&remote, with_host(&format!("{API}/sources"))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let local = app.connected(SocketAddr::from(([127, 0, 0, 1], 40000)));
    let reply = send(&local, with_host("/_emu/info")).await;
    assert_eq!(reply.status, StatusCode::OK);
}

/// Every answer, whatever answered it (a handler, the fallback, axum's 405), carries the request's
/// id and the server's version; the client's id is kept, a missing one is made (UUID-shaped,
/// new for each request), and the journal records the id the answer carried.
#[tokio::test]
async fn every_answer_carries_its_request_id_and_the_version() {
    let (app, _, _dir) = test_app().await;
    let kept = send(
        &app,
        admin("GET", &format!("{API}/sources"))
            .header("x-request-id", "client-chose-this")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(kept.status, StatusCode::OK);
    assert_eq!(kept.header("x-request-id"), Some("client-chose-this"));
    let mut made = Vec::new();
    for (method, path, status) in [
        ("GET", "/no/such/page", StatusCode::NOT_FOUND),
        ("GET", "/no/such/page", StatusCode::NOT_FOUND),
        ("DELETE", "/metrics", StatusCode::METHOD_NOT_ALLOWED),
        ("GET", "/_emu/ready", StatusCode::OK),
    ] {
        let reply = app.call(method, path, None).await;
        assert_eq!(reply.status, status, "{method} {path}");
        assert_eq!(
            reply.header("x-psserver-version"),
            Some(env!("CARGO_PKG_VERSION")),
            "{method} {path}"
        );
        let id = reply.header("x-request-id").expect("an id").to_owned();
        let uuid = uuid::Uuid::parse_str(&id).expect("a UUID");
        assert_eq!(uuid.get_version_num(), 4, "{id}");
        made.push(id);
    }
    made.sort();
    made.dedup();
    assert_eq!(made.len(), 4, "each request gets its own id: {made:?}");
    let journal = app.call("GET", "/_emu/requests", None).await.json();
    let ids: Vec<&str> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["requestId"].as_str())
        .collect();
    assert!(ids.contains(&"client-chose-this"), "{journal}");
    for id in &made {
        assert!(ids.contains(&id.as_str()), "{id} in {journal}");
    }
}
