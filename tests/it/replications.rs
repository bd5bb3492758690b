//! Router tests of transformations and operations, with operations running at `instant` speed.

use crate::common;

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use common::{ADMIN, API, AppExt, admin, send, test_app};
use serde_json::{Value, json};

struct Ctx {
    app: psserver::App,
    _dir: tempfile::TempDir,
}

impl Ctx {
    async fn new() -> Self {
        let (app, _, dir) = test_app().await;
        Self { app, _dir: dir }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> common::Reply {
        self.app.call(method, &format!("{API}{path}"), body).await
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let reply = self.call(method, path, body).await;
        assert!(
            reply.status.is_success(),
            "{method} {path}: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        if reply.body.is_empty() {
            Value::Null
        } else {
            reply.json()
        }
    }

    /// Register a Windows machine as its agent does: the registration, then the report of the
    /// controller service the agent installed (Prepare needs it running). Answers (source id,
    /// agent token).
    async fn source(&self) -> (String, String) {
        let s = self
            .ok("POST", "/sources?operation=Register", Some(json!({"hostName": "WIN-SRC01", "osFamily": "windows", "ipAddress": "10.0.0.5", "machineId": "m1"})))
            .await;
        let id = s["id"].as_str().unwrap().to_owned();
        self.ok(
            "PUT",
            &format!("/sources/{id}/driverState"),
            Some(json!({"installedVersion": null, "runningVersion": null, "controllerService": "running"})),
        )
        .await;
        (id, s["agentToken"].as_str().unwrap().to_owned())
    }

    async fn report(&self, id: &str, installed: Option<&str>, running: Option<&str>) {
        self.ok(
            "PUT",
            &format!("/sources/{id}/driverState"),
            Some(json!({"installedVersion": installed, "runningVersion": running})),
        )
        .await;
    }

    async fn contract(&self, source: &str) -> String {
        let t = self
            .ok(
                "POST",
                "/transformations",
                Some(json!({"sourceId": source})),
            )
            .await;
        assert_eq!(t["currentState"], "Configured");
        assert_eq!(t["status"], "Migration Configured");
        t["id"].as_str().unwrap().to_owned()
    }

    /// Start an operation and wait until it is final; answers the operation.
    async fn run(&self, t: &str, op: &str, body: Option<Value>) -> Value {
        let reply = self
            .call(
                "POST",
                &format!("/transformations/{t}?operation={op}"),
                body,
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::ACCEPTED,
            "{op}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let accepted = reply.json();
        assert_eq!(accepted["completedSynchronously"], false);
        assert_eq!(
            accepted["resource"]["href"],
            format!("{API}/transformations/{t}")
        );
        // The rels of the product's documented asynchronous answer (SPEC 9).
        assert_eq!(accepted["operation"]["rel"], "self");
        assert_eq!(accepted["resource"]["rel"], "resource");
        let href = accepted["operation"]["href"].as_str().unwrap().to_owned();
        assert_eq!(reply.header("location"), Some(href.as_str()));
        self.wait(&href).await
    }

    async fn wait(&self, href: &str) -> Value {
        for _ in 0..500 {
            let op = self.app.get_as(href, ADMIN).await.json();
            if !matches!(op["status"].as_str(), Some("queued" | "running")) {
                return op;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{href} never finished");
    }

    /// The operations the contract allows now (`operation-Remove`, offered whenever nothing
    /// runs, is the transformation's own and left out).
    async fn allowed(&self, t: &str) -> Vec<String> {
        let view = self.ok("GET", &format!("/transformations/{t}"), None).await;
        view["links"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| {
                l["rel"]
                    .as_str()?
                    .strip_prefix("operation-")
                    .filter(|op| *op != "Remove")
                    .map(str::to_owned)
            })
            .collect()
    }
}

fn codes(op: &Value) -> Vec<&str> {
    op["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_seed_story_last_paragraph() {
    let c = Ctx::new().await;
    let (src, _) = c.source().await;
    let t = c.contract(&src).await;
    assert_eq!(c.allowed(&t).await, vec!["Prepare"]);
    let prep = c.run(&t, "Prepare", None).await;
    assert_eq!(prep["status"], "succeeded");
    assert_eq!(prep["progress"], 100);
    assert_eq!(
        c.ok("GET", &format!("/sources/{src}"), None).await["status"],
        "Ready for Replication"
    );
    assert_eq!(c.allowed(&t).await, vec!["Migrate"]);

    // install without a reboot: the replication carries the reboot notification and uses no driver
    c.report(&src, Some("8.0.0.11"), None).await;
    let first = c
        .run(
            &t,
            "Migrate",
            Some(json!({"type": "MigrateOptions", "migrationType": "full"})),
        )
        .await;
    assert_eq!(first["status"], "succeededWithWarnings");
    assert_eq!(codes(&first), vec!["RebootRequired"]);
    assert_eq!(first["driverVersionUsed"], Value::Null);
    assert_eq!(first["transferMethod"], "BlockBasedWithoutDriver");
    assert_eq!(first["performedAs"], "full");
    assert!(
        first["subOperations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "succeeded" && s["progress"] == 100)
    );

    // reboot: server-sync required shows in the status
    c.report(&src, Some("8.0.0.11"), Some("8.0.0.11")).await;
    let source = c.ok("GET", &format!("/sources/{src}"), None).await;
    assert_eq!(source["serverSyncRequired"], true);
    assert!(
        source["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["message"] == "Server-sync required")
    );
    let view = c.ok("GET", &format!("/transformations/{t}"), None).await;
    assert_eq!(view["replicationStatus"]["serverSyncRequired"], true);

    // incremental: performed as a server-sync, completed with the warning, which clears the flag
    let second = c
        .run(&t, "Migrate", Some(json!({"migrationType": "incremental"})))
        .await;
    assert_eq!(second["migrationType"], "incremental");
    assert_eq!(second["performedAs"], "serverSync");
    assert_eq!(second["status"], "succeededWithWarnings");
    assert_eq!(codes(&second), vec!["ServerSyncRequired"]);
    assert_eq!(second["driverVersionUsed"], "8.0.0.11");
    assert_eq!(second["transferMethod"], "BlockBasedWithDriver");
    assert_eq!(second["subOperations"].as_array().unwrap().len(), 4);
    let view = c.ok("GET", &format!("/transformations/{t}"), None).await;
    assert_eq!(view["replicationStatus"]["serverSyncRequired"], false);
    let warnings: Vec<&str> = view["replicationStatus"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        warnings,
        vec!["ServerSyncRequired"],
        "shown in the Status field after the server-sync"
    );
    assert_eq!(view["status"], "Idle");

    // the next incremental (the default type now) is clean
    let third = c.run(&t, "Migrate", None).await;
    assert_eq!(third["migrationType"], "incremental");
    assert_eq!(third["performedAs"], "incremental");
    assert_eq!(third["status"], "succeeded");
    assert!(codes(&third).is_empty());
    let view = c.ok("GET", &format!("/transformations/{t}"), None).await;
    assert!(
        view["replicationStatus"]["warnings"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let source = c.ok("GET", &format!("/sources/{src}"), None).await;
    assert_eq!(source["lastReplication"]["id"], third["id"]);

    // the events tell it
    let events = c
        .ok("GET", &format!("/events?sourceId={src}&limit=500"), None)
        .await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "TransformationCreated",
        "OperationQueued",
        "OperationStarted",
        "OperationCompleted",
        "OperationCompletedWithWarnings",
        "ServerSyncCleared",
    ] {
        assert!(kinds.contains(&k), "{k} not in {kinds:?}");
    }
}

#[tokio::test]
async fn a_full_replication_clears_server_sync_silently_and_upgrades_use_the_old_driver() {
    let c = Ctx::new().await;
    let (src, _) = c.source().await;
    let t = c.contract(&src).await;
    c.run(&t, "Prepare", None).await;
    c.report(&src, Some("8.0.0.11"), Some("8.0.0.11")).await;
    let full = c.run(&t, "Migrate", None).await;
    assert_eq!(
        full["migrationType"], "full",
        "the default first replication is full"
    );
    assert_eq!(full["status"], "succeeded");
    assert_eq!(
        c.ok("GET", &format!("/sources/{src}"), None).await["serverSyncRequired"],
        false
    );
    // upgrade without reboot: the old running driver is used, with the reboot warning
    c.report(&src, Some("8.0.0.12"), Some("8.0.0.11")).await;
    let inc = c.run(&t, "Migrate", None).await;
    assert_eq!(inc["driverVersionUsed"], "8.0.0.11");
    assert_eq!(codes(&inc), vec!["RebootRequired"]);
}

#[tokio::test]
async fn operations_that_are_not_allowed_say_why() {
    let c = Ctx::new().await;
    let (src, _) = c.source().await;
    let t = c.contract(&src).await;
    for (op, body, code, mentions) in [
        ("Migrate", None, "OperationNotAllowed", "run Prepare first"),
        ("TestCutover", None, "OperationNotAllowed", "Prepare"),
        (
            "EndTestCutover",
            None,
            "OperationNotAllowed",
            "no test cutover",
        ),
        ("Abort", None, "NothingToAbort", "nothing to abort"),
    ] {
        let reply = c
            .call(
                "POST",
                &format!("/transformations/{t}?operation={op}"),
                body,
            )
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{op}");
        assert_eq!(reply.error_code(), code, "{op}");
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(mentions),
            "{op}: {}",
            reply.json()
        );
    }
    c.run(&t, "Prepare", None).await;
    let reply = c
        .call(
            "POST",
            &format!("/transformations/{t}?operation=Prepare"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    for kind in ["incremental", "serverSync"] {
        let reply = c
            .call(
                "POST",
                &format!("/transformations/{t}?operation=Migrate"),
                Some(json!({"migrationType": kind})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert_eq!(reply.error_code(), "FirstReplicationMustBeFull");
        assert_eq!(
            reply.json()["error"]["message"],
            "the first replication must be full"
        );
    }
    // bad requests
    for (query, body, status, code) in [
        ("operation=Explode", None, 400, "UnknownOperation"),
        ("", None, 400, "MissingOperation"),
        (
            "operation=Migrate",
            Some(json!({"migrationType": "differential"})),
            400,
            "InvalidOptions",
        ),
        (
            "operation=Migrate",
            Some(json!({"type": "CutoverOptions"})),
            400,
            "InvalidOptions",
        ),
    ] {
        let reply = c
            .call("POST", &format!("/transformations/{t}?{query}"), body)
            .await;
        assert_eq!(reply.status.as_u16(), status, "{query}");
        assert_eq!(reply.error_code(), code, "{query}");
    }
    let reply = send(
        &c.app,
        admin(
            "POST",
            &format!("{API}/transformations/{t}?operation=Migrate"),
        )
        .body(Body::from("{nope"))
        .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "MalformedJson");
    // unknown ids, a second contract, a bad create body
    let zero = "00000000-0000-0000-0000-000000000000";
    for (method, path, body, status) in [
        ("GET", format!("/transformations/{zero}"), None, 404),
        (
            "POST",
            format!("/transformations/{zero}?operation=Prepare"),
            None,
            404,
        ),
        ("DELETE", format!("/transformations/{zero}"), None, 404),
        ("GET", format!("/operations/{zero}"), None, 404),
        ("GET", "/operations/xyz".to_owned(), None, 400),
        ("GET", "/transformations/xyz".to_owned(), None, 400),
        (
            "POST",
            "/transformations".to_owned(),
            Some(json!({"sourceId": zero})),
            404,
        ),
        (
            "POST",
            "/transformations".to_owned(),
            Some(json!({"sourceId": "nope"})),
            400,
        ),
        (
            "POST",
            "/transformations".to_owned(),
            Some(json!({"source": src})),
            400,
        ),
        (
            "POST",
            "/transformations".to_owned(),
            Some(json!({"sourceId": src})),
            409,
        ),
    ] {
        let reply = c.call(method, &path, body).await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&reply.body)
        );
    }
}

#[tokio::test]
async fn test_cutover_tasks_end_the_test_and_cutover_completes() {
    let c = Ctx::new().await;
    let (src, _) = c.source().await;
    let t = c.contract(&src).await;
    c.run(&t, "Prepare", None).await;
    c.run(&t, "Migrate", None).await;
    assert_eq!(
        c.allowed(&t).await,
        vec!["Migrate", "TestCutover", "Cutover"]
    );
    let test = c.run(&t, "TestCutover", Some(json!({"type": "TestCutoverOptions", "shutdownTarget": "false", "performIncremental": true}))).await;
    assert_eq!(test["status"], "succeeded");
    assert_eq!(
        test["options"],
        json!({"shutdownTarget": false, "performIncremental": true})
    );
    let view = c.ok("GET", &format!("/transformations/{t}"), None).await;
    assert_eq!(view["currentState"], "TestCutover");
    assert_eq!(view["status"], "Test Cutover");
    let tasks = c
        .ok("GET", &format!("/tasks?sourceId={src}&state=active"), None)
        .await;
    let kinds: Vec<&str> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&"MarkTestSuccess") && kinds.contains(&"MarkTestFailure"));
    let success = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "MarkTestSuccess")
        .unwrap();
    let rels = |task: &Value| -> Vec<String> {
        task["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["rel"].as_str().unwrap().to_owned())
            .collect()
    };
    // Each says how it is done: executed (SPEC 9, Tasks), or dismissed.
    for task in tasks["tasks"].as_array().unwrap() {
        assert!(
            rels(task).contains(&"operation-Execute".to_owned()),
            "{task}"
        );
        assert!(
            rels(task).contains(&"operation-Dismiss".to_owned()),
            "{task}"
        );
    }
    // acting on one ends the test
    let reply = c
        .call(
            "POST",
            &format!(
                "/tasks/{}?operation=Execute",
                success["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let end = c
        .wait(reply.json()["operation"]["href"].as_str().unwrap())
        .await;
    assert_eq!(end["operationType"], "EndTestCutover");
    assert_eq!(end["options"]["testResult"], "success");
    let tasks = c
        .ok("GET", &format!("/tasks?sourceId={src}&state=active"), None)
        .await;
    assert_eq!(tasks["totalCount"], 0, "both test tasks resolved");
    assert_eq!(
        c.ok("GET", &format!("/transformations/{t}"), None).await["currentState"],
        "Prepared"
    );
    // a reboot task cannot be executed
    c.report(&src, Some("8.0.0.11"), None).await;
    let reboot = c
        .ok("GET", &format!("/tasks?sourceId={src}&state=active"), None)
        .await;
    assert!(!rels(&reboot["tasks"][0]).contains(&"operation-Execute".to_owned()));
    let reply = c
        .call(
            "POST",
            &format!(
                "/tasks/{}?operation=Execute",
                reboot["tasks"][0]["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    // cutover
    let cut = c
        .run(
            &t,
            "Cutover",
            Some(json!({"type": "CutoverOptions", "shutdownSource": true})),
        )
        .await;
    assert!(cut["status"].as_str().unwrap().starts_with("succeeded"));
    let view = c.ok("GET", &format!("/transformations/{t}"), None).await;
    assert_eq!(view["status"], "Cutover Completed");
    assert!(c.allowed(&t).await.is_empty());
    // removing the contract
    let reply = c
        .call("DELETE", &format!("/transformations/{t}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        c.ok("GET", &format!("/sources/{src}"), None).await["status"],
        "Not Configured"
    );
}

#[tokio::test]
async fn operations_are_listed_and_filtered() {
    let c = Ctx::new().await;
    let (src, _) = c.source().await;
    let t = c.contract(&src).await;
    c.run(&t, "Prepare", None).await;
    c.run(&t, "Migrate", None).await;
    let list = c
        .ok("GET", &format!("/operations?transformationId={t}"), None)
        .await;
    assert_eq!(list["totalCount"], 2);
    assert_eq!(
        list["operations"][0]["operationType"], "Migrate",
        "newest first"
    );
    let list = c
        .ok(
            "GET",
            &format!("/operations?sourceId={src}&status=succeeded&limit=1"),
            None,
        )
        .await;
    assert_eq!(list["operations"].as_array().unwrap().len(), 1);
    let reply = c.call("GET", "/operations?status=done", None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}
