//! Router tests of the transformation in the product's documented shape (issue 17): the create
//! body of "Step 4: Create a Transformation" sent verbatim, the answer of "Step 5: Get
//! Transformation" (members, link rels and methods, absolute hrefs), and the setting groups at
//! `transformations/{id}/<group>`: defaults from the workload, partial PUTs, bad members named,
//! refusals while an operation runs and after cutover, removal through `operation-Remove`.

use crate::common;

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use common::{ADMIN, API, AppExt, admin, json_body, own_connection, send, test_app};
use psserver::state::Transition;
use serde_json::{Value, json};

/// The host the product's documented answers show their links on.
const HOST: &str = "10.10.10.143";

struct Ctx {
    app: psserver::App,
    state: psserver::AppState,
    _dir: tempfile::TempDir,
}

impl Ctx {
    async fn new() -> Self {
        let (app, state, dir) = test_app().await;
        Self {
            app,
            state,
            _dir: dir,
        }
    }

    /// An administrator's request to `{API}{path}` (or to an absolute href), naming [`HOST`].
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> common::Reply {
        let uri = match path.split_once(HOST) {
            Some((_, rest)) => rest.to_owned(),
            None => format!("{API}{path}"),
        };
        let request = admin(method, &uri)
            .header("host", HOST)
            .body(body.map_or_else(Body::empty, json_body))
            .unwrap();
        send(&self.app, request).await
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

    /// A Windows workload discovered through the API, named as in the docs' example.
    async fn source(&self) -> String {
        let s = self
            .ok(
                "POST",
                "/sources",
                Some(json!({"hostName": "SB-W2012-R2-STD", "osFamily": "windows", "ipAddress": "10.0.0.5"})),
            )
            .await;
        s["id"].as_str().unwrap().to_owned()
    }

    async fn transformation(&self, source: &str) -> String {
        let t = self
            .ok(
                "POST",
                "/transformations",
                Some(json!({"sourceId": source})),
            )
            .await;
        t["id"].as_str().unwrap().to_owned()
    }

    /// Start an operation; answers its href.
    async fn start(&self, t: &str, op: &str) -> String {
        let reply = self
            .call(
                "POST",
                &format!("/transformations/{t}?operation={op}"),
                None,
            )
            .await;
        reply.assert_status(StatusCode::ACCEPTED);
        reply.json()["operation"]["href"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Wait until an operation is final; answers it.
    async fn wait(&self, href: &str) -> Value {
        for _ in 0..500 {
            let o = self.ok("GET", href, None).await;
            if !matches!(o["status"].as_str(), Some("queued" | "running")) {
                return o;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{href} never finished");
    }

    /// Run an operation to its successful end; answers its href.
    async fn run(&self, t: &str, op: &str) -> String {
        let href = self.start(t, op).await;
        let o = self.wait(&href).await;
        assert!(
            o["status"].as_str().unwrap().starts_with("succeeded"),
            "{o}"
        );
        href
    }
}

fn base() -> String {
    format!("http://{HOST}{API}")
}

fn rels(t: &Value) -> Vec<&str> {
    t["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect()
}

fn link<'a>(t: &'a Value, rel: &str) -> &'a Value {
    t["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == rel)
        .unwrap_or_else(|| panic!("no {rel} link in {t}"))
}

// https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-create-transformation.html
// The create body as the docs send it: a platform, a source and the storage layout.
#[tokio::test]
async fn the_documented_create_body_is_accepted_verbatim() {
    let c = Ctx::new().await;
    let src = c.source().await;
    // Step 1's platform (the docs' own id belongs to their server).
    let added = c
        .ok(
            "POST",
            "/platforms",
            Some(json!({
                "username": "username@accountname.onmicrosoft.com", "password": "secret",
                "type": "AddPlatformAzureCloud", "azureCloudName": "AzureCloud",
                "locationName": "centralus", "subscriptionId": "s", "applicationId": "a"
            })),
        )
        .await;
    let platform = added["resource"]["href"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let body = format!(
        r#"{{"platformId": "{platform}", "sourceId": "{src}", "storageLayout": "sameAsSource"}}"#
    );
    let request = admin("POST", &format!("{API}/transformations"))
        .header("host", HOST)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let reply = send(&c.app, request).await;
    reply.assert_status(StatusCode::CREATED);
    let t = reply.json();
    assert_eq!(t["platformId"], platform);
    assert_eq!(t["sourceId"], src.as_str());
    assert_eq!(
        reply.header("location").unwrap(),
        format!("{}/transformations/{}", base(), t["id"].as_str().unwrap())
    );
    let storage = c
        .ok("GET", link(&t, "Storage")["href"].as_str().unwrap(), None)
        .await;
    assert_eq!(storage["storageLayout"], "sameAsSource");
}

// https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-get-transformation-info.html
// https://cabs.microfocus.com/documentation/platespin/platespin-migrate-2020-2/migrate-api/api-ex-get-transformation-info.html
// The documented members, in order, then links self, lastOperation, operation-Prepare,
// operation-Remove (methods ["DEL"]) and the setting groups, with absolute hrefs; the
// available operations are the links whose rel starts with `operation-`.
#[tokio::test]
async fn the_transformation_has_the_documented_shape() {
    let c = Ctx::new().await;
    let src = c.source().await;
    let id = c.transformation(&src).await;
    let reply = c.call("GET", &format!("/transformations/{id}"), None).await;
    reply.assert_status(StatusCode::OK);
    let t = reply.json();
    assert_eq!(t["id"], id.as_str());
    assert_eq!(t["displayName"], "SB-W2012-R2-STD");
    assert_eq!(t["sourceId"], src.as_str());
    assert_eq!(t["platformId"], Value::Null);
    assert_eq!(t["currentState"], "Configured");
    assert_eq!(t["tags"], Value::Null);
    // The documented members come first, in the documented order; the emulator's after them.
    let text = reply.text();
    let at = |key: &str| {
        text.find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("no {key}"))
    };
    let order = [
        "id",
        "displayName",
        "sourceId",
        "platformId",
        "currentState",
        "tags",
        "links",
        "status",
        "runningOperation",
        "replicationStatus",
        "createdAt",
        "updatedAt",
    ];
    for pair in order.windows(2) {
        assert!(at(pair[0]) < at(pair[1]), "{} before {}", pair[0], pair[1]);
    }

    let href = format!("{}/transformations/{id}", base());
    assert_eq!(
        rels(&t),
        [
            "self",
            "operation-Prepare",
            "operation-Remove",
            "Storage",
            "Networking",
            "Schedule",
            "TargetSettings",
            "ReplicationSettings",
            "ValidationResults",
            "source",
            "operations",
        ]
    );
    let expect = |rel: &str, href: &str, methods: Value| {
        let l = link(&t, rel);
        assert_eq!(l["href"], href, "{rel}");
        assert_eq!(l["methods"], methods, "{rel}");
    };
    expect("self", &href, json!(["GET"]));
    expect(
        "operation-Prepare",
        &format!("{href}?operation=Prepare"),
        json!(["POST"]),
    );
    expect("operation-Remove", &href, json!(["DEL"]));
    expect("Storage", &format!("{href}/storage"), json!(["GET", "PUT"]));
    expect(
        "Networking",
        &format!("{href}/networking"),
        json!(["GET", "PUT"]),
    );
    expect(
        "Schedule",
        &format!("{href}/schedule"),
        json!(["GET", "PUT"]),
    );
    expect(
        "TargetSettings",
        &format!("{href}/targetSettings"),
        json!(["GET", "PUT"]),
    );
    expect(
        "ReplicationSettings",
        &format!("{href}/replicationSettings"),
        json!(["GET", "PUT"]),
    );
    expect(
        "ValidationResults",
        &format!("{href}/validationResults"),
        json!(["GET"]),
    );
    expect(
        "source",
        &format!("{}/sources/{src}", base()),
        json!(["GET"]),
    );

    // Once an operation has run: lastOperation, right after self.
    let prepare = c.run(&id, "Prepare").await;
    c.run(&id, "Migrate").await;
    let t = c.ok("GET", &format!("/transformations/{id}"), None).await;
    assert_eq!(&rels(&t)[..2], ["self", "lastOperation"]);
    let last = link(&t, "lastOperation");
    assert_eq!(last["methods"], json!(["GET"]));
    assert!(
        last["href"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/operations/", base()))
    );
    assert_ne!(
        last["href"],
        prepare.as_str(),
        "the latest operation, the replication"
    );
    let ops: Vec<&str> = rels(&t)
        .into_iter()
        .filter(|r| r.starts_with("operation-"))
        .collect();
    assert_eq!(
        ops,
        [
            "operation-Migrate",
            "operation-TestCutover",
            "operation-Cutover",
            "operation-Remove"
        ]
    );
}

#[tokio::test]
async fn display_name_and_tags_may_be_given_and_bad_members_are_named() {
    let c = Ctx::new().await;
    let src = c.source().await;
    for (body, code, member) in [
        (
            json!({"sourceId": src, "platformId": "not-a-guid"}),
            "InvalidId",
            "platformId",
        ),
        (
            json!({"sourceId": src, "storageLayout": "thin"}),
            "InvalidBody",
            "storageLayout",
        ),
        (
            json!({"sourceId": src, "displayName": " "}),
            "InvalidField",
            "displayName",
        ),
        (
            json!({"sourceId": src, "tags": ["ok", ""]}),
            "InvalidField",
            "tags[1]",
        ),
        (
            json!({"sourceId": src, "tags": "one"}),
            "InvalidBody",
            "tags",
        ),
    ] {
        let reply = c.call("POST", "/transformations", Some(body.clone())).await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(reply.error_code(), code, "{body}");
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(member), "{body}: {message}");
    }
    // Nothing was half-written: the workload has no transformation yet.
    let list = c
        .ok("GET", &format!("/transformations?sourceId={src}"), None)
        .await;
    assert_eq!(list["totalCount"], 0);

    let t = c
        .ok(
            "POST",
            "/transformations",
            Some(json!({"sourceId": src, "platformId": null, "displayName": "Payroll DB", "tags": ["wave-1", "finance"]})),
        )
        .await;
    assert_eq!(t["displayName"], "Payroll DB");
    assert_eq!(t["tags"], json!(["wave-1", "finance"]));
    assert_eq!(t["platformId"], Value::Null);
}

#[tokio::test]
async fn each_group_has_defaults_from_the_workload() {
    let c = Ctx::new().await;
    let src = c.source().await;
    let t = c.transformation(&src).await;
    let href = format!("{}/transformations/{t}", base());
    let group = async |path: &str| {
        c.ok("GET", &format!("/transformations/{t}/{path}"), None)
            .await
    };

    let self_link = |path: &str, methods: Value| json!([{"href": format!("{href}/{path}"), "rel": "self", "methods": methods}]);
    assert_eq!(
        group("storage").await,
        json!({"storageLayout": "sameAsSource", "links": self_link("storage", json!(["GET", "PUT"]))})
    );
    assert_eq!(
        group("networking").await,
        json!({
            "hostName": "SB-W2012-R2-STD",
            "nics": [{"sourceIpAddress": "10.0.0.5", "dhcp": true, "ipAddress": null, "subnetMask": null, "gateway": null, "dnsServers": []}],
            "links": self_link("networking", json!(["GET", "PUT"])),
        })
    );
    assert_eq!(
        group("schedule").await,
        json!({
            "state": "Active", "fullReplicationStart": null, "incrementalRecurrence": "None",
            "incrementalStart": null, "nextReplication": null,
            "links": self_link("schedule", json!(["GET", "PUT"])),
        })
    );
    assert_eq!(
        group("targetSettings").await,
        json!({"vmName": "SB-W2012-R2-STD", "cpuCount": null, "memoryMb": null, "links": self_link("targetSettings", json!(["GET", "PUT"]))})
    );
    assert_eq!(
        group("replicationSettings").await,
        json!({
            "encryptDataTransfer": false, "compressionLevel": "None", "bandwidthThrottlingMbps": null,
            "links": self_link("replicationSettings", json!(["GET", "PUT"])),
        })
    );
    let v = group("validationResults").await;
    assert_eq!(v["links"], self_link("validationResults", json!(["GET"])));
    assert_eq!(v["canPrepare"], true);
    let codes: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["NoTargetPlatform", "DriverWillBeInstalled"]);
    let install = &v["results"][1];
    assert_eq!(install["severity"], "Warning");
    assert!(
        install["message"]
            .as_str()
            .unwrap()
            .contains("Prepare installs the server's latest for windows-x64"),
        "{install}"
    );

    // A driver installed but not loaded: the reboot shows; offline, Prepare may not run.
    c.ok(
        "PUT",
        &format!("/sources/{src}/driverState"),
        Some(json!({"installedVersion": "8.0.0.11", "runningVersion": null, "controllerService": "installed"})),
    )
    .await;
    let v = group("validationResults").await;
    let results: Vec<(&str, &str)> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["severity"].as_str().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            ("Error", "ControllerNotRunning"),
            ("Warning", "NoTargetPlatform"),
            ("Warning", "RebootRequired"),
        ]
    );
    assert_eq!(v["canPrepare"], false);
}

#[tokio::test]
async fn put_changes_the_members_given_and_answers_the_group_as_stored() {
    let c = Ctx::new().await;
    let src = c.source().await;
    let t = c.transformation(&src).await;
    let path = |group: &str| format!("/transformations/{t}/{group}");
    let cases = [
        (
            "networking",
            json!({"hostName": "SB-TGT", "nics": [{"dhcp": "false", "ipAddress": "10.0.1.5", "subnetMask": "255.255.255.0", "gateway": "10.0.1.1", "dnsServers": ["10.0.1.2"]}]}),
            json!({"hostName": "SB-TGT", "nics": [{"sourceIpAddress": "10.0.0.5", "dhcp": false, "ipAddress": "10.0.1.5", "subnetMask": "255.255.255.0", "gateway": "10.0.1.1", "dnsServers": ["10.0.1.2"]}]}),
        ),
        (
            "targetSettings",
            json!({"cpuCount": 4}),
            json!({"vmName": "SB-W2012-R2-STD", "cpuCount": 4, "memoryMb": null}),
        ),
        (
            "targetSettings",
            json!({"vmName": "sb-target", "memoryMb": 8192}),
            json!({"vmName": "sb-target", "cpuCount": 4, "memoryMb": 8192}),
        ),
        (
            "replicationSettings",
            json!({"encryptDataTransfer": "true", "bandwidthThrottlingMbps": 100}),
            json!({"encryptDataTransfer": true, "compressionLevel": "None", "bandwidthThrottlingMbps": 100}),
        ),
        (
            "replicationSettings",
            json!({"compressionLevel": "Optimal", "bandwidthThrottlingMbps": null}),
            json!({"encryptDataTransfer": true, "compressionLevel": "Optimal", "bandwidthThrottlingMbps": null}),
        ),
        (
            "schedule",
            json!({"fullReplicationStart": "2030-01-01T00:00:00Z", "incrementalRecurrence": "Daily", "incrementalStart": "2030-01-02T03:00:00+01:00"}),
            json!({"state": "Active", "fullReplicationStart": "2030-01-01T00:00:00Z", "incrementalRecurrence": "Daily", "incrementalStart": "2030-01-02T02:00:00Z", "nextReplication": null}),
        ),
        (
            "storage",
            json!({}),
            json!({"storageLayout": "sameAsSource"}),
        ),
    ];
    for (group, body, expected) in cases {
        let mut answer = c.ok("PUT", &path(group), Some(body.clone())).await;
        let again = c.ok("GET", &path(group), None).await;
        assert_eq!(answer, again, "{group}: the PUT answers what a GET reads");
        answer.as_object_mut().unwrap().remove("links");
        assert_eq!(answer, expected, "{group} after {body}");
        // What was read, sent back as it is (links and read-only members included), changes
        // nothing.
        let back = c.ok("PUT", &path(group), Some(again.clone())).await;
        assert_eq!(back, again, "{group}: a round trip");
    }
    // Each change is an event on the workload.
    let events = c.ok("GET", &format!("/events?sourceId={src}"), None).await;
    let messages: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.contains(&"Networking settings of SB-W2012-R2-STD changed by administrator"),
        "{messages:?}"
    );
}

#[tokio::test]
async fn bad_puts_are_refused_naming_the_member() {
    let c = Ctx::new().await;
    let src = c.source().await;
    let t = c.transformation(&src).await;
    let cases = [
        (
            "storage",
            json!({"storageLayout": "custom"}),
            "storageLayout",
        ),
        ("networking", json!({"hostName": ""}), "hostName"),
        ("networking", json!({"nics": []}), "nics"),
        (
            "networking",
            json!({"nics": [{"dhcp": false, "ipAddress": "10.0.1.5", "subnetMask": "255.255.255.0", "gateway": "192.168.0.1"}]}),
            "nics[0].gateway",
        ),
        (
            "networking",
            json!({"nics": [{"dhcp": "maybe"}]}),
            "nics[0].dhcp",
        ),
        ("schedule", json!({"state": "Stopped"}), "state"),
        (
            "schedule",
            json!({"fullReplicationStart": "01/03/2030"}),
            "fullReplicationStart",
        ),
        (
            "schedule",
            json!({"incrementalRecurrence": "Weekly"}),
            "incrementalStart",
        ),
        ("targetSettings", json!({"cpuCount": 0}), "cpuCount"),
        ("targetSettings", json!({"cpuCount": "four"}), "cpuCount"),
        ("targetSettings", json!({"memoryMb": -1}), "memoryMb"),
        (
            "replicationSettings",
            json!({"compressionLevel": "Extreme"}),
            "compressionLevel",
        ),
        (
            "replicationSettings",
            json!({"bandwidthThrottlingMbps": 0}),
            "bandwidthThrottlingMbps",
        ),
    ];
    for (group, body, member) in cases {
        let path = format!("/transformations/{t}/{group}");
        let before = c.ok("GET", &path, None).await;
        let reply = c.call("PUT", &path, Some(body.clone())).await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(member), "{group} {body}: {message}");
        assert_eq!(c.ok("GET", &path, None).await, before, "nothing changed");
    }
    // Not JSON, no such transformation, a bad id.
    let reply = send(
        &c.app,
        admin("PUT", &format!("{API}/transformations/{t}/storage"))
            .header("content-type", "application/json")
            .body(Body::from("{"))
            .unwrap(),
    )
    .await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "MalformedJson");
    let nobody = "00000000-0000-4000-8000-000000000000";
    for (method, body) in [("GET", None), ("PUT", Some(json!({})))] {
        c.call(
            method,
            &format!("/transformations/{nobody}/schedule"),
            body.clone(),
        )
        .await
        .assert_status(StatusCode::NOT_FOUND);
        c.call(method, "/transformations/nope/schedule", body)
            .await
            .assert_status(StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn validation_results_are_read_only() {
    let c = Ctx::new().await;
    let src = c.source().await;
    let t = c.transformation(&src).await;
    let reply = c
        .call(
            "PUT",
            &format!("/transformations/{t}/validationResults"),
            Some(json!({"results": []})),
        )
        .await;
    reply.assert_status(StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.error_code(), "MethodNotAllowed");
}

#[tokio::test]
async fn settings_do_not_change_while_an_operation_runs_or_after_cutover() {
    let c = Ctx::new().await;
    let src = c.source().await;
    let t = c.transformation(&src).await;
    // Operations complete only when polled many times: Prepare stays running.
    c.state
        .update_settings(|s| s.transition = Transition::AfterPolls { polls: 1000 });
    c.start(&t, "Prepare").await;
    let view = c.ok("GET", &format!("/transformations/{t}"), None).await;
    assert!(rels(&view).contains(&"operation-Abort"));
    assert!(
        !rels(&view).contains(&"operation-Remove"),
        "not offered while an operation runs"
    );
    for group in [
        "storage",
        "networking",
        "schedule",
        "targetSettings",
        "replicationSettings",
    ] {
        let reply = c
            .call(
                "PUT",
                &format!("/transformations/{t}/{group}"),
                Some(json!({})),
            )
            .await;
        reply.assert_status(StatusCode::CONFLICT);
        assert_eq!(reply.error_code(), "OperationRunning", "{group}");
        assert!(
            reply.text().contains("Prepare operation is running"),
            "{group}"
        );
        // Reading is fine.
        c.ok("GET", &format!("/transformations/{t}/{group}"), None)
            .await;
    }
    c.call("DELETE", &format!("/transformations/{t}"), None)
        .await
        .assert_status(StatusCode::CONFLICT);

    c.state
        .update_settings(|s| s.transition = Transition::Steps);
    let abort = c.start(&t, "Abort").await;
    assert_eq!(c.wait(&abort).await["status"], "aborted");
    for op in ["Prepare", "Migrate", "Cutover"] {
        c.run(&t, op).await;
    }
    let reply = c
        .call(
            "PUT",
            &format!("/transformations/{t}/schedule"),
            Some(json!({"state": "Paused"})),
        )
        .await;
    reply.assert_status(StatusCode::CONFLICT);
    assert_eq!(reply.error_code(), "TransformationCutOver");
}

#[tokio::test]
async fn the_schedule_pauses_and_says_when_the_next_replication_runs() {
    let c = Ctx::new().await;
    let src = c.source().await;
    let t = c.transformation(&src).await;
    let path = format!("/transformations/{t}/schedule");
    let start = "2999-01-01T00:00:00Z";
    let s = c
        .ok("PUT", &path, Some(json!({"fullReplicationStart": start})))
        .await;
    assert_eq!(s["nextReplication"], Value::Null, "not prepared yet");
    let v = c
        .ok(
            "GET",
            &format!("/transformations/{t}/validationResults"),
            None,
        )
        .await;
    assert!(v.to_string().contains("ScheduleWaitsForPrepare"), "{v}");
    c.run(&t, "Prepare").await;
    assert_eq!(c.ok("GET", &path, None).await["nextReplication"], start);

    // Pause Schedule: nothing scheduled runs, and the event says so.
    let paused = c.ok("PUT", &path, Some(json!({"state": "Paused"}))).await;
    assert_eq!(paused["state"], "Paused");
    assert_eq!(paused["nextReplication"], Value::Null);
    assert_eq!(paused["fullReplicationStart"], start, "kept");
    let events = c
        .ok("GET", &format!("/events?sourceId={src}&limit=1"), None)
        .await;
    assert_eq!(
        events["events"][0]["message"],
        "Schedule of SB-W2012-R2-STD paused by administrator"
    );
    let resumed = c.ok("PUT", &path, Some(json!({"state": "Active"}))).await;
    assert_eq!(resumed["nextReplication"], start);
}

// https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-get-transformation-info.html
// operation-Remove is the transformation's own URL; HTTP DELETE on it removes the
// transformation, with its settings.
#[tokio::test]
async fn the_remove_link_removes_the_transformation_and_its_settings() {
    let c = Ctx::new().await;
    let src = c.source().await;
    let t = c.transformation(&src).await;
    c.ok(
        "PUT",
        &format!("/transformations/{t}/targetSettings"),
        Some(json!({"cpuCount": 2})),
    )
    .await;
    let db = own_connection(&c.state).await;
    let stored = async || -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM transformation_settings")
            .fetch_one(&db)
            .await
            .unwrap()
    };
    assert_eq!(stored().await, 1);

    let view = c.ok("GET", &format!("/transformations/{t}"), None).await;
    let remove = link(&view, "operation-Remove");
    assert_eq!(remove["methods"], json!(["DEL"]));
    let reply = c
        .call("DELETE", remove["href"].as_str().unwrap(), None)
        .await;
    reply.assert_status(StatusCode::NO_CONTENT);
    c.call("GET", &format!("/transformations/{t}"), None)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    c.call("GET", &format!("/transformations/{t}/targetSettings"), None)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    assert_eq!(stored().await, 0);

    // A new transformation for the workload starts from the defaults again.
    let again = c.transformation(&src).await;
    let target = c
        .ok(
            "GET",
            &format!("/transformations/{again}/targetSettings"),
            None,
        )
        .await;
    assert_eq!(target["cpuCount"], Value::Null);

    // A reset clears them too.
    c.app
        .call("POST", "/_emu/state/reset?scope=sources", None)
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(stored().await, 0);
}

#[tokio::test]
async fn the_workloads_page_shows_the_schedule() {
    let c = Ctx::new().await;
    let src = c.source().await;
    let t = c.transformation(&src).await;
    let row = async || -> (String, String) {
        let html = c.app.get_as("/migrate/workloads", ADMIN).await.html();
        let cell = |css: &str| {
            let sel = scraper::Selector::parse(&format!("tr#workload-{src} {css}")).unwrap();
            html.select(&sel)
                .next()
                .unwrap()
                .text()
                .collect::<String>()
                .trim()
                .to_owned()
        };
        (
            cell("td[data-label=Schedule]"),
            cell("td[data-label='Next Replication']"),
        )
    };
    assert_eq!(row().await, ("None".into(), "None".into()), "not prepared");
    c.ok(
        "PUT",
        &format!("/transformations/{t}/schedule"),
        Some(json!({"fullReplicationStart": "2999-01-01T00:00:00Z"})),
    )
    .await;
    c.run(&t, "Prepare").await;
    assert_eq!(
        row().await,
        ("Active".into(), "2999-01-01 00:00:00 UTC".into())
    );
    c.ok(
        "PUT",
        &format!("/transformations/{t}/schedule"),
        Some(json!({"state": "Paused"})),
    )
    .await;
    assert_eq!(row().await, ("Paused".into(), "None".into()));
}

/// A transformation without stored settings (made before they existed, or by the seed file) has
/// its defaults from the workload; a change stores them all.
#[tokio::test]
async fn a_transformation_without_stored_settings_has_its_defaults() {
    let c = Ctx::new().await;
    let src = c.source().await;
    let t = c.transformation(&src).await;
    let db = own_connection(&c.state).await;
    sqlx::query("DELETE FROM transformation_settings")
        .execute(&db)
        .await
        .unwrap();
    let networking = c
        .ok("GET", &format!("/transformations/{t}/networking"), None)
        .await;
    assert_eq!(networking["hostName"], "SB-W2012-R2-STD");
    assert_eq!(networking["nics"][0]["sourceIpAddress"], "10.0.0.5");
    let changed = c
        .ok(
            "PUT",
            &format!("/transformations/{t}/replicationSettings"),
            Some(json!({"encryptDataTransfer": true})),
        )
        .await;
    assert_eq!(changed["encryptDataTransfer"], true);
    let stored: (String, String) = sqlx::query_as(
        "SELECT networking, replication_settings FROM transformation_settings WHERE transformation_id = ?",
    )
    .bind(&t)
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(stored.0.contains("SB-W2012-R2-STD"), "{stored:?}");
    assert!(
        stored.1.contains("\"encryptDataTransfer\":true"),
        "{stored:?}"
    );
}
