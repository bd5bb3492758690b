//! Operations that take time: abort, a reboot noticed mid-run, restart recovery, and many clients
//! polling while replications run.

use crate::common;

use std::time::Duration;

use common::{ADMIN, API, AppExt, Server, client, test_app_with};
use psserver::config::ReplicationSpeed;
use serde_json::{Value, json};

async fn call(app: &psserver::App, method: &str, path: &str, body: Option<Value>) -> common::Reply {
    app.call(method, &format!("{API}{path}"), body).await
}

/// A prepared contract with one full replication done, on a fast-running app.
async fn prepared(app: &psserver::App) -> (String, String) {
    let s = call(
        app,
        "POST",
        "/sources",
        Some(json!({"hostName": "W1", "osFamily": "windows", "ipAddress": "10.0.0.1"})),
    )
    .await
    .json();
    let src = s["id"].as_str().unwrap().to_owned();
    let t = call(
        app,
        "POST",
        "/transformations",
        Some(json!({"sourceId": src})),
    )
    .await
    .json();
    let t = t["id"].as_str().unwrap().to_owned();
    for op in ["Prepare", "Migrate"] {
        let href = call(
            app,
            "POST",
            &format!("/transformations/{t}?operation={op}"),
            None,
        )
        .await
        .json()["operation"]["href"]
            .as_str()
            .unwrap()
            .to_owned();
        wait_final(app, &href).await;
    }
    (src, t)
}

async fn wait_final(app: &psserver::App, href: &str) -> Value {
    for _ in 0..600 {
        let op = app.get_as(href, ADMIN).await.json();
        if !matches!(op["status"].as_str(), Some("queued" | "running")) {
            return op;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{href} never finished");
}

#[tokio::test]
async fn abort_stops_a_running_replication_cleanly() {
    let (app, _, _dir) = test_app_with(|c| c.replication_speed = ReplicationSpeed::Fast).await;
    let (_, t) = prepared(&app).await;
    let started = call(
        &app,
        "POST",
        &format!("/transformations/{t}?operation=Migrate"),
        None,
    )
    .await
    .json();
    let href = started["operation"]["href"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let view = call(&app, "GET", &format!("/transformations/{t}"), None)
        .await
        .json();
    assert_eq!(view["status"], "Running Incremental Replication");
    let rels: Vec<&str> = view["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert!(
        rels.contains(&"operation-Abort") && !rels.contains(&"operation-Migrate"),
        "{rels:?}"
    );
    // a second operation while one runs
    let reply = call(
        &app,
        "POST",
        &format!("/transformations/{t}?operation=Migrate"),
        None,
    )
    .await;
    assert_eq!(reply.status.as_u16(), 409);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already running")
    );
    // abort
    let reply = call(
        &app,
        "POST",
        &format!("/transformations/{t}?operation=Abort"),
        None,
    )
    .await;
    assert_eq!(reply.status.as_u16(), 202);
    assert_eq!(reply.json()["operation"]["href"], href);
    let op = wait_final(&app, &href).await;
    assert_eq!(op["status"], "aborted");
    assert!(op["progress"].as_u64().unwrap() < 100);
    assert!(op["completedAt"].is_string());
    assert!(
        op["subOperations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] != "running" && s["status"] != "queued")
    );
    // the contract is usable again
    let view = call(&app, "GET", &format!("/transformations/{t}"), None)
        .await
        .json();
    assert_eq!(view["status"], "Idle");
    let events = call(&app, "GET", "/events?kind=OperationAborted", None)
        .await
        .json();
    assert_eq!(events["totalCount"], 1);
}

#[tokio::test]
async fn a_reboot_pending_during_a_replication_is_noted_on_it() {
    let (app, _, _dir) = test_app_with(|c| c.replication_speed = ReplicationSpeed::Fast).await;
    let (src, t) = prepared(&app).await;
    let started = call(
        &app,
        "POST",
        &format!("/transformations/{t}?operation=Migrate"),
        None,
    )
    .await
    .json();
    let href = started["operation"]["href"].as_str().unwrap().to_owned();
    // the driver is installed while the replication runs, without a reboot
    call(
        &app,
        "PUT",
        &format!("/sources/{src}/driverState"),
        Some(json!({"installedVersion": "8.0.0.11", "runningVersion": null})),
    )
    .await;
    let op = wait_final(&app, &href).await;
    assert_eq!(op["status"], "succeededWithWarnings");
    assert_eq!(op["warnings"][0]["code"], "RebootRequired");
    assert_eq!(
        op["driverVersionUsed"],
        Value::Null,
        "decided when it started"
    );
    let reboot_warnings = |source: &Value| {
        source["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["code"] == "RebootRequired")
            .count()
    };
    let source = call(&app, "GET", &format!("/sources/{src}"), None)
        .await
        .json();
    assert_eq!(reboot_warnings(&source), 1, "the reboot is still pending");
    // The reboot makes the replication's warning untrue: it stays on the replication only.
    let rebooted = call(
        &app,
        "POST",
        &format!("/sources/{src}?operation=Reboot"),
        None,
    )
    .await;
    rebooted.assert_status(axum::http::StatusCode::OK);
    let source = call(&app, "GET", &format!("/sources/{src}"), None)
        .await
        .json();
    assert_eq!(reboot_warnings(&source), 0, "{source}");
    let op = app.get_json(&href).await;
    assert_eq!(op["warnings"][0]["code"], "RebootRequired");
    let workloads = app.call("GET", "/migrate/workloads", None).await.text();
    // The list itself (its Show menu names the filter "Reboot pending" too).
    let table = workloads.split("<table").nth(1).unwrap_or_default();
    assert!(!table.contains("Reboot pending"), "{workloads}");
}

#[tokio::test]
async fn a_restart_fails_what_was_running() {
    let server = Server::start(&["--replication-speed", "normal"]);
    let c = client();
    let api = |p: &str| server.api(p);
    let post = |url: String, body: Value| {
        c.post(url)
            .basic_auth(ADMIN.0, Some(ADMIN.1))
            .json(&body)
            .send()
    };
    let s: Value = post(
        api("/sources"),
        json!({"hostName": "W1", "osFamily": "windows", "ipAddress": "10.0.0.1"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let t: Value = post(api("/transformations"), json!({"sourceId": s["id"]}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let accepted: Value = c
        .post(api(&format!(
            "/transformations/{}?operation=Prepare",
            t["id"].as_str().unwrap()
        )))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let href = accepted["operation"]["href"].as_str().unwrap().to_owned();
    let dir = server.stop();
    let server = Server::start_in(dir, &[]);
    let op: Value = c
        .get(server.moved(&href))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(op["status"], "failed");
    assert!(op["error"].as_str().unwrap().contains("restarted"), "{op}");
    // the contract can run it again
    let reply = c
        .post(server.api(&format!(
            "/transformations/{}?operation=Prepare",
            t["id"].as_str().unwrap()
        )))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 202);
}

#[tokio::test]
async fn twenty_clients_polling_see_a_consistent_story() {
    let server = Server::start(&["--replication-speed", "fast"]);
    let c = client();
    let api = |p: &str| server.api(p);
    let mut hrefs = Vec::new();
    for i in 0..3 {
        let s: Value = c.post(api("/sources")).basic_auth(ADMIN.0, Some(ADMIN.1)).json(&json!({"hostName": format!("W{i}"), "osFamily": "windows", "ipAddress": "10.0.0.1"})).send().await.unwrap().json().await.unwrap();
        let t: Value = c
            .post(api("/transformations"))
            .basic_auth(ADMIN.0, Some(ADMIN.1))
            .json(&json!({"sourceId": s["id"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let accepted: Value = c
            .post(api(&format!(
                "/transformations/{}?operation=Prepare",
                t["id"].as_str().unwrap()
            )))
            .basic_auth(ADMIN.0, Some(ADMIN.1))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        hrefs.push(server.url(accepted["operation"]["href"].as_str().unwrap()));
    }
    let mut pollers = Vec::new();
    for n in 0..20 {
        let c = c.clone();
        let href = hrefs[n % hrefs.len()].clone();
        pollers.push(tokio::spawn(async move {
            let mut last_progress = 0;
            let mut finals = Vec::new();
            for _ in 0..2000 {
                let reply = c
                    .get(&href)
                    .basic_auth(ADMIN.0, Some(ADMIN.1))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(reply.status(), 200);
                let op: Value = reply.json().await.unwrap();
                let progress = op["progress"].as_u64().unwrap();
                assert!(
                    progress >= last_progress,
                    "progress went back from {last_progress} to {progress}"
                );
                last_progress = progress;
                let status = op["status"].as_str().unwrap().to_owned();
                if matches!(status.as_str(), "queued" | "running") {
                    assert!(finals.is_empty(), "{status} after a final state");
                    assert!(progress < 100);
                } else {
                    assert_eq!(status, "succeeded");
                    assert_eq!(progress, 100);
                    finals.push(op["completedAt"].as_str().unwrap().to_owned());
                    if finals.len() == 3 {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // once final, it stays final and unchanged
            assert_eq!(finals.len(), 3, "never reached the final state");
            assert!(finals.windows(2).all(|w| w[0] == w[1]));
        }));
    }
    for p in pollers {
        p.await.unwrap();
    }
    // exactly one completion event per operation
    let events: Value = c
        .get(api("/events?kind=OperationCompleted"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events["totalCount"], 3);
}
