//! Request bodies as the real server reads them (SPEC 9): members the emulator does not know are
//! ignored, as the product's ASP.NET service ignores them, and named in the journal;
//! `--strict-bodies` refuses them with a 400 that names the member.

use crate::common;

use axum::http::StatusCode;
use common::{API, AppExt, test_app, test_app_with};
use serde_json::{Value, json};

fn source_with_extra() -> Value {
    json!({
        "hostName": "web01", "osFamily": "windows", "ipAddress": "10.0.0.5",
        "description": "more than the emulator models", "credential": {"username": "x"}
    })
}

/// The journal's entry for the newest request to `path`.
async fn journal_entry(app: &psserver::App, method: &str, path: &str) -> Value {
    let journal = app.call("GET", "/_emu/requests", None).await.json();
    journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["method"] == method && e["path"] == path)
        .cloned()
        .unwrap_or_else(|| panic!("no {method} {path} in {journal}"))
}

#[tokio::test]
async fn unknown_members_are_ignored_and_journalled() {
    let (app, _, _dir) = test_app().await;
    let path = format!("{API}/sources");
    let reply = app.post_json(&path, source_with_extra()).await;
    reply.assert_status(StatusCode::CREATED);
    assert_eq!(reply.json()["hostName"], "web01");
    let entry = journal_entry(&app, "POST", &path).await;
    assert_eq!(
        entry["ignoredMembers"],
        json!(["credential", "description"]),
        "{entry}"
    );

    // A body fully understood names nothing.
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let report = format!("{API}/sources/{id}/driverState");
    app.call(
        "PUT",
        &report,
        Some(json!({"controllerService": "running"})),
    )
    .await
    .assert_status(StatusCode::OK);
    let entry = journal_entry(&app, "PUT", &report).await;
    assert!(entry.get("ignoredMembers").is_none(), "{entry}");
}

#[tokio::test]
async fn strict_bodies_refuse_unknown_members_by_name() {
    let (app, _, _dir) = test_app_with(|c| c.strict_bodies = true).await;
    let reply = app
        .post_json(&format!("{API}/sources"), source_with_extra())
        .await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "UnknownMember");
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("\"credential\""), "{message}");
    // Nothing was added.
    let list = app
        .call("GET", &format!("{API}/sources"), None)
        .await
        .json();
    assert_eq!(list["totalCount"], 0, "{list}");
    // A body without extras passes.
    let mut body = source_with_extra();
    body.as_object_mut().unwrap().remove("description");
    body.as_object_mut().unwrap().remove("credential");
    app.post_json(&format!("{API}/sources"), body)
        .await
        .assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn a_body_must_be_an_object() {
    let (app, _, _dir) = test_app().await;
    for body in [
        json!(["web01", "windows", "10.0.0.5"]),
        json!("web01"),
        json!(7),
    ] {
        let reply = app.post_json(&format!("{API}/sources"), body.clone()).await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(reply.error_code(), "InvalidBody", "{body}");
    }
}

/// An operation's options are read the same way: a member the emulator does not know is
/// ignored and journalled, or refused under `--strict-bodies`.
#[tokio::test]
async fn operation_options_follow_the_same_rule() {
    for strict in [false, true] {
        let (app, _, _dir) = test_app_with(|c| c.strict_bodies = strict).await;
        let source = app
            .post_json(
                &format!("{API}/sources"),
                json!({"hostName": "web01", "osFamily": "windows", "ipAddress": "10.0.0.5"}),
            )
            .await
            .json();
        let t = app
            .post_json(
                &format!("{API}/transformations"),
                json!({"sourceId": source["id"]}),
            )
            .await
            .json();
        let path = format!("{API}/transformations/{}", t["id"].as_str().unwrap());
        let reply = app
            .post_json(
                &format!("{path}?operation=Prepare"),
                json!({"type": "MigrateOptions", "migrationType": "full", "targetVmName": "web01-azure"}),
            )
            .await;
        if strict {
            reply.assert_status(StatusCode::BAD_REQUEST);
            assert_eq!(reply.error_code(), "UnknownMember");
            assert!(reply.text().contains("targetVmName"), "{}", reply.text());
        } else {
            reply.assert_status(StatusCode::ACCEPTED);
            let entry = journal_entry(&app, "POST", &path).await;
            assert_eq!(entry["ignoredMembers"], json!(["targetVmName"]), "{entry}");
        }
    }
}

/// An agent's report (answered before the router, its body read straight when it holds only
/// the members of its type) follows the same rule: a member the emulator does not know is
/// ignored and journalled, or refused under `--strict-bodies`; one of the wrong type is named.
#[tokio::test]
async fn an_agents_report_follows_the_same_rule() {
    for strict in [false, true] {
        let (app, _, _dir) = test_app_with(|c| c.strict_bodies = strict).await;
        let (id, token) = common::register_agent(&app, "bodies-report").await;
        let path = format!("{API}/sources/{id}/driverState");
        let put = |body: Value| {
            axum::http::Request::put(&path)
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(common::json_body(body))
                .unwrap()
        };
        let known = json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "running"});
        let reply = common::send(&app, put(known.clone())).await;
        reply.assert_status(StatusCode::OK);
        assert_eq!(reply.json()["driver"]["runningVersion"], "8.0.0.11");
        let entry = journal_entry(&app, "PUT", &path).await;
        assert!(entry.get("ignoredMembers").is_none(), "{entry}");

        let mut extra = known.clone();
        extra["rebootPending"] = json!(false);
        let reply = common::send(&app, put(extra)).await;
        if strict {
            reply.assert_status(StatusCode::BAD_REQUEST);
            assert_eq!(reply.error_code(), "UnknownMember");
            assert!(reply.text().contains("rebootPending"), "{}", reply.text());
        } else {
            reply.assert_status(StatusCode::OK);
            let entry = journal_entry(&app, "PUT", &path).await;
            assert_eq!(entry["ignoredMembers"], json!(["rebootPending"]), "{entry}");
        }

        let reply = common::send(&app, put(json!({"installedVersion": 8}))).await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        assert!(
            reply.text().contains("installedVersion"),
            "{}",
            reply.text()
        );
    }
}

/// Issue 20 D4: a host name made to look like another, or blank, is refused by name.
#[tokio::test]
async fn host_names_with_invisible_characters_are_refused() {
    let (app, _, _dir) = test_app().await;
    for host in [
        "web\u{202E}10-bew",
        "web\u{200B}01",
        "web\u{00AD}01",
        "\u{FEFF}",
    ] {
        let reply = app
            .post_json(
                &format!("{API}/sources"),
                json!({"hostName": host, "osFamily": "windows", "ipAddress": "10.0.0.5"}),
            )
            .await;
        reply.assert_status(StatusCode::BAD_REQUEST);
        assert_eq!(reply.error_code(), "InvalidField", "{host:?}");
        assert!(reply.text().contains("hostName"), "{}", reply.text());
    }
    let list = app
        .call("GET", &format!("{API}/sources"), None)
        .await
        .json();
    assert_eq!(list["totalCount"], 0, "{list}");
}

/// Issue 20 D3: errors come back in the format of where they happen: a 405 under `/_emu` and a
/// 413 on an operation's body are JSON errors like every other.
#[tokio::test]
async fn errors_keep_their_format() {
    let (app, _, _dir) = test_app().await;
    let reply = app.call("DELETE", "/_emu/settings", None).await;
    reply.assert_status(StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.error_code(), "MethodNotAllowed", "{}", reply.text());
    let source = app
        .post_json(
            &format!("{API}/sources"),
            json!({"hostName": "web01", "osFamily": "windows", "ipAddress": "10.0.0.5"}),
        )
        .await
        .json();
    let t = app
        .post_json(
            &format!("{API}/transformations"),
            json!({"sourceId": source["id"]}),
        )
        .await
        .json();
    let big = format!(
        "{{\"type\":\"MigrateOptions\",\"pad\":\"{}\"}}",
        "x".repeat(3 << 20)
    );
    let reply = common::send(
        &app,
        common::admin(
            "POST",
            &format!(
                "{API}/transformations/{}?operation=Prepare",
                t["id"].as_str().unwrap()
            ),
        )
        .header("content-type", "application/json")
        .body(axum::body::Body::from(big))
        .unwrap(),
    )
    .await;
    reply.assert_status(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.error_code(), "PayloadTooLarge", "{}", reply.text());
}

/// A body that does not read names the member that failed (the body is read once without
/// tracking paths, and only a failure is read again with them: `api::extract::read_json`).
#[tokio::test]
async fn a_member_of_the_wrong_type_is_named() {
    let (app, _, _dir) = test_app().await;
    let reply = app
        .post_json(
            &format!("{API}/sources"),
            json!({"hostName": 5, "osFamily": "windows", "ipAddress": "10.0.0.5"}),
        )
        .await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "InvalidBody");
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains(": hostName: invalid type"), "{message}");
    // An unknown member before the failure changes nothing in what is said.
    let reply = app
        .post_json(
            &format!("{API}/sources"),
            json!({"extra": 1, "hostName": "web01", "osFamily": ["windows"], "ipAddress": "10.0.0.5"}),
        )
        .await;
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains(": osFamily: invalid type"), "{message}");
}
