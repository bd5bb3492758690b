//! Issue 20 D2: the OpenAPI document and the server agree. Each finding of the issue, both
//! ways: what the document says (a pattern, a range, an enum, a required parameter) and what
//! the server answers. `.ci/schemathesis` checks the rest by generating requests.

use crate::common;

use axum::http::StatusCode;
use common::{API, AppExt, test_app};
use serde_json::{Value, json};

/// The served document.
async fn document(app: &psserver::App) -> Value {
    app.get_json(&format!("{API}/openapi.json")).await
}

/// A query parameter of an operation in the document.
fn parameter<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no parameter {name} on {method} {path}"))
}

#[tokio::test]
async fn the_driver_version_pattern_stops_at_65535_as_the_server_does() {
    let (app, _, _dir) = test_app().await;
    let doc = document(&app).await;
    let pattern = doc["components"]["schemas"]["DriverVersion"]["pattern"]
        .as_str()
        .expect("a pattern");
    let pattern = regex::Regex::new(pattern).expect("a valid pattern");
    for (version, valid) in [
        ("8.0.0.65535", true),
        ("8.0.0.65536", false),
        ("62689.65599.1.2", false),
    ] {
        assert_eq!(pattern.is_match(version), valid, "{version}");
        let reply = app
            .call(
                "GET",
                &format!("{API}/driverPackages/windows-x64/{version}/content"),
                None,
            )
            .await;
        // Valid: no such package (404); not valid: 400.
        let want = if valid {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(reply.status, want, "{version}: {}", reply.text());
    }
}

#[tokio::test]
async fn the_journal_status_filter_is_an_http_status_in_both() {
    let (app, _, _dir) = test_app().await;
    let doc = document(&app).await;
    let status = &parameter(&doc, "/_emu/requests", "get", "status")["schema"];
    assert_eq!(status["minimum"], 100, "{status}");
    assert_eq!(status["maximum"], 599, "{status}");
    for (value, want) in [
        ("200", StatusCode::OK),
        ("599", StatusCode::OK),
        ("600", StatusCode::BAD_REQUEST),
        ("99", StatusCode::BAD_REQUEST),
        ("2147483646", StatusCode::BAD_REQUEST),
    ] {
        let reply = app
            .call("GET", &format!("/_emu/requests?status={value}"), None)
            .await;
        assert_eq!(reply.status, want, "status={value}: {}", reply.text());
    }
}

#[tokio::test]
async fn operations_are_enums_in_the_document_and_empty_is_refused() {
    let (app, _, _dir) = test_app().await;
    let doc = document(&app).await;
    let enum_of = |path: &str, method: &str| {
        let p = parameter(&doc, path, method, "operation");
        let schema = &p["schema"];
        // An optional parameter's schema may allow null beside the enum.
        let values = schema["enum"]
            .as_array()
            .or_else(|| {
                schema["oneOf"]
                    .as_array()
                    .and_then(|alts| alts.iter().find_map(|a| a["enum"].as_array()))
            })
            .unwrap_or_else(|| panic!("{method} {path}: operation is no enum: {schema}"));
        values
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        enum_of(&format!("{API}/driverPackages"), "post"),
        ["Rescan"]
    );
    assert_eq!(enum_of(&format!("{API}/sources"), "post"), ["Register"]);
    assert_eq!(
        enum_of(&format!("{API}/sources/{{id}}"), "post"),
        ["Reboot"]
    );
    assert_eq!(
        enum_of(&format!("{API}/tasks/{{id}}"), "post"),
        ["Dismiss", "Execute"]
    );
    assert_eq!(
        enum_of(&format!("{API}/transformations/{{id}}"), "post"),
        [
            "Prepare",
            "Migrate",
            "TestCutover",
            "EndTestCutover",
            "Cutover",
            "Abort"
        ]
    );
    // Empty is none of them, and the server refuses it.
    let reply = app
        .call("POST", &format!("{API}/driverPackages?operation="), None)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    let body = json!({"hostName": "web01", "osFamily": "windows", "ipAddress": "10.0.0.5"});
    let reply = app
        .post_json(&format!("{API}/sources?operation="), body)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
}

#[tokio::test]
async fn a_rescan_takes_no_body() {
    let (app, _, _dir) = test_app().await;
    let request = common::admin("POST", &format!("{API}/driverPackages?operation=Rescan"))
        .header("content-type", "application/zip")
        .body(axum::body::Body::from("{}"))
        .expect("request");
    let reply = app.send(request).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert_eq!(reply.error_code(), "UnexpectedBody");
    let reply = app
        .call(
            "POST",
            &format!("{API}/driverPackages?operation=Rescan"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

#[tokio::test]
async fn settings_polls_and_seconds_have_the_same_range_in_both() {
    let (app, _, _dir) = test_app().await;
    let doc = document(&app).await;
    let variants = doc["components"]["schemas"]["Transition"]["oneOf"]
        .as_array()
        .expect("Transition is a oneOf");
    let member = |name: &str| {
        variants
            .iter()
            .find_map(|v| v["properties"].get(name))
            .unwrap_or_else(|| panic!("no variant has {name}"))
    };
    assert_eq!(member("polls")["minimum"], 1);
    assert_eq!(member("polls")["maximum"], 2_147_483_647_u64);
    assert_eq!(member("seconds")["minimum"], 0);
    assert_eq!(member("seconds")["maximum"], 86_400);
    // The server refuses unknown members of a transition, and the document says so.
    assert!(variants.iter().all(|v| v["additionalProperties"] == false));
    let put = |transition: Value| {
        let app = &app;
        async move {
            let body = json!({"transition": transition});
            app.call("PUT", "/_emu/settings", Some(body)).await
        }
    };
    for (transition, want) in [
        (
            json!({"mode": "afterPolls", "polls": 0}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"mode": "afterPolls", "polls": 2_147_483_648_u64}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"mode": "afterPolls", "polls": 2_147_483_647_u64}),
            StatusCode::OK,
        ),
        // A number with a zero fraction is an integer to JSON Schema, and to the server.
        (json!({"mode": "afterPolls", "polls": 3.0}), StatusCode::OK),
        (
            json!({"mode": "afterPolls", "polls": 3.5}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"mode": "afterSeconds", "seconds": 5, "x": 1}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let reply = put(transition.clone()).await;
        assert_eq!(reply.status, want, "{transition}: {}", reply.text());
    }
}

#[tokio::test]
async fn fault_rules_and_reset_scopes_have_their_ranges_and_enums_in_the_document() {
    let (app, _, _dir) = test_app().await;
    let doc = document(&app).await;
    let rule = &doc["components"]["schemas"]["RuleSpec"];
    assert_eq!(rule["properties"]["status"]["minimum"], 400, "{rule}");
    assert_eq!(rule["properties"]["status"]["maximum"], 599, "{rule}");
    assert!(
        rule["required"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("path"))),
        "{rule}"
    );
    let reply = app
        .post_json("/_emu/faults", json!({"path": "/x", "status": 0}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());

    let scope = &parameter(&doc, "/_emu/state/reset", "post", "scope")["schema"];
    let text = scope.to_string();
    for name in ["all", "sources", "tasks", "operations", "journal"] {
        assert!(text.contains(&format!("\"{name}\"")), "{name} in {text}");
    }
    for (query, want) in [
        ("?scope=journal", StatusCode::OK),
        ("?scope=all", StatusCode::OK),
        ("?scope=", StatusCode::BAD_REQUEST),
        ("?scope=everything", StatusCode::BAD_REQUEST),
    ] {
        let reply = app
            .call("POST", &format!("/_emu/state/reset{query}"), None)
            .await;
        assert_eq!(reply.status, want, "{query}: {}", reply.text());
    }
}

#[tokio::test]
async fn offsets_stop_at_2_31_minus_1_and_empty_filters_are_refused() {
    let (app, _, _dir) = test_app().await;
    let doc = document(&app).await;
    let offset = &parameter(&doc, &format!("{API}/sources"), "get", "offset")["schema"];
    assert_eq!(offset["maximum"], 2_147_483_647_u64, "{offset}");
    for (query, want) in [
        ("sources?offset=2147483647", StatusCode::OK),
        ("sources?offset=2147483648", StatusCode::BAD_REQUEST),
        ("platforms?offset=2147483648", StatusCode::BAD_REQUEST),
        ("tasks?sourceId=", StatusCode::BAD_REQUEST),
        ("events?sourceId=", StatusCode::BAD_REQUEST),
        ("events?kind=", StatusCode::BAD_REQUEST),
        ("transformations?sourceId=", StatusCode::BAD_REQUEST),
        ("operations?transformationId=", StatusCode::BAD_REQUEST),
        ("operations?status=", StatusCode::BAD_REQUEST),
        ("driverPackages?platform=", StatusCode::BAD_REQUEST),
        ("driverPackages/latest?platform=", StatusCode::BAD_REQUEST),
        ("driverPackages?platform=windows-x64", StatusCode::OK),
    ] {
        let reply = app.call("GET", &format!("{API}/{query}"), None).await;
        assert_eq!(reply.status, want, "{query}: {}", reply.text());
    }
}

#[tokio::test]
async fn names_have_the_servers_rule_as_their_pattern() {
    let (app, _, _dir) = test_app().await;
    let doc = document(&app).await;
    let host = &doc["components"]["schemas"]["SourceBody"]["properties"]["hostName"];
    assert_eq!(
        host["pattern"].as_str(),
        Some(psserver::domain::text::name_pattern(255).as_str()),
        "{host}"
    );
    let tags = &doc["components"]["schemas"]["CreateBody"]["properties"]["tags"];
    assert_eq!(tags["maxItems"], 20, "{tags}");
    assert_eq!(
        tags["items"]["pattern"].as_str(),
        Some(psserver::domain::text::name_pattern(64).as_str()),
        "{tags}"
    );
}
