//! Fault injection (`/_emu/faults`): router tests of the rules, and end-to-end tests of the
//! faults a router test cannot see (a dropped connection, a download cut short).

use crate::common;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{ADMIN, API, AppExt, Server, basic, json_body, send, test_app, test_app_with};
use serde_json::{Value, json};

/// Add a rule; answers its id.
async fn add(app: &psserver::App, rule: Value) -> String {
    let reply = app.call("POST", "/_emu/faults", Some(rule)).await;
    reply.assert_status(StatusCode::CREATED);
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.header("location"),
        Some(format!("/_emu/faults/{id}").as_str())
    );
    id
}

async fn list(app: &psserver::App) -> Value {
    let reply = app.call("GET", "/_emu/faults", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.json()
}

/// Which of `n` GETs of the sources list were answered by a fault.
async fn hit_sequence(app: &psserver::App, n: usize) -> Vec<bool> {
    let mut hits = Vec::with_capacity(n);
    for _ in 0..n {
        let reply = app.call("GET", &format!("{API}/sources"), None).await;
        match reply.status {
            StatusCode::OK => hits.push(false),
            StatusCode::SERVICE_UNAVAILABLE => hits.push(true),
            other => panic!("unexpected {other}"),
        }
    }
    hits
}

#[tokio::test]
async fn a_seeded_probability_gives_the_same_sequence_twice() {
    let (app, _, _dir) = test_app().await;
    let rule = json!({"method": "GET", "path": "/MigrateApi/2019.8/sources*", "probability": 0.3, "status": 503, "seed": 42});
    let id = add(&app, rule.clone()).await;
    let first = hit_sequence(&app, 50).await;
    let listed = list(&app).await;
    assert_eq!(listed["faults"][0]["matched"], 50);
    let hits = first.iter().filter(|h| **h).count();
    assert_eq!(listed["faults"][0]["hits"], hits as u64);
    // Roughly 30%: for 50 draws at p = 0.3 the standard deviation is about 3.2.
    assert!((6..=25).contains(&hits), "{hits} hits of 50");

    // Removed and added again, the rule draws the same sequence from the start.
    app.call("DELETE", &format!("/_emu/faults/{id}"), None)
        .await;
    add(&app, rule).await;
    let second = hit_sequence(&app, 50).await;
    assert_eq!(first, second);

    // Another seed gives another sequence.
    app.call("DELETE", "/_emu/faults", None).await;
    add(
        &app,
        json!({"path": "/MigrateApi/2019.8/sources*", "probability": 0.3, "seed": 43}),
    )
    .await;
    assert_ne!(hit_sequence(&app, 50).await, first);
}

#[tokio::test]
async fn a_status_rule_answers_the_standard_error_body() {
    let (app, _, _dir) = test_app().await;
    let id = add(
        &app,
        json!({"method": "get", "path": "/MigrateApi/*/sources", "status": 429, "errorCode": "Throttled", "message": "slow down"}),
    )
    .await;
    let reply = app.call("GET", &format!("{API}/sources"), None).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        reply.json(),
        json!({"error": {"code": "Throttled", "message": "slow down"}})
    );
    assert_eq!(reply.header("x-psserver-fault"), Some(id.as_str()));
    // The alias base matches the pattern too; another method or path does not.
    let reply = app.call("GET", "/MigrateApi/2019.5/sources", None).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    let reply = app.call("GET", &format!("{API}/tasks"), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = app
        .call(
            "POST",
            &format!("{API}/sources"),
            Some(json!({"hostName": "A", "osFamily": "windows", "ipAddress": "10.0.0.1"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);

    // Defaults: 503 with a code named after it; the control plane is never affected.
    app.call("DELETE", "/_emu/faults", None).await;
    add(&app, json!({"path": "*"})).await;
    let reply = app.call("GET", &format!("{API}/tasks"), None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.error_code(), "ServiceUnavailable");
    let reply = app.call("GET", "/migrate/", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "pages too");
    assert_eq!(list(&app).await["totalCount"], 1);
    let reply = app.call("GET", "/metrics", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    // The journal records the injected answer.
    let journal = app
        .call("GET", "/_emu/requests?pathPrefix=/MigrateApi", None)
        .await
        .json();
    assert_eq!(journal["requests"][0]["status"], 503);
}

#[tokio::test]
async fn a_delay_rule_waits_then_passes_the_request_on() {
    let (app, _, _dir) = test_app().await;
    add(
        &app,
        json!({"path": "/MigrateApi/2019.8/tasks", "action": "delay", "delayMs": 300}),
    )
    .await;
    let started = Instant::now();
    let reply = app.call("GET", &format!("{API}/tasks"), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    app.call("GET", &format!("{API}/events"), None).await;
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn rules_expire_and_run_out() {
    let (app, _, _dir) = test_app().await;
    add(
        &app,
        json!({"path": "/MigrateApi/2019.8/tasks", "expiresInSeconds": 0.3}),
    )
    .await;
    let rule = &list(&app).await["faults"][0];
    assert!(rule["expiresAt"].is_string(), "{rule}");
    let status = |app: psserver::App| async move {
        app.call("GET", &format!("{API}/tasks"), None).await.status
    };
    assert_eq!(status(app.clone()).await, StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(status(app.clone()).await, StatusCode::OK);
    assert_eq!(list(&app).await["totalCount"], 0, "an expired rule is gone");

    add(
        &app,
        json!({"path": "/MigrateApi/2019.8/tasks", "times": 2, "status": 500}),
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(status(app.clone()).await.as_u16());
    }
    assert_eq!(seen, [500, 500, 200, 200]);
    let rule = &list(&app).await["faults"][0];
    assert_eq!(
        (rule["hits"].clone(), rule["active"].clone()),
        (json!(2), json!(false))
    );
}

#[tokio::test]
async fn rules_are_listed_removed_cleared_and_survive_a_reset() {
    let (app, _, _dir) = test_app().await;
    let a = add(&app, json!({"path": "/a*", "seed": 7})).await;
    let b = add(&app, json!({"path": "/b*", "action": "drop"})).await;
    let listed = list(&app).await;
    assert_eq!(listed["totalCount"], 2);
    let first = &listed["faults"][0];
    assert_eq!(first["id"], a.as_str());
    assert_eq!(first["seed"], 7);
    assert_eq!(first["probability"], 1.0);
    assert_eq!(first["method"], Value::Null);
    assert!(
        listed["faults"][1]["seed"].is_u64(),
        "a seed is chosen and shown"
    );

    let reply = app.call("POST", "/_emu/state/reset", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        list(&app).await["totalCount"],
        2,
        "faults are configuration"
    );

    let reply = app.call("DELETE", &format!("/_emu/faults/{a}"), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["id"], a.as_str());
    let reply = app.call("DELETE", &format!("/_emu/faults/{a}"), None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = app.call("DELETE", "/_emu/faults/not-an-id", None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(list(&app).await["faults"][0]["id"], b.as_str());
    let reply = app.call("DELETE", "/_emu/faults", None).await;
    assert_eq!(reply.json(), json!({"removed": 1}));
    assert_eq!(list(&app).await["totalCount"], 0);
}

#[tokio::test]
async fn bad_rules_get_clear_400s() {
    let (app, _, _dir) = test_app().await;
    for (rule, needle) in [
        (json!({}), "path is required"),
        (json!({"path": "/x", "probability": 2}), "probability"),
        (json!({"path": "/x", "status": 302}), "not an error status"),
        (json!({"path": "/x", "action": "delay"}), "delayMs"),
        (
            json!({"path": "/x", "action": "truncate"}),
            "truncateAfterBytes",
        ),
        (
            json!({"path": "/x", "action": "drop", "status": 500}),
            "only to action",
        ),
        (json!({"path": "/_emu/info"}), "control plane"),
        (
            json!({"path": "/x", "expiresInSeconds": -1}),
            "expiresInSeconds",
        ),
        (json!({"path": "/x", "delayMs": 10_000_000}), "delayMs"),
        (json!({"path": "/x", "action": "explode"}), "explode"),
        (json!({"path": "/x", "colour": "red"}), "colour"),
    ] {
        let reply = app.call("POST", "/_emu/faults", Some(rule.clone())).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{rule}");
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(needle), "{rule}: {message}");
    }
    assert_eq!(list(&app).await["totalCount"], 0);
}

#[tokio::test]
async fn faults_need_an_administrator() {
    let (app, _, _dir) = test_app_with(|c| c.operator_password = Some("op".into())).await;
    let id = add(&app, json!({"path": "/x"})).await;
    for (method, path) in [
        ("GET", "/_emu/faults".to_owned()),
        ("POST", "/_emu/faults".to_owned()),
        ("DELETE", "/_emu/faults".to_owned()),
        ("DELETE", format!("/_emu/faults/{id}")),
    ] {
        let request = || Request::builder().method(method).uri(&path);
        let reply = send(&app, request().body(Body::empty()).unwrap()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let reply = send(
            &app,
            request()
                .header("authorization", basic("operator", "op"))
                .body(json_body(json!({"path": "/y"})))
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    assert_eq!(list(&app).await["totalCount"], 1);
}

// ---- against the real server ----

fn rule(server: &Server, rule: Value) -> String {
    let reply = reqwest::blocking::Client::new()
        .post(server.url("/_emu/faults"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .json(&rule)
        .send()
        .unwrap();
    assert_eq!(reply.status(), 201);
    reply.json::<Value>().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_dropped_connection_closes_without_a_response() {
    let server = Server::start(&[]);
    rule(
        &server,
        json!({"method": "GET", "path": "/MigrateApi/2019.8/sources", "action": "drop", "times": 1}),
    );
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let get = || {
        http.get(server.api("/sources"))
            .basic_auth(ADMIN.0, Some(ADMIN.1))
            .send()
    };
    let err = get().expect_err("the connection is dropped");
    assert!(!err.is_timeout(), "{err:?}");
    assert!(err.status().is_none(), "{err:?}");
    // The rule ran out: the next request is answered.
    assert_eq!(get().unwrap().status(), 200);

    // Seen from a raw socket: the connection ends with not a byte of response.
    rule(
        &server,
        json!({"path": "/MigrateApi/2019.8/tasks", "action": "drop"}),
    );
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /MigrateApi/2019.8/tasks HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    assert!(
        response.is_empty(),
        "{}",
        String::from_utf8_lossy(&response)
    );
}
