//! Conformance with the product's published Migrate API examples (SPEC 9): each case sends the
//! request a documented example shows, verbatim, over HTTP with Basic authentication, follows the
//! links the answers give, and checks the facts of the documented answer. The facts are written
//! here from the docs; the URL above each case names the page it comes from.
//!
//! The walkthrough is the docs' own order: add a platform, discover a source, create and read a
//! transformation and its setting groups, prepare, replicate full then incremental, test cutover
//! and mark it a success, cut over, remove. The seed's driver rules show through it: Prepare
//! installs the driver on Windows and the reboot task appears, the replication warns of the pending
//! reboot, the reboot sets server-sync, the incremental ends `succeededWithWarnings`, and no
//! reboot warning is left.

use crate::common;

use std::time::Duration;

use common::{ADMIN, API, Server};
use serde_json::{Value, json};

/// A client of the documented API: Basic authentication, JSON, absolute hrefs followed as given.
struct Client {
    http: reqwest::Client,
    server: Server,
}

impl Client {
    fn start() -> Self {
        Self {
            http: common::client(),
            server: Server::start(&["--replication-speed", "instant"]),
        }
    }

    /// `method url [body]`: the status and the JSON answer (null when there is none).
    async fn send(&self, method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
        let url = self.server.url(url);
        let mut request = self
            .http
            .request(method.parse().unwrap(), &url)
            .basic_auth(ADMIN.0, Some(ADMIN.1));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.unwrap();
        let status = reply.status().as_u16();
        let text = reply.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {url}: {e}: {text}"))
        };
        (status, json)
    }

    async fn get(&self, url: &str) -> Value {
        let (status, body) = self.send("GET", url, None).await;
        assert_eq!(status, 200, "GET {url}: {body}");
        body
    }

    /// Poll an operation until it is no longer queued or running.
    async fn wait(&self, operation_href: &str) -> Value {
        for _ in 0..500 {
            let op = self.get(operation_href).await;
            if !matches!(op["status"].as_str(), Some("queued" | "running")) {
                return op;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{operation_href} did not finish");
    }

    /// Start an operation through its link and wait for it; `accepted` is checked against the
    /// documented asynchronous answer.
    async fn run(&self, href: &str, body: Value) -> Value {
        let (status, accepted) = self.send("POST", href, Some(body)).await;
        assert_eq!(status, 202, "POST {href}: {accepted}");
        assert_async_answer(&accepted, &self.origin());
        self.wait(accepted["operation"]["href"].as_str().unwrap())
            .await
    }

    /// `http://127.0.0.1:port`: what absolute hrefs start with.
    fn origin(&self) -> String {
        self.server.url("")
    }
}

/// The link with `rel` in `body["links"]`.
fn link(body: &Value, rel: &str) -> Value {
    body["links"]
        .as_array()
        .unwrap_or_else(|| panic!("no links in {body}"))
        .iter()
        .find(|l| l["rel"] == rel)
        .cloned()
        .unwrap_or_else(|| panic!("no {rel} link in {body}"))
}

fn href(body: &Value, rel: &str) -> String {
    link(body, rel)["href"].as_str().unwrap().to_owned()
}

fn methods(body: &Value, rel: &str) -> Vec<String> {
    link(body, rel)["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect()
}

/// https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-add-azure-platform.html
/// (and the Prepare page): a long action answers `completedSynchronously` false, the operation
/// as `self` and what it works on as `resource`, both GET, with absolute hrefs.
fn assert_async_answer(accepted: &Value, origin: &str) {
    assert_eq!(accepted["completedSynchronously"], false, "{accepted}");
    for (member, rel) in [("operation", "self"), ("resource", "resource")] {
        let l = &accepted[member];
        assert_eq!(l["rel"], rel, "{accepted}");
        assert_eq!(l["methods"], json!(["GET"]), "{accepted}");
        assert!(
            l["href"].as_str().unwrap().starts_with(origin),
            "absolute: {accepted}"
        );
    }
    assert!(
        accepted["operation"]["href"]
            .as_str()
            .unwrap()
            .contains(&format!("{API}/operations/")),
        "{accepted}"
    );
}

fn step_names(op: &Value) -> Vec<String> {
    op["subOperations"]
        .as_array()
        .unwrap_or_else(|| panic!("no subOperations in {op}"))
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

fn warning_codes(op: &Value) -> Vec<String> {
    op["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap().to_owned())
        .collect()
}

/// The documented walkthrough, end to end.
#[tokio::test]
async fn the_documented_walkthrough_runs_unchanged() {
    let c = Client::start();
    let origin = c.origin();

    // https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-about.html
    // The root links to platforms, sources and transformations.
    let root = c.get(API).await;
    let platforms = href(&root, "platforms");
    let sources = href(&root, "sources");
    let transformations = href(&root, "transformations");
    assert!(platforms.starts_with(&origin), "{root}");

    // Step 1: Add an Azure Platform.
    // https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-add-azure-platform.html
    let (status, accepted) = c
        .send(
            "POST",
            &platforms,
            Some(json!({
                "username": "username@accountname.onmicrosoft.com",
                "password": "Azure password goes here",
                "type": "AddPlatformAzureCloud",
                "azureCloudName": "AzureCloud",
                "locationName": "centralus",
                "subscriptionId": "Subscription id goes here",
                "applicationId": "Application id goes here"
            })),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_async_answer(&accepted, &origin);
    let discovery = c
        .wait(accepted["operation"]["href"].as_str().unwrap())
        .await;
    assert_eq!(discovery["operationType"], "PreDiscovery", "{discovery}");
    assert_eq!(discovery["status"], "succeeded", "{discovery}");
    assert_eq!(step_names(&discovery)[0], "DiscoveringWorkloadTarget");
    assert_eq!(
        step_names(&discovery["subOperations"][0])[0],
        "Operations.Cloud.DiscoverRegion",
        "{discovery}"
    );
    let platform = c.get(accepted["resource"]["href"].as_str().unwrap()).await;
    let platform_id = platform["id"].as_str().unwrap().to_owned();
    assert!(platform.get("password").is_none(), "{platform}");

    // Discover a Windows source (the emulator's own body: the docs do not show this one).
    let (status, source) = c
        .send(
            "POST",
            &sources,
            Some(json!({"hostName": "SB-W2012-R2-STD", "osFamily": "windows", "ipAddress": "10.10.10.21"})),
        )
        .await;
    assert_eq!(status, 201, "{source}");
    let source_id = source["id"].as_str().unwrap().to_owned();
    let source_href = href(&source, "self");

    // Step 4: Create a Transformation.
    // https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-create-transformation.html
    let (status, t) = c
        .send(
            "POST",
            &transformations,
            Some(json!({"platformId": platform_id, "sourceId": source_id, "storageLayout": "sameAsSource"})),
        )
        .await;
    assert!(status == 201 || status == 200, "{status}: {t}");
    assert_eq!(t["displayName"], "SB-W2012-R2-STD", "{t}");
    assert_eq!(t["sourceId"], source_id.as_str());
    assert_eq!(t["platformId"], platform_id.as_str());
    assert_eq!(t["currentState"], "Configured");
    assert!(t["tags"].is_null(), "{t}");

    // Step 5: Get Transformation: the same answer by its self link; the operations are the
    // links whose rel starts with "operation-"; the setting groups each have their link.
    // https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-get-transformation-info.html
    let t_href = href(&t, "self");
    assert!(t_href.starts_with(&origin), "{t}");
    let t = c.get(&t_href).await;
    assert_eq!(methods(&t, "self"), ["GET"]);
    assert_eq!(methods(&t, "operation-Prepare"), ["POST"]);
    assert!(href(&t, "operation-Prepare").ends_with("?operation=Prepare"));
    assert_eq!(href(&t, "operation-Remove"), t_href);
    assert_eq!(methods(&t, "operation-Remove"), ["DEL"]);
    for group in [
        "Storage",
        "Networking",
        "Schedule",
        "TargetSettings",
        "ReplicationSettings",
    ] {
        assert_eq!(methods(&t, group), ["GET", "PUT"], "{group}");
        let settings = c.get(&href(&t, group)).await;
        assert!(settings.is_object(), "{group}: {settings}");
    }
    assert_eq!(methods(&t, "ValidationResults"), ["GET"]);
    assert_eq!(href(&t, "Storage"), format!("{t_href}/storage"));
    let storage = c.get(&href(&t, "Storage")).await;
    assert_eq!(storage["storageLayout"], "sameAsSource", "{storage}");
    let validation = c.get(&href(&t, "ValidationResults")).await;
    assert!(validation.is_object(), "{validation}");

    // Step 8: Prepare, with the documented body.
    // https://cabs.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-prepare-transformation.html
    let prepared = c
        .run(
            &href(&t, "operation-Prepare"),
            json!({"type": "MigrateOptions", "migrationType": "full"}),
        )
        .await;
    assert_eq!(prepared["status"], "succeeded", "{prepared}");
    // Prepare installed the data-transfer components: on Windows the driver is installed, not
    // running, and the reboot-notification task appears.
    let source = c.get(&source_href).await;
    assert_eq!(source["controllerService"], "running", "{source}");
    let installed = source["driver"]["installedVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("{source}"));
    assert!(source["driver"]["runningVersion"].is_null(), "{source}");
    assert_eq!(source["driver"]["rebootPending"], true, "{source}");
    let tasks = c.get(&href(&source, "tasks")).await;
    assert!(
        tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|task| task["kind"] == "RebootRequired" && task["state"] == "active"),
        "{tasks}"
    );

    // Step 9: Execute: a full replication, then an incremental one.
    // https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-8/migrate-api/api-ex-execute-transformation.html
    let t = c.get(&t_href).await;
    let full = c
        .run(
            &href(&t, "operation-Migrate"),
            json!({"type": "MigrateOptions", "migrationType": "full"}),
        )
        .await;
    assert_eq!(full["status"], "succeededWithWarnings", "{full}");
    assert_eq!(warning_codes(&full), ["RebootRequired"], "{full}");
    let t = c.get(&t_href).await;
    assert!(href(&t, "lastOperation").starts_with(&origin), "{t}");
    assert_eq!(methods(&t, "lastOperation"), ["GET"]);

    // The reboot loads the driver where none ran: server-sync is required.
    let (status, rebooted) = c
        .send("POST", &href(&source, "operation-Reboot"), None)
        .await;
    assert_eq!(status, 200, "{rebooted}");
    assert_eq!(
        rebooted["driver"]["runningVersion"], installed,
        "{rebooted}"
    );
    assert_eq!(rebooted["serverSyncRequired"], true, "{rebooted}");

    let incremental = c
        .run(
            &href(&t, "operation-Migrate"),
            json!({"type": "MigrateOptions", "migrationType": "incremental"}),
        )
        .await;
    assert_eq!(
        incremental["status"], "succeededWithWarnings",
        "{incremental}"
    );
    assert_eq!(
        warning_codes(&incremental),
        ["ServerSyncRequired"],
        "{incremental}"
    );
    let source = c.get(&source_href).await;
    assert_eq!(source["serverSyncRequired"], false, "{source}");
    // The Status field shows the server-sync warning; no reboot warning is left.
    assert_eq!(warning_codes(&source), ["ServerSyncRequired"], "{source}");
    assert_eq!(source["driver"]["rebootPending"], false, "{source}");
    let tasks = c.get(&href(&source, "tasks")).await;
    assert!(
        !tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|task| task["kind"] == "RebootRequired" && task["state"] == "active"),
        "the reboot resolved its task: {tasks}"
    );

    // Test cutover, with the documented body, then Mark Test as Success through its task.
    let t = c.get(&t_href).await;
    let test = c
        .run(
            &href(&t, "operation-TestCutover"),
            json!({"type": "TestCutoverOptions", "shutdownTarget": "false", "performIncremental": "false"}),
        )
        .await;
    assert_eq!(test["status"], "succeeded", "{test}");
    let tasks = c.get(&href(&source, "tasks")).await;
    let success = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|task| task["kind"] == "MarkTestSuccess" && task["state"] == "active")
        .cloned()
        .unwrap_or_else(|| panic!("{tasks}"));
    let ended = c.run(&href(&success, "operation-Execute"), json!({})).await;
    assert_eq!(ended["operationType"], "EndTestCutover", "{ended}");
    assert_eq!(ended["status"], "succeeded", "{ended}");
    let t = c.get(&t_href).await;
    assert_eq!(t["currentState"], "Prepared", "{t}");

    // Cutover, with the documented body: the source is not shut down.
    let cutover = c
        .run(
            &href(&t, "operation-Cutover"),
            json!({"type": "CutoverOptions", "shutdownTarget": "false", "shutdownSource": "false", "performIncremental": "true"}),
        )
        .await;
    assert_eq!(cutover["status"], "succeeded", "{cutover}");
    let names = step_names(&cutover);
    assert!(
        !names
            .iter()
            .any(|n| n.to_lowercase().contains("source") && n.to_lowercase().contains("shut")),
        "{names:?}"
    );
    let t = c.get(&t_href).await;
    assert_eq!(t["currentState"], "CutOver", "{t}");

    // Remove, through the operation-Remove link (DEL in the docs' links; HTTP DELETE).
    let (status, _) = c.send("DELETE", &href(&t, "operation-Remove"), None).await;
    assert_eq!(status, 204);
    let (status, gone) = c.send("GET", &t_href, None).await;
    assert_eq!(status, 404, "{gone}");
}

/// Under the after-N-polls transition an operation stays running until it is polled, so a
/// script sees the in-progress answer the docs show.
async fn hold_operations_for_polls(c: &Client, polls: u32) {
    let (status, body) = c
        .send(
            "PUT",
            "/_emu/settings",
            Some(json!({"transition": {"mode": "afterPolls", "polls": polls}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

fn azure_platform() -> Value {
    json!({
        "username": "username@accountname.onmicrosoft.com",
        "password": "Azure password goes here",
        "type": "AddPlatformAzureCloud",
        "azureCloudName": "AzureCloud",
        "locationName": "centralus",
        "subscriptionId": "Subscription id goes here",
        "applicationId": "Application id goes here"
    })
}

/// https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-add-azure-platform.html
/// While the platform is added, the operation answers top-level `status` "running",
/// `operationType` "PreDiscovery", and `subOperations` nested two deep, each with `name` and
/// `progress` (DiscoveringWorkloadTarget, then Operations.Cloud.DiscoverRegion).
#[tokio::test]
async fn step_1_a_platform_being_added_answers_the_documented_running_shape() {
    let c = Client::start();
    hold_operations_for_polls(&c, 3).await;
    let (status, accepted) = c
        .send("POST", &format!("{API}/platforms"), Some(azure_platform()))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let op_href = accepted["operation"]["href"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let running = c.get(op_href).await;
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(running["operationType"], "PreDiscovery", "{running}");
    let outer = &running["subOperations"][0];
    assert_eq!(outer["name"], "DiscoveringWorkloadTarget", "{running}");
    assert!(outer["progress"].is_u64(), "{running}");
    let inner = &outer["subOperations"][0];
    assert_eq!(
        inner["name"], "Operations.Cloud.DiscoverRegion",
        "{running}"
    );
    assert!(inner["progress"].is_u64(), "{running}");
    // The third poll completes it.
    c.get(op_href).await;
    let done = c.get(op_href).await;
    assert_eq!(done["status"], "succeeded", "{done}");
}

/// https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-about.html
/// The 2019.5 guide's root is `/MigrateApi/2019.5`; its examples' links stay on that base.
#[tokio::test]
async fn the_2019_5_base_answers_with_its_own_links() {
    let c = Client::start();
    let root = c.get("/MigrateApi/2019.5").await;
    for rel in ["platforms", "sources", "transformations"] {
        assert!(
            href(&root, rel).starts_with(&format!("{}/MigrateApi/2019.5/", c.origin())),
            "{root}"
        );
    }
    let (status, accepted) = c
        .send("POST", &href(&root, "platforms"), Some(azure_platform()))
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert!(
        accepted["operation"]["href"]
            .as_str()
            .unwrap()
            .contains("/MigrateApi/2019.5/operations/"),
        "{accepted}"
    );
}

/// A prepared Windows workload, through the documented requests: its transformation's URL.
async fn prepared_transformation(c: &Client, host: &str) -> String {
    let (_, source) = c
        .send(
            "POST",
            &format!("{API}/sources"),
            Some(json!({"hostName": host, "osFamily": "windows", "ipAddress": "10.10.10.30"})),
        )
        .await;
    let (status, t) = c
        .send(
            "POST",
            &format!("{API}/transformations"),
            Some(json!({"sourceId": source["id"]})),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let prepared = c
        .run(
            &href(&t, "operation-Prepare"),
            json!({"type": "MigrateOptions", "migrationType": "full"}),
        )
        .await;
    assert_eq!(prepared["status"], "succeeded", "{prepared}");
    href(&t, "self")
}

/// https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-8/migrate-api/api-ex-execute-transformation.html
/// Each documented body is accepted verbatim (booleans as strings), and the operation runs
/// with those options: the first replication full, later ones incremental; a test cutover
/// with `performIncremental` "true" replicates first; a cutover with `shutdownSource` "false"
/// leaves the source running.
#[tokio::test]
async fn step_9_each_documented_body_runs_with_its_options() {
    let c = Client::start();
    let t_href = prepared_transformation(&c, "SB-W2016-STD").await;
    let t = c.get(&t_href).await;
    let full = c
        .run(
            &href(&t, "operation-Migrate"),
            json!({"type": "MigrateOptions", "migrationType": "full"}),
        )
        .await;
    assert_eq!(full["performedAs"], "full", "{full}");
    let incremental = c
        .run(
            &href(&t, "operation-Migrate"),
            json!({"type": "MigrateOptions", "migrationType": "incremental"}),
        )
        .await;
    assert_eq!(incremental["migrationType"], "incremental", "{incremental}");

    let t = c.get(&t_href).await;
    let plain_test = c
        .run(
            &href(&t, "operation-TestCutover"),
            json!({"type": "TestCutoverOptions", "shutdownTarget": "false", "performIncremental": "false"}),
        )
        .await;
    assert_eq!(plain_test["status"], "succeeded", "{plain_test}");
    let plain_steps = step_names(&plain_test);
    // End it (the docs: EndTestCutover takes a body; its members are not shown).
    let t = c.get(&t_href).await;
    let ended = c
        .run(&href(&t, "operation-EndTestCutover"), json!({}))
        .await;
    assert_eq!(ended["status"], "succeeded", "{ended}");

    let t = c.get(&t_href).await;
    let with_incremental = c
        .run(
            &href(&t, "operation-TestCutover"),
            json!({"type": "TestCutoverOptions", "shutdownTarget": "false", "performIncremental": "true"}),
        )
        .await;
    let steps = step_names(&with_incremental);
    assert_eq!(
        steps.len(),
        plain_steps.len() + 1,
        "{steps:?} / {plain_steps:?}"
    );
    let t = c.get(&t_href).await;
    c.run(&href(&t, "operation-EndTestCutover"), json!({}))
        .await;

    let t = c.get(&t_href).await;
    let cutover = c
        .run(
            &href(&t, "operation-Cutover"),
            json!({"type": "CutoverOptions", "shutdownTarget": "false", "shutdownSource": "false", "performIncremental": "true"}),
        )
        .await;
    // The reboot Prepare asked for never came: its incremental warns, as replications do.
    assert_eq!(cutover["status"], "succeededWithWarnings", "{cutover}");
    assert_eq!(warning_codes(&cutover), ["RebootRequired"], "{cutover}");
    let shutdowns: Vec<String> = step_names(&cutover)
        .into_iter()
        .filter(|n| n.contains("ShuttingDown"))
        .collect();
    assert!(shutdowns.is_empty(), "{shutdowns:?}");
    assert_eq!(c.get(&t_href).await["currentState"], "CutOver");
}

/// https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-create-transformation.html
/// Right after creation the transformation is `Configured`, and the operations it offers are
/// exactly its links whose rel starts with "operation-": Prepare, and Remove.
#[tokio::test]
async fn step_4_a_new_transformation_offers_prepare_and_remove() {
    let c = Client::start();
    let (_, source) = c
        .send(
            "POST",
            &format!("{API}/sources"),
            Some(json!({"hostName": "SB-W2012-R2-STD", "osFamily": "windows", "ipAddress": "10.10.10.21"})),
        )
        .await;
    let (_, t) = c
        .send(
            "POST",
            &format!("{API}/transformations"),
            Some(json!({"sourceId": source["id"], "storageLayout": "sameAsSource"})),
        )
        .await;
    assert_eq!(t["currentState"], "Configured", "{t}");
    let mut operations: Vec<String> = t["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["rel"].as_str())
        .filter(|r| r.starts_with("operation-"))
        .map(str::to_owned)
        .collect();
    operations.sort();
    assert_eq!(operations, ["operation-Prepare", "operation-Remove"], "{t}");
    // GUIDs, as the docs' ids are.
    assert!(uuid::Uuid::parse_str(t["id"].as_str().unwrap()).is_ok());
}
