//! Target platforms (`/platforms`, SPEC 9) and their PreDiscovery operation, driven through the
//! router as a script written from the product's documented walkthrough would drive them.

use crate::common;

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use common::{ADMIN, API, AppExt, admin, basic, json_body, send, test_app, test_app_with};
use psserver::config::ReplicationSpeed;
use serde_json::{Value, json};

/// The documented request of "Step 1: Add an Azure Platform", verbatim.
/// https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-add-azure-platform.html
/// https://microfocus.com/documentation/platespin/platespin-migrate-2020-2/migrate-api/api-ex-add-azure-platform.html
fn documented_body() -> Value {
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

const PASSWORD: &str = "Azure password goes here";
const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";

/// A GUID as the product writes them: 8-4-4-4-12 lower-case hex digits.
fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && text
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// POST the documented body; answers (platform href, operation href) from the 202.
async fn add(app: &psserver::App) -> (String, String) {
    let reply = app
        .post_json(&format!("{API}/platforms"), documented_body())
        .await;
    reply.assert_status(StatusCode::ACCEPTED);
    let body = reply.json();
    (
        body["resource"]["href"].as_str().unwrap().to_owned(),
        body["operation"]["href"].as_str().unwrap().to_owned(),
    )
}

fn id_of(href: &str) -> &str {
    href.rsplit('/').next().unwrap()
}

/// Poll an operation until it has ended.
async fn wait(app: &psserver::App, href: &str) -> Value {
    for _ in 0..500 {
        let op = app.get_json(href).await;
        if !matches!(op["status"].as_str(), Some("queued" | "running")) {
            return op;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{href} never ended");
}

/// Wait until the discovery's runner has started it, reading the database (a poll of the
/// operation would count towards an after-N-polls transition).
async fn wait_running(state: &psserver::AppState, op_id: &str) {
    let id = op_id.parse().unwrap();
    for _ in 0..500 {
        let mut r = state.db.reader().await.unwrap();
        let op = psserver::db::platforms::find_operation(&mut r, id)
            .await
            .unwrap();
        if op.status.as_str() == "running" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{op_id} never started");
}

fn rels(view: &Value) -> Vec<(String, Value, String)> {
    view["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["rel"].as_str().unwrap().to_owned(),
                l["methods"].clone(),
                l["href"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

// The documented answer to the POST: asynchronous, with absolute links to the operation (rel
// `self`) and to the new platform (rel `resource`).
// https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-add-azure-platform.html
#[tokio::test]
async fn the_documented_request_verbatim_is_accepted_in_the_documented_shape() {
    let (app, _, _dir) = test_app().await;
    for base in [API, common::API_ALIAS] {
        let request = admin("POST", &format!("{base}/platforms"))
            .header("host", "10.10.10.143")
            .header("content-type", "application/json")
            .body(json_body(documented_body()))
            .unwrap();
        let reply = send(&app, request).await;
        reply.assert_status(StatusCode::ACCEPTED);
        let body = reply.json();
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["completedSynchronously", "operation", "resource"],
            "{body}"
        );
        assert_eq!(body["completedSynchronously"], false);
        let origin = format!("http://10.10.10.143{base}");
        let op = &body["operation"];
        assert_eq!(op["rel"], "self");
        assert_eq!(op["methods"], json!(["GET"]));
        let op_href = op["href"].as_str().unwrap();
        let op_id = op_href
            .strip_prefix(&format!("{origin}/operations/"))
            .unwrap_or_else(|| panic!("{op_href}"));
        assert!(is_guid(op_id), "{op_id}");
        let resource = &body["resource"];
        assert_eq!(resource["rel"], "resource");
        assert_eq!(resource["methods"], json!(["GET"]));
        let href = resource["href"].as_str().unwrap();
        let platform_id = href
            .strip_prefix(&format!("{origin}/platforms/"))
            .unwrap_or_else(|| panic!("{href}"));
        assert!(is_guid(platform_id), "{platform_id}");
        assert_eq!(reply.header("location"), Some(op_href));
    }
}

// The documented poll while the discovery runs: top-level `status` "running", `operationType`
// "PreDiscovery", and `subOperations` nesting `Operations.Cloud.DiscoverRegion` inside
// `DiscoveringWorkloadTarget`, each with `name` and `progress`. The final status is not shown in
// the docs: the API's own `succeeded` ends it.
// https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-add-azure-platform.html
#[tokio::test]
async fn polling_shows_a_running_prediscovery_with_nested_sub_operations_then_success() {
    let (app, state, _dir) = test_app().await;
    app.call(
        "PUT",
        "/_emu/settings",
        Some(json!({"transition": {"mode": "afterPolls", "polls": 2}})),
    )
    .await
    .assert_status(StatusCode::OK);
    let (platform, op_href) = add(&app).await;
    wait_running(&state, id_of(&op_href)).await;

    let op = app.get_json(&op_href).await;
    assert_eq!(op["status"], "running", "{op}");
    assert_eq!(op["operationType"], "PreDiscovery");
    assert_eq!(op["id"], id_of(&op_href));
    assert_eq!(op["platformId"], id_of(&platform));
    let target = &op["subOperations"][0];
    assert_eq!(target["name"], "DiscoveringWorkloadTarget");
    assert!(target["progress"].is_u64());
    assert_eq!(op["subOperations"].as_array().unwrap().len(), 1);
    let region = &target["subOperations"][0];
    assert_eq!(region["name"], "Operations.Cloud.DiscoverRegion");
    assert!(region["progress"].is_u64());
    assert_eq!(region["status"], "running");
    let steps: Vec<&str> = target["subOperations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "Operations.Cloud.DiscoverRegion",
            "Operations.Cloud.DiscoverNetworks",
            "Operations.Cloud.DiscoverStorage"
        ]
    );
    assert!(op["progress"].as_u64().unwrap() < 100);
    assert_eq!(op["error"], Value::Null);
    let links = rels(&op);
    assert_eq!(links[0].0, "self");
    assert_eq!(links[0].2, op_href);
    assert_eq!(links[1].0, "resource");
    assert_eq!(links[1].2, platform);
    assert_eq!(app.get_json(&platform).await["currentState"], "Discovering");

    let done = app.get_json(&op_href).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["progress"], 100);
    assert_eq!(done["subOperations"][0]["status"], "succeeded");
    assert_eq!(done["subOperations"][0]["progress"], 100);
    for step in done["subOperations"][0]["subOperations"]
        .as_array()
        .unwrap()
    {
        assert_eq!(step["status"], "succeeded");
        assert_eq!(step["progress"], 100);
    }
    assert!(done["completedAt"].is_string());
    assert_eq!(app.get_json(&platform).await["currentState"], "Discovered");
}

#[tokio::test]
async fn a_discovered_platform_is_listed_and_readable_without_its_password() {
    let (app, _, _dir) = test_app().await;
    let (platform, op_href) = add(&app).await;
    let op = wait(&app, &op_href).await;
    assert_eq!(op["status"], "succeeded", "{op}");
    assert_eq!(op["title"], "Discovery of platform Azure centralus");

    let view = app.get_json(&platform).await;
    let id = id_of(&platform);
    assert_eq!(view["id"], id);
    assert_eq!(view["displayName"], "Azure centralus");
    assert_eq!(view["type"], "AzureCloud");
    assert_eq!(view["azureCloudName"], "AzureCloud");
    assert_eq!(view["locationName"], "centralus");
    assert_eq!(view["subscriptionId"], "Subscription id goes here");
    assert_eq!(view["applicationId"], "Application id goes here");
    assert_eq!(view["username"], "username@accountname.onmicrosoft.com");
    assert_eq!(view["currentState"], "Discovered");
    assert!(view.get("password").is_none());
    assert_eq!(
        rels(&view),
        [
            ("self".to_owned(), json!(["GET"]), platform.clone()),
            ("lastOperation".to_owned(), json!(["GET"]), op_href.clone()),
            (
                "operation-Remove".to_owned(),
                json!(["DEL"]),
                platform.clone()
            ),
        ]
    );

    let list = app.get_json(&format!("{API}/platforms")).await;
    assert_eq!(list["totalCount"], 1);
    assert_eq!(list["platforms"][0], view);
    assert_eq!(
        list["links"][0]["href"],
        format!("{API}/platforms?offset=0&limit=50")
    );

    // The password is nowhere: not in the platform, the list, the operation or the events.
    for uri in [
        platform.clone(),
        format!("{API}/platforms"),
        op_href.clone(),
        format!("{API}/events"),
    ] {
        let text = app.get_as(&uri, ADMIN).await.text();
        assert!(!text.contains(PASSWORD), "{uri}: {text}");
    }
    let events = app.get_json(&format!("{API}/events")).await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"PlatformAdded"), "{kinds:?}");
    assert!(kinds.contains(&"OperationCompleted"), "{kinds:?}");

    // Reading needs credentials.
    assert_eq!(app.get(&platform).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get(&format!("{API}/platforms")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn bad_bodies_get_a_clear_400_naming_the_member_and_write_nothing() {
    let (app, _, _dir) = test_app().await;
    let uri = format!("{API}/platforms");
    let members = [
        "type",
        "username",
        "password",
        "azureCloudName",
        "locationName",
        "subscriptionId",
        "applicationId",
    ];
    for member in members {
        let mut body = documented_body();
        body.as_object_mut().unwrap().remove(member);
        let reply = app.post_json(&uri, body).await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(reply.error_code(), "MissingField");
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            message.starts_with(&format!("{member}: is required")),
            "{message}"
        );

        for wrong in [json!(42), json!(true), json!({"a": 1}), json!(["x"])] {
            let mut body = documented_body();
            body[member] = wrong.clone();
            let reply = app.post_json(&uri, body).await;
            reply.assert_status(StatusCode::BAD_REQUEST);
            assert_eq!(reply.error_code(), "InvalidField", "{member} {wrong}");
            let message = reply.json()["error"]["message"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                message.starts_with(&format!("{member}: must be a string")),
                "{message}"
            );
        }
    }

    let mut body = documented_body();
    body["type"] = json!("AddPlatformVMware");
    let reply = app.post_json(&uri, body).await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "UnsupportedPlatformType");
    assert_eq!(
        reply.json()["error"]["message"],
        "type: unknown platform type \"AddPlatformVMware\"; supported: AddPlatformAzureCloud"
    );

    for (member, value, code) in [
        ("azureCloudName", json!("AzureMoon"), "InvalidField"),
        ("locationName", json!("central-us"), "InvalidField"),
        ("username", json!(""), "InvalidField"),
        ("password", json!(""), "InvalidField"),
        ("subscriptionId", json!("x".repeat(129)), "InvalidField"),
    ] {
        let mut body = documented_body();
        body[member] = value;
        let reply = app.post_json(&uri, body).await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(reply.error_code(), code, "{member}");
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.starts_with(&format!("{member}: ")), "{message}");
        assert!(!message.contains(PASSWORD));
    }

    // Not JSON, or not an object.
    let reply = send(
        &app,
        admin("POST", &uri).body(Body::from("{\"type\":")).unwrap(),
    )
    .await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "MalformedJson");
    for body in [json!([1]), json!("AddPlatformAzureCloud"), json!(null)] {
        let reply = app.post_json(&uri, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
    }

    // Nothing half-written.
    let list = app.get_json(&uri).await;
    assert_eq!(list["totalCount"], 0);
    assert_eq!(list["platforms"], json!([]));
}

#[tokio::test]
async fn unknown_and_malformed_ids() {
    let (app, _, _dir) = test_app().await;
    for (method, uri) in [
        ("GET", format!("{API}/platforms/{UNKNOWN}")),
        ("DELETE", format!("{API}/platforms/{UNKNOWN}")),
        ("GET", format!("{API}/operations/{UNKNOWN}")),
    ] {
        let reply = app.call(method, &uri, None).await;
        reply.assert_status(StatusCode::NOT_FOUND);
        assert_eq!(reply.error_code(), "NotFound");
    }
    for method in ["GET", "DELETE"] {
        let reply = app
            .call(method, &format!("{API}/platforms/not-an-id"), None)
            .await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(reply.error_code(), "InvalidId");
    }
}

#[tokio::test]
async fn a_platform_is_removed_by_an_administrator_once_discovered() {
    let (app, state, _dir) = test_app_with(|c| c.operator_password = Some("op-pass".into())).await;
    app.call(
        "PUT",
        "/_emu/settings",
        Some(json!({"transition": {"mode": "afterPolls", "polls": 1}})),
    )
    .await
    .assert_status(StatusCode::OK);
    let (platform, op_href) = add(&app).await;
    wait_running(&state, id_of(&op_href)).await;

    // Not while it is being discovered.
    let reply = app.call("DELETE", &platform, None).await;
    reply.assert_status(StatusCode::CONFLICT);
    assert_eq!(reply.error_code(), "OperationRunning");
    assert_eq!(app.get_json(&op_href).await["status"], "succeeded");

    // Not by an operator.
    let reply = send(
        &app,
        axum::http::Request::delete(&platform)
            .header("authorization", basic("operator", "op-pass"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    reply.assert_status(StatusCode::FORBIDDEN);

    app.call("DELETE", &platform, None)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.get_as(&platform, ADMIN)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    app.get_as(&op_href, ADMIN)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    assert_eq!(
        app.get_json(&format!("{API}/platforms")).await["totalCount"],
        0
    );
    app.call("DELETE", &platform, None)
        .await
        .assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_reset_clears_platforms_and_a_sources_reset_keeps_them() {
    let (app, _, _dir) = test_app().await;
    let (platform, op_href) = add(&app).await;
    wait(&app, &op_href).await;
    app.call("POST", "/_emu/state/reset?scope=sources", None)
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(app.get_json(&platform).await["currentState"], "Discovered");

    // An operations reset takes the discovery's record, not the platform.
    app.call("POST", "/_emu/state/reset?scope=operations", None)
        .await
        .assert_status(StatusCode::OK);
    let view = app.get_json(&platform).await;
    assert_eq!(view["currentState"], "Discovered");
    assert!(!rels(&view).iter().any(|(rel, ..)| rel == "lastOperation"));
    app.get_as(&op_href, ADMIN)
        .await
        .assert_status(StatusCode::NOT_FOUND);

    app.call("POST", "/_emu/state/reset", None)
        .await
        .assert_status(StatusCode::OK);
    let list = app.get_json(&format!("{API}/platforms")).await;
    assert_eq!(list["totalCount"], 0);
    app.get_as(&platform, ADMIN)
        .await
        .assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_reset_during_a_discovery_leaves_no_discovery_running() {
    let (app, _, _dir) = test_app_with(|c| c.replication_speed = ReplicationSpeed::Normal).await;
    let (platform, op_href) = add(&app).await;
    app.call("POST", "/_emu/state/reset?scope=operations", None)
        .await
        .assert_status(StatusCode::OK);
    app.get_as(&op_href, ADMIN)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    // Cut short, not discovering forever.
    assert_eq!(
        app.get_json(&platform).await["currentState"],
        "DiscoveryFailed"
    );
}

#[tokio::test]
async fn a_discovery_cut_short_by_a_shutdown_or_a_restart_fails_with_a_clear_error() {
    // A shutdown while it runs.
    let (app, state, _dir) =
        test_app_with(|c| c.replication_speed = ReplicationSpeed::Normal).await;
    let (platform, op_href) = add(&app).await;
    wait_running(&state, id_of(&op_href)).await;
    state.shutdown.cancel();
    let op = wait(&app, &op_href).await;
    assert_eq!(op["status"], "failed", "{op}");
    assert!(op["error"].as_str().unwrap().contains("shut down"), "{op}");
    assert_eq!(op["subOperations"][0]["status"], "failed");
    assert_eq!(
        app.get_json(&platform).await["currentState"],
        "DiscoveryFailed"
    );

    // A restart finds it running (its runner waits for polls): the recovery fails it.
    let (app, state, _dir) = test_app().await;
    app.call(
        "PUT",
        "/_emu/settings",
        Some(json!({"transition": {"mode": "afterPolls", "polls": 5}})),
    )
    .await;
    let (platform, op_href) = add(&app).await;
    wait_running(&state, id_of(&op_href)).await;
    let failed = psserver::service::operations::recover(&state)
        .await
        .unwrap();
    assert_eq!(failed, 1);
    let op = app.get_json(&op_href).await;
    assert_eq!(op["status"], "failed");
    assert!(op["error"].as_str().unwrap().contains("restarted"), "{op}");
    assert_eq!(
        app.get_json(&platform).await["currentState"],
        "DiscoveryFailed"
    );
    // A failed discovery's platform can be removed.
    app.call("DELETE", &platform, None)
        .await
        .assert_status(StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_root_links_target_platforms_and_the_driver_platforms_moved_under_driver_packages() {
    let (app, _, _dir) = test_app().await;
    let root = app.get_json(API).await;
    let links = rels(&root);
    let find = |rel: &str| {
        links
            .iter()
            .find(|(r, ..)| r == rel)
            .unwrap_or_else(|| panic!("{rel} in {links:?}"))
            .clone()
    };
    assert_eq!(
        find("platforms"),
        (
            "platforms".to_owned(),
            json!(["GET", "POST"]),
            format!("{API}/platforms")
        )
    );
    assert_eq!(
        find("driverPackagePlatforms").2,
        format!("{API}/driverPackages/platforms")
    );

    // The OS platforms of the driver packages, as before, at their new place.
    let drivers = app
        .get(&format!("{API}/driverPackages/platforms"))
        .await
        .assert_status(StatusCode::OK)
        .json();
    let names: Vec<&str> = drivers["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["windows-x64", "windows-x86", "linux-x64"]);
    // `/platforms` means target platforms now.
    let targets = app.get_json(&format!("{API}/platforms")).await;
    assert_eq!(targets["platforms"], json!([]));
}

/// A transformation names a platform the server knows; a platform a transformation migrates to
/// is not removed from under it.
#[tokio::test]
async fn transformations_name_known_platforms_and_keep_theirs() {
    let (app, _, _dir) = test_app().await;
    let (platform_href, op_href) = add(&app).await;
    wait(&app, &op_href).await;
    let platform = id_of(&platform_href).to_owned();
    let source = app
        .post_json(
            &format!("{API}/sources"),
            json!({"hostName": "SB-W2012-R2-STD", "osFamily": "windows", "ipAddress": "10.0.0.5"}),
        )
        .await
        .json();
    let source = source["id"].as_str().unwrap().to_owned();

    let reply = app
        .post_json(
            &format!("{API}/transformations"),
            json!({"platformId": UNKNOWN, "sourceId": source, "storageLayout": "sameAsSource"}),
        )
        .await;
    reply.assert_status(StatusCode::NOT_FOUND);
    assert!(reply.text().contains(UNKNOWN), "{}", reply.text());

    let t = app
        .post_json(
            &format!("{API}/transformations"),
            json!({"platformId": platform, "sourceId": source, "storageLayout": "sameAsSource"}),
        )
        .await;
    t.assert_status(StatusCode::CREATED);
    let reply = app.call("DELETE", &platform_href, None).await;
    reply.assert_status(StatusCode::CONFLICT);
    assert_eq!(reply.error_code(), "PlatformInUse");
    app.call("GET", &platform_href, None)
        .await
        .assert_status(StatusCode::OK);
    let t = t.json()["id"].as_str().unwrap().to_owned();
    app.call("DELETE", &format!("{API}/transformations/{t}"), None)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.call("DELETE", &platform_href, None)
        .await
        .assert_status(StatusCode::NO_CONTENT);
}
