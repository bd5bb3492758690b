//! Router tests of the sources, tasks, events and root endpoints, through `oneshot` on a fresh
//! migrated database per test.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{ADMIN, API, AppExt, admin, basic, json_body, send, test_app, test_app_with};
use serde_json::{Value, json};

fn windows_body(host: &str) -> Value {
    json!({"hostName": host, "osFamily": "windows", "platform": "windows-x64", "ipAddress": "10.0.0.5"})
}

async fn add_source(app: &psserver::App, body: Value) -> Value {
    let reply = app.post_json(&format!("{API}/sources"), body).await;
    reply.assert_status(StatusCode::CREATED);
    reply.json()
}

async fn register(app: &psserver::App, machine_id: &str) -> (StatusCode, Value) {
    let mut body = windows_body("WIN-SRC01");
    body["machineId"] = json!(machine_id);
    let reply = app
        .post_json(&format!("{API}/sources?operation=Register"), body)
        .await;
    (reply.status, reply.json())
}

/// Register an agent's machine: its source id and agent token.
async fn register_agent(app: &psserver::App, machine_id: &str) -> (String, String) {
    let (_, reg) = register(app, machine_id).await;
    let field = |name: &str| {
        reg[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {reg}"))
            .to_owned()
    };
    (field("id"), field("agentToken"))
}

async fn report(app: &psserver::App, id: &str, token: &str, body: Value) -> common::Reply {
    send(
        app,
        Request::put(format!("{API}/sources/{id}/driverState"))
            .header("authorization", format!("Bearer {token}"))
            .body(json_body(body))
            .unwrap(),
    )
    .await
}

/// A report as the agent sends it: `Prefer: return=minimal`.
async fn report_minimal(app: &psserver::App, id: &str, token: &str, body: Value) -> common::Reply {
    send(
        app,
        Request::put(format!("{API}/sources/{id}/driverState"))
            .header("authorization", format!("Bearer {token}"))
            .header("prefer", "return=minimal")
            .body(json_body(body))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn root_links_every_collection_on_both_bases() {
    let (app, _, _dir) = test_app().await;
    for base in [
        "/MigrateApi/2019.8",
        "/MigrateApi/2019.5",
        "/MigrateApi/2019.8/",
    ] {
        let root = app.get_json(base).await;
        let rels: Vec<&str> = root["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["rel"].as_str().unwrap())
            .collect();
        for rel in ["sources", "driverPackages", "tasks", "events", "platforms"] {
            assert!(rels.contains(&rel), "{base}: {rels:?}");
        }
        let prefix = base.trim_end_matches('/');
        assert!(
            root["links"][1]["href"]
                .as_str()
                .unwrap()
                .starts_with(prefix)
        );
    }
}

#[tokio::test]
async fn credentials_and_roles() {
    let (app, _, _dir) = test_app_with(|c| c.operator_password = Some("op-pass".into())).await;
    let uri = format!("{API}/sources");
    // none
    let reply = send(&app, Request::get(&uri).body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.offers_ntlm_and_basic());
    assert_eq!(reply.error_code(), "Unauthorized");
    // wrong password
    let reply = send(
        &app,
        Request::get(&uri)
            .header("authorization", basic("administrator", "nope"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // malformed header
    let reply = send(
        &app,
        Request::get(&uri)
            .header("authorization", "Basic %%%")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    // operator reads and adds, but may not delete
    let op = |method: &str, uri: &str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", basic("operator", "op-pass"))
    };
    let reply = send(&app, op("GET", &uri).body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = send(
        &app,
        op("POST", &uri).body(json_body(windows_body("A"))).unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let reply = send(
        &app,
        op("DELETE", &format!("{uri}/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error_code(), "Forbidden");
    // a DOMAIN\user name is accepted, as Windows credentials are
    let reply = send(
        &app,
        Request::get(&uri)
            .header(
                "authorization",
                basic("PLATESPIN\\Administrator", "platespin"),
            )
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn add_get_list_delete_a_source() {
    let (app, _, _dir) = test_app().await;
    let source = add_source(&app, windows_body("WIN-SRC01")).await;
    let id = source["id"].as_str().unwrap();
    assert_eq!(source["addedBy"], "api");
    assert_eq!(source["controllerService"], "notInstalled");
    assert_eq!(source["driver"]["installedVersion"], Value::Null);
    assert_eq!(source["driver"]["latestVersion"], "8.0.0.12");
    assert_eq!(source["driver"]["upgradeAvailable"], false);
    assert_eq!(source["serverSyncRequired"], false);
    assert_eq!(source["status"], "Not Configured");
    let rels: Vec<&str> = source["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert!(
        rels.contains(&"self")
            && rels.contains(&"driverState")
            && rels.contains(&"operation-Reboot")
    );

    let got = app.get_json(&format!("{API}/sources/{id}")).await;
    assert_eq!(got["hostName"], "WIN-SRC01");

    for i in 0..3 {
        add_source(
            &app,
            json!({"hostName": format!("LNX{i}"), "osFamily": "linux", "ipAddress": "::1"}),
        )
        .await;
    }
    let list = app.get_json(&format!("{API}/sources?limit=2")).await;
    assert_eq!(list["totalCount"], 4);
    assert_eq!(list["sources"].as_array().unwrap().len(), 2);
    assert_eq!(list["sources"][0]["hostName"], "WIN-SRC01", "oldest first");
    let next = list["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "next")
        .unwrap();
    let page2 = app.get_json(next["href"].as_str().unwrap()).await;
    assert_eq!(page2["sources"].as_array().unwrap().len(), 2);
    assert_eq!(
        page2["sources"][1]["platform"], "linux-x64",
        "linux defaults to linux-x64"
    );

    let reply = send(
        &app,
        admin("DELETE", &format!("{API}/sources/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let reply = app.get_as(&format!("{API}/sources/{id}"), ADMIN).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "NotFound");
    let reply = send(
        &app,
        admin("DELETE", &format!("{API}/sources/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // its history stays
    let events = app.get_json(&format!("{API}/events?sourceId={id}")).await;
    assert_eq!(events["events"][0]["kind"], "SourceDeleted");
}

#[tokio::test]
async fn bad_source_bodies_get_clear_400s() {
    let (app, _, _dir) = test_app().await;
    let uri = format!("{API}/sources");
    let cases: Vec<(Body, &str, &str)> = vec![
        (Body::from("{not json"), "MalformedJson", ""),
        (Body::from("[]"), "InvalidBody", ""),
        (
            json_body(json!({"osFamily": "windows", "ipAddress": "10.0.0.1"})),
            "InvalidBody",
            "hostName",
        ),
        (
            json_body(json!({"hostName": "", "osFamily": "windows", "ipAddress": "10.0.0.1"})),
            "InvalidField",
            "hostName",
        ),
        (
            json_body(
                json!({"hostName": "a\u{7}b", "osFamily": "windows", "ipAddress": "10.0.0.1"}),
            ),
            "InvalidField",
            "hostName",
        ),
        (
            json_body(json!({"hostName": "a", "osFamily": "solaris", "ipAddress": "10.0.0.1"})),
            "InvalidField",
            "osFamily",
        ),
        (
            json_body(
                json!({"hostName": "a", "osFamily": "windows", "platform": "linux-x64", "ipAddress": "10.0.0.1"}),
            ),
            "InvalidField",
            "platform",
        ),
        (
            json_body(
                json!({"hostName": "a", "osFamily": "windows", "platform": "windows-arm64", "ipAddress": "10.0.0.1"}),
            ),
            "InvalidField",
            "platform",
        ),
        (
            json_body(json!({"hostName": "a", "osFamily": "windows", "ipAddress": "10.0.0.256"})),
            "InvalidField",
            "ipAddress",
        ),
        (
            json_body(
                json!({"hostName": "a", "osFamily": "windows", "ipAddress": "10.0.0.1", "machineId": "m"}),
            ),
            "InvalidField",
            "machineId",
        ),
    ];
    for (body, code, mentions) in cases {
        let reply = send(
            &app,
            admin("POST", &uri)
                .header("content-type", "application/json")
                .body(body)
                .unwrap(),
        )
        .await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(
            reply.error_code(),
            code,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(mentions)
        );
    }
    // wrong content type
    let reply = send(
        &app,
        Request::post(&uri)
            .header("authorization", basic("administrator", "platespin"))
            .header("content-type", "text/plain")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // oversized JSON body
    let huge = format!("{{\"hostName\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let reply = send(
        &app,
        admin("POST", &uri)
            .header("content-type", "application/json")
            .body(Body::from(huge))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    // nothing was added by any of them
    assert_eq!(app.get_json(&uri).await["totalCount"], 0);
}

fn admin_json(method: &str, uri: &str) -> axum::http::request::Builder {
    admin(method, uri).header("content-type", "application/json")
}

#[tokio::test]
async fn bad_ids_operations_and_paging() {
    let (app, _, _dir) = test_app().await;
    for (method, uri, status, code) in [
        ("GET", format!("{API}/sources/not-a-uuid"), 400, "InvalidId"),
        (
            "GET",
            format!("{API}/sources/00000000-0000-0000-0000-000000000000"),
            404,
            "NotFound",
        ),
        (
            "DELETE",
            format!("{API}/sources/00000000-0000-0000-0000-000000000000"),
            404,
            "NotFound",
        ),
        (
            "POST",
            format!("{API}/sources/00000000-0000-0000-0000-000000000000?operation=Reboot"),
            404,
            "NotFound",
        ),
        (
            "POST",
            format!("{API}/sources/00000000-0000-0000-0000-000000000000?operation=Explode"),
            400,
            "UnknownOperation",
        ),
        (
            "POST",
            format!("{API}/sources/00000000-0000-0000-0000-000000000000"),
            400,
            "MissingOperation",
        ),
        ("GET", format!("{API}/tasks/zzz"), 400, "InvalidId"),
        (
            "GET",
            format!("{API}/tasks/00000000-0000-0000-0000-000000000000"),
            404,
            "NotFound",
        ),
        (
            "POST",
            format!("{API}/tasks/00000000-0000-0000-0000-000000000000?operation=Dismiss"),
            404,
            "NotFound",
        ),
        (
            "GET",
            format!("{API}/tasks?state=sleeping"),
            400,
            "InvalidParameter",
        ),
        (
            "GET",
            format!("{API}/tasks?kind=Coffee"),
            400,
            "InvalidParameter",
        ),
        (
            "GET",
            format!("{API}/tasks?sourceId=..%2F..%2Fetc"),
            400,
            "InvalidId",
        ),
        ("GET", format!("{API}/events?sourceId=1"), 400, "InvalidId"),
        (
            "GET",
            format!("{API}/sources?limit=501"),
            400,
            "InvalidPaging",
        ),
        (
            "GET",
            format!("{API}/sources?limit=0"),
            400,
            "InvalidPaging",
        ),
        (
            "GET",
            format!("{API}/sources?offset=-1"),
            400,
            "InvalidQuery",
        ),
        (
            "GET",
            format!("{API}/events?limit=abc"),
            400,
            "InvalidQuery",
        ),
        ("GET", format!("{API}/nothing-here"), 404, "NotFound"),
        ("PATCH", format!("{API}/sources"), 405, "MethodNotAllowed"),
        ("GET", "/not/the/api".to_owned(), 404, "NotFound"),
    ] {
        let reply = send(&app, admin_json(method, &uri).body(Body::empty()).unwrap()).await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{method} {uri}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.error_code(), code, "{method} {uri}");
    }
}

#[tokio::test]
async fn registration_is_idempotent_and_returns_a_token_each_time() {
    let (app, _, _dir) = test_app().await;
    let (status, first) = register(&app, "machine-1").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first["addedBy"], "agent");
    assert_eq!(first["machineId"], "machine-1");
    let token1 = first["agentToken"].as_str().unwrap().to_owned();
    let (status, second) = register(&app, "machine-1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["id"], first["id"]);
    let token2 = second["agentToken"].as_str().unwrap();
    assert_ne!(token1, token2);
    assert_eq!(
        app.get_json(&format!("{API}/sources")).await["totalCount"],
        1
    );
    // the token is never shown again by a read
    let got = app
        .get_json(&format!("{API}/sources/{}", first["id"].as_str().unwrap()))
        .await;
    assert!(got.get("agentToken").is_none());
    // the old token no longer reports
    let id = first["id"].as_str().unwrap();
    let reply = report(
        &app,
        id,
        &token1,
        json!({"installedVersion": null, "runningVersion": null}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = report(
        &app,
        id,
        token2,
        json!({"installedVersion": null, "runningVersion": null}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    // same machine id with another OS family
    let mut body = json!({"hostName": "x", "osFamily": "linux", "ipAddress": "10.0.0.9", "machineId": "machine-1"});
    let reply = app
        .post_json(&format!("{API}/sources?operation=Register"), body.take())
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    // registration needs credentials and a machine id
    let reply = send(
        &app,
        Request::post(format!("{API}/sources?operation=Register"))
            .header("content-type", "application/json")
            .body(json_body(windows_body("x")))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = send(
        &app,
        admin_json("POST", &format!("{API}/sources?operation=Register"))
            .body(json_body(windows_body("x")))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("machineId")
    );
}

async fn active_reboot_tasks(app: &psserver::App, id: &str) -> Vec<Value> {
    app.get_json(&format!(
        "{API}/tasks?sourceId={id}&state=active&kind=RebootRequired"
    ))
    .await["tasks"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn the_seed_story_over_the_router() {
    let (app, _, _dir) = test_app().await;
    let (_, src) = register(&app, "m-seed").await;
    let id = src["id"].as_str().unwrap().to_owned();
    let token = src["agentToken"].as_str().unwrap().to_owned();

    // install 8.0.0.11 without reboot
    let reply = report(&app, &id, &token, json!({"installedVersion": "8.0.0.11", "runningVersion": null, "controllerService": "running"})).await;
    reply.assert_status(StatusCode::OK);
    let s = reply.json();
    assert_eq!(s["driver"]["rebootPending"], true);
    assert_eq!(
        s["driver"]["upgradeAvailable"], true,
        "8.0.0.12 is on the server"
    );
    assert_eq!(s["warnings"][0]["code"], "RebootRequired");
    assert_eq!(s["controllerService"], "running");
    let tasks = active_reboot_tasks(&app, &id).await;
    assert_eq!(tasks.len(), 1);
    assert!(
        tasks[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Reboot required to complete the driver installation")
    );

    // the same report again: still one task
    report(
        &app,
        &id,
        &token,
        json!({"installedVersion": "8.0.0.11", "runningVersion": null}),
    )
    .await;
    assert_eq!(active_reboot_tasks(&app, &id).await.len(), 1);

    // upgrade before rebooting: the task is updated, not duplicated
    report(
        &app,
        &id,
        &token,
        json!({"installedVersion": "8.0.0.12", "runningVersion": null}),
    )
    .await;
    let tasks = active_reboot_tasks(&app, &id).await;
    assert_eq!(tasks.len(), 1);
    assert!(
        tasks[0]["message"]
            .as_str()
            .unwrap()
            .contains("installed driver: 8.0.0.12")
    );

    // reboot (server-side operation): resolved, server-sync required
    let reply = send(
        &app,
        admin("POST", &format!("{API}/sources/{id}?operation=Reboot"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let s = reply.json();
    assert_eq!(s["driver"]["runningVersion"], "8.0.0.12");
    assert_eq!(s["driver"]["rebootPending"], false);
    assert_eq!(s["serverSyncRequired"], true);
    assert_eq!(
        s["warnings"],
        json!([{"code": "ServerSyncRequired", "message": "Server-sync required"}])
    );
    assert!(active_reboot_tasks(&app, &id).await.is_empty());
    let all = app.get_json(&format!("{API}/tasks?sourceId={id}")).await;
    assert_eq!(all["totalCount"], 1);
    assert_eq!(all["tasks"][0]["state"], "resolved");
    assert!(all["tasks"][0]["resolvedAt"].is_string());

    // the event log tells the story, newest first
    let events = app
        .get_json(&format!("{API}/events?sourceId={id}&limit=500"))
        .await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "SourceRegistered",
        "DriverInstalled",
        "TaskCreated",
        "DriverUpgraded",
        "TaskUpdated",
        "RebootDetected",
        "ServerSyncRequired",
        "TaskResolved",
        "ControllerServiceChanged",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert_eq!(kinds.last(), Some(&"SourceRegistered"));
    let only = app
        .get_json(&format!("{API}/events?sourceId={id}&kind=TaskCreated"))
        .await;
    assert_eq!(only["totalCount"], 1);
}

#[tokio::test]
async fn uninstall_then_dismiss_and_linux_rules() {
    let (app, _, _dir) = test_app().await;
    let (_, src) = register(&app, "m-2").await;
    let id = src["id"].as_str().unwrap().to_owned();
    let token = src["agentToken"].as_str().unwrap().to_owned();
    report(
        &app,
        &id,
        &token,
        json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11"}),
    )
    .await;
    assert!(active_reboot_tasks(&app, &id).await.is_empty());
    // uninstall: removal pending
    report(
        &app,
        &id,
        &token,
        json!({"installedVersion": null, "runningVersion": "8.0.0.11"}),
    )
    .await;
    let tasks = active_reboot_tasks(&app, &id).await;
    assert!(
        tasks[0]["message"]
            .as_str()
            .unwrap()
            .contains("driver removal")
    );
    let task_id = tasks[0]["id"].as_str().unwrap();
    // dismiss it
    let reply = send(
        &app,
        admin("POST", &format!("{API}/tasks/{task_id}?operation=Dismiss"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["state"], "dismissed");
    let reply = send(
        &app,
        admin("POST", &format!("{API}/tasks/{task_id}?operation=Dismiss"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(reply.error_code(), "TaskNotActive");
    // the same state reported again does not raise it again
    report(
        &app,
        &id,
        &token,
        json!({"installedVersion": null, "runningVersion": "8.0.0.11"}),
    )
    .await;
    assert!(active_reboot_tasks(&app, &id).await.is_empty());

    // Linux: takes effect at once, never a task, a pending state is impossible
    let linux = add_source(
        &app,
        json!({"hostName": "LNX", "osFamily": "linux", "ipAddress": "10.0.0.7"}),
    )
    .await;
    let lid = linux["id"].as_str().unwrap();
    let reply = send(
        &app,
        admin_json("PUT", &format!("{API}/sources/{lid}/driverState"))
            .body(json_body(
                json!({"installedVersion": "8.0.0.11", "runningVersion": null}),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Linux")
    );
    let reply = send(
        &app,
        admin_json("PUT", &format!("{API}/sources/{lid}/driverState"))
            .body(json_body(
                json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11"}),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json()["serverSyncRequired"],
        true,
        "a driver that starts tracking needs a server-sync"
    );
    assert!(active_reboot_tasks(&app, lid).await.is_empty());
}

#[tokio::test]
async fn bad_driver_state_reports() {
    let (app, _, _dir) = test_app().await;
    let (_, src) = register(&app, "m-3").await;
    let id = src["id"].as_str().unwrap().to_owned();
    let token = src["agentToken"].as_str().unwrap().to_owned();
    for (body, code, mentions) in [
        (
            json!({"installedVersion": "8.0"}),
            "InvalidVersion",
            "installedVersion",
        ),
        (
            json!({"installedVersion": "v8.0.0.1"}),
            "InvalidVersion",
            "installedVersion",
        ),
        (
            json!({"runningVersion": "8.0.0.99999"}),
            "InvalidVersion",
            "runningVersion",
        ),
        (
            json!({"installedVersion": 8}),
            "InvalidBody",
            "installedVersion",
        ),
        (
            json!(["8.0.0.12", null, "running"]),
            "InvalidBody",
            "object",
        ),
        (
            json!({"controllerService": "stopped"}),
            "InvalidField",
            "controllerService",
        ),
    ] {
        let reply = report(&app, &id, &token, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.error_code(), code, "{body}");
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(mentions),
            "{body}: {}",
            reply.json()
        );
    }
    // a token for another machine, a made-up token, no credentials
    let (_, other) = register(&app, "m-4").await;
    let reply = report(&app, &id, other["agentToken"].as_str().unwrap(), json!({})).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = report(&app, &id, "psa_forged", json!({})).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = send(
        &app,
        Request::put(format!("{API}/sources/{id}/driverState"))
            .header("content-type", "application/json")
            .body(json_body(json!({})))
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // nothing changed
    let s = app.get_json(&format!("{API}/sources/{id}")).await;
    assert_eq!(s["driver"]["installedVersion"], Value::Null);
    assert!(s["lastReportAt"].is_null());
}

#[tokio::test]
async fn not_ready_until_prepared() {
    let dir = tempfile::tempdir().unwrap();
    let config = psserver::Config::for_data_dir(dir.path().join("data"), common::repo_packages());
    let state = psserver::server::open(config).await.unwrap();
    let app = psserver::app(state.clone());
    let reply = send(
        &app,
        Request::get("/_emu/ready").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let reply = app.get_as(&format!("{API}/sources"), ADMIN).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let reply = send(
        &app,
        Request::get("/_emu/health").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    psserver::server::prepare(&state).await.unwrap();
    let reply = send(
        &app,
        Request::get("/_emu/ready").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("x-request-id").is_some());
}

/// A report of the state already stored takes a one-statement path (`db::sources`); it must
/// answer exactly what the full path would: only the report's time moves, nothing is logged,
/// the token is checked, a left-out controller service keeps the stored one.
#[tokio::test]
async fn a_report_of_the_stored_state_only_moves_its_time() {
    let (app, _, _dir) = test_app().await;
    let (id, token) = register_agent(&app, "steady-1").await;
    let state = json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "running"});
    let first = report(&app, &id, &token, state.clone()).await;
    assert_eq!(first.status, StatusCode::OK);
    let first: Value = first.json();
    assert_eq!(first["serverSyncRequired"], true, "{first}");
    let events_before =
        app.get_json(&format!("{API}/events?sourceId={id}")).await["totalCount"].clone();

    let strip = |mut v: Value| {
        let o = v.as_object_mut().unwrap();
        o.remove("lastReportAt");
        o.remove("updatedAt");
        v
    };
    for (body, by_agent) in [
        (state.clone(), true),
        // Without the controller service: the stored one stays.
        (
            json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11"}),
            true,
        ),
        (state.clone(), false),
    ] {
        let reply = if by_agent {
            report(&app, &id, &token, body).await
        } else {
            send(
                &app,
                admin_json("PUT", &format!("{API}/sources/{id}/driverState"))
                    .body(json_body(body))
                    .unwrap(),
            )
            .await
        };
        assert_eq!(reply.status, StatusCode::OK);
        let again: Value = reply.json();
        assert!(
            again["lastReportAt"].as_str().unwrap() > first["lastReportAt"].as_str().unwrap(),
            "{again}"
        );
        assert_eq!(strip(again.clone()), strip(first.clone()));
        // What the answer says is what is stored.
        assert_eq!(app.get_json(&format!("{API}/sources/{id}")).await, again);
    }
    assert_eq!(
        app.get_json(&format!("{API}/events?sourceId={id}")).await["totalCount"],
        events_before,
        "a report that changes nothing logs nothing"
    );

    // The token is checked on this path too, and a change still takes the full path.
    let wrong = report(&app, &id, "psa_wrong", state.clone()).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let changed = report(
        &app,
        &id,
        &token,
        json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "installed"}),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(changed.json()["controllerService"], "installed");
    assert_ne!(
        app.get_json(&format!("{API}/events?sourceId={id}")).await["totalCount"],
        events_before,
        "the controller change is logged"
    );
}

/// Steady reports sent at once are stored together, in one statement (`db::steady`). Each must
/// still be answered as if alone: its own source and time, a wrong token among them refused, a
/// second report of one source stored too, a workload still shown, and the metrics telling how
/// they were stored.
#[tokio::test]
async fn steady_reports_sent_at_once_are_stored_together_and_each_answered_right() {
    let (app, _, _dir) = test_app().await;
    let state = json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "running"});
    let mut agents = Vec::new();
    for i in 0..12 {
        let (id, token) = register_agent(&app, &format!("together-{i}")).await;
        // The first report changes the state: the full path.
        let first = report(&app, &id, &token, state.clone()).await;
        assert_eq!(first.status, StatusCode::OK);
        let at = first.json()["lastReportAt"].as_str().unwrap().to_owned();
        agents.push((id, token, at));
    }
    let with_workload = &agents[4].0;
    let t = send(
        &app,
        admin_json("POST", &format!("{API}/transformations"))
            .body(json_body(json!({"sourceId": with_workload})))
            .unwrap(),
    )
    .await;
    assert_eq!(t.status, StatusCode::CREATED);
    let transformation = t.json()["id"].as_str().unwrap().to_owned();

    // Eleven agents report; the twelfth's source gets a report with another agent's token.
    let mut sends: Vec<(String, String)> = agents[..11]
        .iter()
        .map(|(id, token, _)| (id.clone(), token.clone()))
        .collect();
    sends.push((agents[0].0.clone(), agents[0].1.clone())); // the same source twice
    sends.push((agents[11].0.clone(), agents[2].1.clone())); // another agent's token
    sends.push((uuid::Uuid::new_v4().to_string(), agents[3].1.clone())); // no such source
    let replies = futures_util::future::join_all(
        sends
            .iter()
            .map(|(id, token)| report(&app, id, token, state.clone())),
    )
    .await;

    for (i, reply) in replies.iter().enumerate() {
        if i >= 12 {
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "report {i}");
            continue;
        }
        assert_eq!(reply.status, StatusCode::OK, "report {i}");
        let answer = reply.json();
        let (id, _, before) = &agents[i % 11];
        assert_eq!(answer["id"], json!(id), "report {i} answers its own source");
        assert!(
            answer["lastReportAt"].as_str().unwrap() > before.as_str(),
            "report {i}: {answer}"
        );
        let links = answer["links"].as_array().unwrap();
        let shows_workload = links.iter().any(|l| {
            l["rel"] == "transformation"
                && l["href"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/transformations/{transformation}"))
        });
        assert_eq!(shows_workload, id == with_workload, "report {i}: {answer}");
    }
    // What is stored is the newest answer of each source; the refused one moved nothing.
    let refused = &agents[11];
    let stored = app.get_json(&format!("{API}/sources/{}", refused.0)).await;
    assert_eq!(
        stored["lastReportAt"],
        json!(refused.2),
        "a refused report stores nothing"
    );
    for (i, (id, _, before)) in agents[..11].iter().enumerate() {
        let stored = app.get_json(&format!("{API}/sources/{id}")).await;
        let newest = replies[..12]
            .iter()
            .map(common::Reply::json)
            .filter(|answer| answer["id"] == json!(id))
            .map(|answer| answer["lastReportAt"].as_str().unwrap().to_owned())
            .max()
            .unwrap();
        assert_eq!(stored["lastReportAt"], json!(newest), "source {i}");
        assert!(stored["lastReportAt"].as_str().unwrap() > before.as_str());
    }

    // All eleven went together; the second report of one source, alone or in the next batch.
    let metrics = app.get_as("/metrics", ADMIN).await;
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    let count = |stored: &str| -> u64 {
        let prefix = format!("psserver_driver_state_reports_total{{stored=\"{stored}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |n| n.parse().unwrap())
    };
    assert_eq!(count("alone"), 12 + 12 - count("together"), "{text}");
    assert!(count("together") >= 11, "{text}");
}

#[tokio::test]
async fn a_report_preferring_minimal_is_stored_and_answered_204_without_a_body() {
    let (app, _, _dir) = test_app().await;
    let running = json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "running"});
    let mut agents = Vec::new();
    for i in 0..8 {
        let (id, token) = register_agent(&app, &format!("minimal-{i}")).await;
        // A change (the full path) with the preference: stored, no body either.
        let first = report_minimal(&app, &id, &token, running.clone()).await;
        assert_eq!(first.status, StatusCode::NO_CONTENT, "{:?}", first.body);
        assert_eq!(first.header("preference-applied"), Some("return=minimal"));
        assert!(first.body.is_empty());
        let stored = app.get_json(&format!("{API}/sources/{id}")).await;
        assert_eq!(stored["driver"]["runningVersion"], json!("8.0.0.11"));
        let at = stored["lastReportAt"].as_str().unwrap().to_owned();
        agents.push((id, token, at));
    }

    // Steady reports at once, half of them wanting the source back, and two refused: another
    // agent's token and an unknown source, which the minimal answer must not hide.
    let honest = agents.len() - 1;
    let mut sends: Vec<(String, String, bool)> = agents[..honest]
        .iter()
        .enumerate()
        .map(|(i, (id, token, _))| (id.clone(), token.clone(), i % 2 == 0))
        .collect();
    sends.push((agents[honest].0.clone(), agents[1].1.clone(), true));
    sends.push((uuid::Uuid::new_v4().to_string(), agents[2].1.clone(), true));
    let replies = futures_util::future::join_all(sends.iter().map(|(id, token, minimal)| {
        if *minimal {
            futures_util::future::Either::Left(report_minimal(&app, id, token, running.clone()))
        } else {
            futures_util::future::Either::Right(report(&app, id, token, running.clone()))
        }
    }))
    .await;
    for (i, reply) in replies.iter().enumerate() {
        if i >= honest {
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "report {i}");
            continue;
        }
        let (id, _, before) = &agents[i];
        if sends[i].2 {
            assert_eq!(reply.status, StatusCode::NO_CONTENT, "report {i}");
            assert!(reply.body.is_empty(), "report {i}");
        } else {
            assert_eq!(reply.status, StatusCode::OK, "report {i}");
            assert_eq!(reply.header("preference-applied"), None);
            assert_eq!(reply.json()["id"], json!(id));
        }
        let stored = app.get_json(&format!("{API}/sources/{id}")).await;
        assert!(
            stored["lastReportAt"].as_str().unwrap() > before.as_str(),
            "report {i} stored its time: {stored}"
        );
    }
    let (id, _, before) = &agents[honest];
    let stored = app.get_json(&format!("{API}/sources/{id}")).await;
    assert_eq!(
        stored["lastReportAt"],
        json!(before),
        "the refused report stored nothing"
    );

    // Errors keep their bodies: a bad version is a 400 with its message.
    let bad = report_minimal(
        &app,
        &agents[0].0,
        &agents[0].1,
        json!({"installedVersion": "8.x", "runningVersion": null}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "InvalidVersion");
}

/// The log lines written while `f` runs on this thread, at info (the server's default level).
async fn log_of<F: std::future::Future<Output = ()>>(f: F) -> String {
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Each log line's callsite caches whether anyone listens. While one subscriber alone is
    // registered, tracing-core asks only the current thread's: a callsite first reached by
    // another test, on a thread without one, is then cached as "never" for every thread, and
    // this test's lines vanish. A second subscriber, alive as long as the process, keeps the
    // registry asking every live subscriber.
    static SECOND: std::sync::LazyLock<tracing::Dispatch> = std::sync::LazyLock::new(|| {
        tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default())
    });
    std::sync::LazyLock::force(&SECOND);
    let guard = tracing::subscriber::set_default(subscriber);
    f.await;
    drop(guard);
    String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
}

#[tokio::test]
async fn a_failed_request_is_logged_once_with_what_it_was_and_why() {
    let (app, state, _dir) = test_app().await;
    // Break the database under the server, from a connection of the test's own: every read of
    // the sources fails.
    let other = common::own_connection(&state).await;
    sqlx::query("ALTER TABLE sources RENAME TO sources_gone")
        .execute(&other)
        .await
        .unwrap();
    let log = log_of(async {
        let reply = send(
            &app,
            admin("GET", &format!("{API}/sources"))
                .header("x-request-id", "read-that-failed")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        let reply = send(
            &app,
            admin("POST", &format!("{API}/sources"))
                .header("x-request-id", "write-that-failed")
                .body(json_body(json!({"hostName": "h", "osFamily": "windows", "platform": "windows-x64", "ipAddress": "10.0.0.1"})))
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        // A read that succeeds logs nothing at info.
        let reply = app.get_as(&format!("{API}/driverPackages/platforms"), ADMIN).await;
        assert_eq!(reply.status, StatusCode::OK);
    })
    .await;
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request failed"))
        .collect();
    assert_eq!(failed.len(), 2, "{log}");
    // The read names itself: its span is off at info.
    for expected in [
        "ERROR",
        "method=GET",
        "path=/MigrateApi/2019.8/sources",
        "request_id=read-that-failed",
        "status=500",
        "no such table: sources",
    ] {
        assert!(
            failed[0].contains(expected),
            "{expected:?} in {}",
            failed[0]
        );
    }
    // The write's span says what it was.
    for expected in [
        "ERROR",
        "request{method=POST path=/MigrateApi/2019.8/sources request_id=write-that-failed}",
        "status=500",
    ] {
        assert!(
            failed[1].contains(expected),
            "{expected:?} in {}",
            failed[1]
        );
    }
    assert!(!log.contains("/platforms"), "{log}");
}

#[tokio::test]
async fn a_report_that_changes_something_logs_one_line_naming_its_request() {
    let (app, _, _dir) = test_app().await;
    let (id, token) = register_agent(&app, "logged").await;
    let state = json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "running"});
    let log = log_of(async {
        for request_id in ["report-changes", "report-steady"] {
            let reply = send(
                &app,
                Request::put(format!("{API}/sources/{id}/driverState"))
                    .header("authorization", format!("Bearer {token}"))
                    .header("prefer", "return=minimal")
                    .header("x-request-id", request_id)
                    .body(json_body(state.clone()))
                    .unwrap(),
            )
            .await;
            assert_eq!(reply.status, StatusCode::NO_CONTENT);
        }
    })
    .await;
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 1, "{log}");
    for expected in [
        "INFO",
        "driver state reported",
        &format!("source={id}"),
        "installed=8.0.0.11",
        "request_id=report-changes",
    ] {
        assert!(lines[0].contains(expected), "{expected:?} in {}", lines[0]);
    }
}
