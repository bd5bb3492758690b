//! Prepare as the product does it (SPEC 9): the documented body, the controller and the latest
//! driver installed on a discovered source, an offline source refused with a clear error; and
//! (test) cutovers whose steps follow their documented options. Router tests, `instant` speed.

use crate::common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{ADMIN, API, AppExt};
use serde_json::{Value, json};

struct Ctx {
    app: psserver::App,
    _state: psserver::AppState,
    _dirs: Vec<tempfile::TempDir>,
}

impl Ctx {
    async fn new() -> Self {
        let (app, state, dir) = common::test_app().await;
        Self {
            app,
            _state: state,
            _dirs: vec![dir],
        }
    }

    /// A server whose driver package directory is empty.
    async fn without_packages() -> Self {
        let empty = tempfile::tempdir().expect("temp dir");
        let packages = empty.path().to_owned();
        let (app, state, dir) = common::test_app_with(|c| c.driver_packages = packages).await;
        Self {
            app,
            _state: state,
            _dirs: vec![dir, empty],
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> common::Reply {
        self.app.call(method, &format!("{API}{path}"), body).await
    }

    async fn get(&self, path: &str) -> Value {
        self.app.get_json(&format!("{API}{path}")).await
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let reply = self.call(method, path, body).await;
        assert!(
            reply.status.is_success(),
            "{method} {path}: {} {}",
            reply.status,
            reply.text()
        );
        reply.json()
    }

    /// A source discovered through the API (no controller yet, no driver).
    async fn discovered(&self, host: &str, os: &str) -> String {
        let s = self
            .ok(
                "POST",
                "/sources",
                Some(json!({"hostName": host, "osFamily": os, "ipAddress": "10.0.0.5"})),
            )
            .await;
        assert_eq!(s["addedBy"], "api");
        assert_eq!(s["controllerService"], "notInstalled");
        s["id"].as_str().unwrap().to_owned()
    }

    /// A source registered by its agent, which has not (yet) reported its controller.
    async fn registered(&self, host: &str) -> String {
        let s = self
            .ok(
                "POST",
                "/sources?operation=Register",
                Some(json!({"hostName": host, "osFamily": "windows", "ipAddress": "10.0.0.7", "machineId": host})),
            )
            .await;
        s["id"].as_str().unwrap().to_owned()
    }

    async fn report(&self, id: &str, state: Value) {
        self.ok("PUT", &format!("/sources/{id}/driverState"), Some(state))
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
        t["id"].as_str().unwrap().to_owned()
    }

    /// Start an operation (202) and answer its href.
    async fn start(&self, t: &str, op: &str, body: Option<Value>) -> String {
        let reply = self
            .call(
                "POST",
                &format!("/transformations/{t}?operation={op}"),
                body,
            )
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{op}: {}", reply.text());
        reply.json()["operation"]["href"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Start an operation and wait until it is final.
    async fn run(&self, t: &str, op: &str, body: Option<Value>) -> Value {
        let href = self.start(t, op, body).await;
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

    async fn active_reboot_tasks(&self, source: &str) -> Vec<Value> {
        self.get(&format!(
            "/tasks?sourceId={source}&state=active&kind=RebootRequired"
        ))
        .await["tasks"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn event_kinds(&self, source: &str) -> Vec<String> {
        self.get(&format!("/events?sourceId={source}&pageSize=100"))
            .await["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    /// A contract on a discovered Linux source, prepared and fully replicated: ready to cut over.
    async fn replicated_linux(&self, host: &str) -> String {
        let src = self.discovered(host, "linux").await;
        let t = self.contract(&src).await;
        assert_eq!(self.run(&t, "Prepare", None).await["status"], "succeeded");
        let full = self
            .run(
                &t,
                "Migrate",
                Some(json!({"type": "MigrateOptions", "migrationType": "full"})),
            )
            .await;
        assert_eq!(full["status"], "succeeded", "{full}");
        t
    }
}

fn step_names(op: &Value) -> Vec<&str> {
    op["subOperations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

fn warning_codes(op: &Value) -> Vec<&str> {
    op["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect()
}

// The documented Prepare ("Step 8"):
// https://cabs.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-prepare-transformation.html
// https://microfocus.com/documentation/platespin/platespin-migrate-2019-11/migrate-api/api-ex-prepare-transformation.html
#[tokio::test]
async fn the_documented_prepare_body_is_accepted_verbatim() {
    let c = Ctx::new().await;
    let src = c.discovered("WIN-DOC01", "windows").await;
    let t = c.contract(&src).await;
    let reply = c
        .app
        .send(
            common::admin(
                "POST",
                &format!("{API}/transformations/{t}?operation=Prepare"),
            )
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                r#"{"type": "MigrateOptions", "migrationType": "full"}"#,
            ))
            .unwrap(),
        )
        .await;
    reply.assert_status(StatusCode::ACCEPTED);
    let accepted = reply.json();
    assert_eq!(accepted["completedSynchronously"], false);
    let op = c
        .wait(accepted["operation"]["href"].as_str().unwrap())
        .await;
    assert_eq!(op["operationType"], "Prepare");
    assert_eq!(op["status"], "succeeded", "{op}");
    assert_eq!(op["options"], json!({"migrationType": "full"}));
    // A Prepare copies nothing: its migrationType is kept, not carried out.
    assert_eq!(op["migrationType"], Value::Null);
    let view = c.get(&format!("/transformations/{t}")).await;
    assert_eq!(view["currentState"], "Prepared");
}

#[tokio::test]
async fn prepare_installs_the_latest_driver_on_a_discovered_windows_source() {
    let c = Ctx::new().await;
    let src = c.discovered("WIN-SRC01", "windows").await;
    let t = c.contract(&src).await;
    let prep = c.run(&t, "Prepare", None).await;
    assert_eq!(prep["status"], "succeeded", "{prep}");
    // Product-style names, the pages' text beside them, nested sub-operations always present.
    assert_eq!(
        step_names(&prep),
        [
            "ValidatingTransformation",
            "InstallingController",
            "InstallingBlockBasedDriver",
            "PreparingTargetWorkload"
        ]
    );
    for step in prep["subOperations"].as_array().unwrap() {
        assert_eq!(step["status"], "succeeded");
        assert_eq!(step["progress"], 100);
        assert_eq!(step["subOperations"], json!([]));
        assert!(!step["displayName"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        prep["subOperations"][2]["displayName"],
        "Installing the block-based transfer driver"
    );

    // The controller runs; the latest windows-x64 package (8.0.0.12 of driver-packages/, not
    // 8.0.0.11) is installed, not running: a reboot is pending and its task is there.
    let s = c.get(&format!("/sources/{src}")).await;
    assert_eq!(s["controllerService"], "running");
    assert_eq!(s["driver"]["installedVersion"], "8.0.0.12");
    assert_eq!(s["driver"]["runningVersion"], Value::Null);
    assert_eq!(s["driver"]["rebootPending"], true);
    assert_eq!(s["serverSyncRequired"], false);
    let tasks = c.active_reboot_tasks(&src).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert!(
        tasks[0]["message"]
            .as_str()
            .unwrap()
            .contains("driver installation on WIN-SRC01"),
        "{tasks:?}"
    );
    let kinds = c.event_kinds(&src).await;
    for kind in [
        "DriverInstalled",
        "ControllerServiceChanged",
        "TaskCreated",
        "OperationCompleted",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }

    // The next full replication succeeds, with the reboot notification, without the driver.
    let full = c
        .run(
            &t,
            "Migrate",
            Some(json!({"type": "MigrateOptions", "migrationType": "full"})),
        )
        .await;
    assert_eq!(full["status"], "succeededWithWarnings", "{full}");
    assert_eq!(warning_codes(&full), ["RebootRequired"]);
    assert_eq!(full["driverVersionUsed"], Value::Null);
    assert_eq!(full["transferMethod"], "BlockBasedWithoutDriver");
    assert_eq!(
        step_names(&full),
        ["TakingSnapshot", "TransferringData", "CleaningUp"]
    );

    // Command Details shows the text, the product's name kept on the row.
    let page = c
        .app
        .get_as(
            &format!("/migrate/commands/{}", prep["id"].as_str().unwrap()),
            ADMIN,
        )
        .await;
    let html = page.assert_status(StatusCode::OK).html();
    let rows = scraper::Selector::parse("#steps tbody tr").unwrap();
    let cell = scraper::Selector::parse("td:nth-child(2)").unwrap();
    let shown: Vec<(String, String)> = html
        .select(&rows)
        .map(|row| {
            (
                row.value().attr("data-step").unwrap_or("").to_owned(),
                row.select(&cell)
                    .next()
                    .map(|c| c.text().collect::<String>())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        shown[2],
        (
            "InstallingBlockBasedDriver".to_owned(),
            "Installing the block-based transfer driver".to_owned()
        )
    );
    assert_eq!(
        shown[1].1,
        "Installing the PlateSpin Controller on the source"
    );

    // The reboot loads it: the task resolves, a server-sync is required.
    c.ok("POST", &format!("/sources/{src}?operation=Reboot"), None)
        .await;
    assert!(c.active_reboot_tasks(&src).await.is_empty());
    let s = c.get(&format!("/sources/{src}")).await;
    assert_eq!(s["driver"]["runningVersion"], "8.0.0.12");
    assert_eq!(s["serverSyncRequired"], true);
}

#[tokio::test]
async fn on_linux_the_installed_driver_runs_at_once() {
    let c = Ctx::new().await;
    let src = c.discovered("db01", "linux").await;
    let t = c.contract(&src).await;
    let prep = c.run(&t, "Prepare", None).await;
    assert_eq!(prep["status"], "succeeded", "{prep}");
    let s = c.get(&format!("/sources/{src}")).await;
    assert_eq!(s["controllerService"], "running");
    assert_eq!(s["driver"]["installedVersion"], "8.0.0.11");
    assert_eq!(s["driver"]["runningVersion"], "8.0.0.11");
    assert_eq!(s["driver"]["rebootPending"], false);
    assert!(c.active_reboot_tasks(&src).await.is_empty());
    let full = c.run(&t, "Migrate", None).await;
    assert_eq!(full["status"], "succeeded", "{full}");
    assert_eq!(full["driverVersionUsed"], "8.0.0.11");
    assert_eq!(full["transferMethod"], "BlockBasedWithDriver");
    // The full replication captured everything the started driver asks for.
    assert_eq!(
        c.get(&format!("/sources/{src}")).await["serverSyncRequired"],
        false
    );
}

#[tokio::test]
async fn a_source_with_a_driver_or_an_agent_keeps_its_driver() {
    let c = Ctx::new().await;
    // Discovered, with a driver already installed: the server installs only its controller.
    let win = c.discovered("WIN-HAS", "windows").await;
    c.report(
        &win,
        json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11"}),
    )
    .await;
    let t = c.contract(&win).await;
    let prep = c.run(&t, "Prepare", None).await;
    assert_eq!(prep["status"], "succeeded", "{prep}");
    assert_eq!(
        step_names(&prep),
        [
            "ValidatingTransformation",
            "InstallingController",
            "PreparingTargetWorkload"
        ]
    );
    let s = c.get(&format!("/sources/{win}")).await;
    assert_eq!(s["driver"]["installedVersion"], "8.0.0.11");
    assert_eq!(s["controllerService"], "running");

    // Registered by its agent, controller running, no driver: the agent manages its driver
    // (platespin-product.md 1.5), so Prepare installs none.
    let reg = c.registered("WIN-AGENT").await;
    c.report(
        &reg,
        json!({"installedVersion": null, "runningVersion": null, "controllerService": "running"}),
    )
    .await;
    let t = c.contract(&reg).await;
    let prep = c.run(&t, "Prepare", None).await;
    assert_eq!(prep["status"], "succeeded", "{prep}");
    assert_eq!(
        step_names(&prep),
        [
            "ValidatingTransformation",
            "CheckingController",
            "PreparingTargetWorkload"
        ]
    );
    let s = c.get(&format!("/sources/{reg}")).await;
    assert_eq!(s["driver"]["installedVersion"], Value::Null);
    assert!(c.active_reboot_tasks(&reg).await.is_empty());
}

#[tokio::test]
async fn without_a_package_for_its_platform_prepare_says_so() {
    let c = Ctx::without_packages().await;
    let src = c.discovered("WIN-NOPKG", "windows").await;
    let t = c.contract(&src).await;
    let prep = c.run(&t, "Prepare", None).await;
    assert_eq!(prep["status"], "succeededWithWarnings", "{prep}");
    assert_eq!(warning_codes(&prep), ["NoDriverPackage"]);
    assert!(
        prep["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no driver package for windows-x64"),
        "{prep}"
    );
    assert!(!step_names(&prep).contains(&"InstallingBlockBasedDriver"));
    let s = c.get(&format!("/sources/{src}")).await;
    assert_eq!(s["controllerService"], "running");
    assert_eq!(s["driver"]["installedVersion"], Value::Null);
    assert_eq!(
        c.get(&format!("/transformations/{t}")).await["currentState"],
        "Prepared"
    );
}

/// The offline Prepare's failure: at the controller step, with a clear error, the contract still
/// Configured and Prepare still offered, an event written, nothing installed.
async fn assert_offline_failure(c: &Ctx, t: &str, src: &str, op: &Value, says: &str) {
    assert_eq!(op["status"], "failed", "{op}");
    let error = op["error"].as_str().unwrap();
    assert!(error.contains("is offline"), "{error}");
    assert!(error.contains(says), "{error}");
    let steps = op["subOperations"].as_array().unwrap();
    assert_eq!(steps[0]["status"], "succeeded", "{op}");
    assert_eq!(steps[1]["name"], "CheckingController");
    assert_eq!(steps[1]["status"], "failed");
    let view = c.get(&format!("/transformations/{t}")).await;
    assert_eq!(view["currentState"], "Configured");
    assert!(
        view["links"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["rel"] == "operation-Prepare"),
        "{view}"
    );
    let events = c
        .get(&format!("/events?sourceId={src}&kind=OperationFailed"))
        .await;
    let message = events["events"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("Prepare failed: "), "{message}");
    assert!(message.contains(says), "{message}");
    let s = c.get(&format!("/sources/{src}")).await;
    assert_eq!(s["driver"]["installedVersion"], Value::Null);
    assert_ne!(s["controllerService"], "running");
}

#[tokio::test]
async fn an_offline_source_cannot_be_prepared() {
    let c = Ctx::new().await;
    // A discovered source whose controller is installed but stopped.
    let stopped = c.discovered("WIN-STOPPED", "windows").await;
    c.report(&stopped, json!({"controllerService": "installed"}))
        .await;
    let t = c.contract(&stopped).await;
    let op = c.run(&t, "Prepare", None).await;
    assert_offline_failure(&c, &t, &stopped, &op, "WIN-STOPPED").await;
    assert!(
        op["error"]
            .as_str()
            .unwrap()
            .contains("Start the controller service")
    );

    // Started again: Prepare goes through, and installs the driver.
    c.report(&stopped, json!({"controllerService": "running"}))
        .await;
    let op = c.run(&t, "Prepare", None).await;
    assert_eq!(op["status"], "succeeded", "{op}");
    assert_eq!(
        c.get(&format!("/sources/{stopped}")).await["driver"]["installedVersion"],
        "8.0.0.12"
    );

    // A registered source whose agent never reported its controller: only the agent installs it.
    let reg = c.registered("WIN-NOAGENT").await;
    let t = c.contract(&reg).await;
    let op = c.run(&t, "Prepare", None).await;
    assert_offline_failure(&c, &t, &reg, &op, "WIN-NOAGENT").await;
    assert!(op["error"].as_str().unwrap().contains("Migrate Agent"));
}

#[tokio::test]
async fn an_offline_source_fails_under_an_after_polls_transition_too() {
    let c = Ctx::new().await;
    c.app
        .call(
            "PUT",
            "/_emu/settings",
            Some(json!({"transition": {"mode": "afterPolls", "polls": 2}})),
        )
        .await
        .assert_status(StatusCode::OK);
    let src = c.registered("WIN-POLLED").await;
    let t = c.contract(&src).await;
    let op = c.run(&t, "Prepare", None).await;
    assert_offline_failure(&c, &t, &src, &op, "WIN-POLLED").await;
    // The steps after the controller's never ran.
    assert_eq!(op["subOperations"][2]["startedAt"], Value::Null);
}

#[tokio::test]
async fn an_aborted_prepare_installs_nothing() {
    let c = Ctx::new().await;
    c.app
        .call(
            "PUT",
            "/_emu/settings",
            Some(json!({"transition": {"mode": "afterPolls", "polls": 50}})),
        )
        .await
        .assert_status(StatusCode::OK);
    let src = c.discovered("WIN-ABORT", "windows").await;
    let t = c.contract(&src).await;
    let href = c.start(&t, "Prepare", None).await;
    c.ok(
        "POST",
        &format!("/transformations/{t}?operation=Abort"),
        None,
    )
    .await;
    let op = c.wait(&href).await;
    assert_eq!(op["status"], "aborted", "{op}");
    let s = c.get(&format!("/sources/{src}")).await;
    assert_eq!(s["controllerService"], "notInstalled");
    assert_eq!(s["driver"]["installedVersion"], Value::Null);
    assert_eq!(
        c.get(&format!("/transformations/{t}")).await["currentState"],
        "Configured"
    );
}

// The documented Cutover and TestCutover ("Step 9"):
// https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-8/migrate-api/api-ex-execute-transformation.html
#[tokio::test]
async fn a_cutover_that_keeps_the_source_running_shuts_nothing_down() {
    let c = Ctx::new().await;
    let t = c.replicated_linux("db-keep").await;
    let op = c
        .run(
            &t,
            "Cutover",
            Some(json!({"type":"CutoverOptions","shutdownTarget":"false","shutdownSource":"false","performIncremental":"true"})),
        )
        .await;
    assert_eq!(op["status"], "succeeded", "{op}");
    assert_eq!(
        step_names(&op),
        ["RunningIncrementalReplication", "StartingTargetWorkload"]
    );
    assert_eq!(op["migrationType"], "incremental");
    assert_eq!(op["performedAs"], "incremental");
    assert_eq!(op["driverVersionUsed"], "8.0.0.11");

    // The Web Interface's defaults: the source shut down after a last incremental.
    let t = c.replicated_linux("db-default").await;
    let op = c.run(&t, "Cutover", None).await;
    assert_eq!(
        step_names(&op),
        [
            "RunningIncrementalReplication",
            "ShuttingDownSourceWorkload",
            "StartingTargetWorkload"
        ]
    );
    let t = c.replicated_linux("db-target").await;
    let op = c
        .run(
            &t,
            "Cutover",
            Some(json!({"type":"CutoverOptions","shutdownTarget":true,"performIncremental":false})),
        )
        .await;
    assert_eq!(
        step_names(&op),
        [
            "ShuttingDownSourceWorkload",
            "StartingTargetWorkload",
            "ShuttingDownTargetWorkload"
        ]
    );
    assert_eq!(op["migrationType"], Value::Null);
    assert_eq!(op["driverVersionUsed"], Value::Null);
}

#[tokio::test]
async fn a_test_cutover_with_perform_incremental_replicates_first() {
    let c = Ctx::new().await;
    let t = c.replicated_linux("db-test").await;
    // Verbatim: neither an incremental nor a shutdown.
    let op = c
        .run(
            &t,
            "TestCutover",
            Some(json!({"type":"TestCutoverOptions","shutdownTarget":"false","performIncremental":"false"})),
        )
        .await;
    assert_eq!(op["status"], "succeeded", "{op}");
    assert_eq!(
        step_names(&op),
        ["PreparingTestWorkload", "StartingTestWorkload"]
    );
    let end = c
        .run(
            &t,
            "EndTestCutover",
            Some(json!({"type": "EndTestCutoverOptions"})),
        )
        .await;
    assert_eq!(end["status"], "succeeded", "{end}");
    assert_eq!(
        step_names(&end),
        ["ShuttingDownTestWorkload", "RevertingTarget"]
    );

    let op = c
        .run(
            &t,
            "TestCutover",
            Some(json!({"type":"TestCutoverOptions","shutdownTarget":"false","performIncremental":"true"})),
        )
        .await;
    assert_eq!(op["status"], "succeeded", "{op}");
    assert_eq!(
        step_names(&op),
        [
            "RunningIncrementalReplication",
            "PreparingTestWorkload",
            "StartingTestWorkload"
        ]
    );
    assert_eq!(op["performedAs"], "incremental");
}

#[tokio::test]
async fn a_cutovers_incremental_follows_the_replication_rules() {
    // While a server-sync is required, the cutover's incremental is carried out as one (with
    // its warning) and clears the requirement, as a replication's incremental would.
    let c = Ctx::new().await;
    let src = c.discovered("WIN-SYNC", "windows").await;
    let t = c.contract(&src).await;
    c.run(&t, "Prepare", None).await;
    c.run(&t, "Migrate", None).await;
    c.ok("POST", &format!("/sources/{src}?operation=Reboot"), None)
        .await;
    assert_eq!(
        c.get(&format!("/sources/{src}")).await["serverSyncRequired"],
        true
    );
    let op = c.run(&t, "Cutover", None).await;
    assert_eq!(op["status"], "succeededWithWarnings", "{op}");
    assert_eq!(op["performedAs"], "serverSync");
    assert_eq!(warning_codes(&op), ["ServerSyncRequired"]);
    assert_eq!(step_names(&op)[0], "RunningServerSync");
    assert_eq!(op["driverVersionUsed"], "8.0.0.12");
    assert_eq!(
        c.get(&format!("/sources/{src}")).await["serverSyncRequired"],
        false
    );
}

/// A prepared source whose controller then stops cannot be replicated either: the replication
/// fails at its first step with the same clear error, and runs again once the controller does.
#[tokio::test]
async fn an_offline_source_cannot_be_replicated() {
    let c = Ctx::new().await;
    let src = c.discovered("WIN-LATER-OFF", "windows").await;
    let t = c.contract(&src).await;
    let op = c.run(&t, "Prepare", None).await;
    assert_eq!(op["status"], "succeeded", "{op}");
    c.report(&src, json!({"controllerService": "installed"}))
        .await;
    let op = c
        .run(
            &t,
            "Migrate",
            Some(json!({"type": "MigrateOptions", "migrationType": "full"})),
        )
        .await;
    assert_eq!(op["status"], "failed", "{op}");
    let error = op["error"].as_str().unwrap();
    assert!(error.starts_with("WIN-LATER-OFF is offline"), "{error}");
    assert!(error.ends_with("run the replication again."), "{error}");
    c.report(&src, json!({"controllerService": "running"}))
        .await;
    let op = c
        .run(
            &t,
            "Migrate",
            Some(json!({"type": "MigrateOptions", "migrationType": "full"})),
        )
        .await;
    assert!(
        op["status"].as_str().unwrap().starts_with("succeeded"),
        "{op}"
    );
}
