//! The app answers agents' driver-state reports before its router (`psserver::App`, for speed;
//! issue 21). These tests hold it to the router's answers: a corpus of reports, good and bad,
//! sent for one machine through the app and for a twin machine through the router alone, is
//! answered alike step by step; a report the app answers itself is still counted, journalled and
//! open to fault rules; and reports sent at once that all prefer a minimal answer, some of them
//! refused or changing something, are each answered and stored right (`db::steady`, whose
//! statement then reads no rows back).

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{
    ADMIN, API, API_ALIAS, AppExt, Reply, admin, json_body, register_agent, send, test_app,
};
use psserver::http::shortcut::{Base, Report, Taken};
use serde_json::{Value, json};

const HOST: &str = "psserver.test";

/// A report as a client sends it over a connection (one `Host`), with these headers and body.
fn put(path: &str, headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut builder = Request::put(path)
        .header("host", HOST)
        .header("x-request-id", "fast-report-test");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

fn taken(request: &Request<Body>) -> Option<(Base, Taken)> {
    Taken::of(request)
}

#[test]
fn only_reports_with_a_bearer_token_and_one_host_are_taken_before_the_router() {
    let id = "0b9e6a4e-4a86-4c1b-9d0a-3c0e1f2a3b4c";
    let source: uuid::Uuid = id.parse().unwrap();
    let report = Taken::Report(Report { source });
    let bearer = [("authorization", "Bearer psa_x")];
    let path = format!("{API}/sources/{id}/driverState");
    assert_eq!(
        taken(&put(&path, &bearer, "{}")),
        Some((Base::Current, report))
    );
    let alias = format!("{API_ALIAS}/sources/{id}/driverState");
    assert_eq!(
        taken(&put(&alias, &bearer, "{}")).map(|(base, _)| base),
        Some(Base::Alias)
    );
    // Every form of a UUID its parser reads, and the scheme in any case.
    for path in [
        format!("{API}/sources/0B9E6A4E4A864C1B9D0A3C0E1F2A3B4C/driverState"),
        format!("{API}/sources/urn:uuid:{id}/driverState"),
    ] {
        assert!(taken(&put(&path, &bearer, "{}")).is_some(), "{path}");
    }
    let lower = [("authorization", "bearer psa_x")];
    assert!(taken(&put(&path, &lower, "{}")).is_some());

    // To the router: other credentials (an NTLM sign-in belongs to the connection), none, two;
    // no Host or two (the router's framing check refuses them); another method; a path that
    // is not the report's, or whose id does not parse or is escaped.
    let basic = common::basic(ADMIN.0, ADMIN.1);
    for headers in [
        vec![("authorization", basic.as_str())],
        vec![(
            "authorization",
            "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==",
        )],
        vec![],
        vec![
            ("authorization", "Bearer psa_x"),
            ("authorization", "Bearer psa_y"),
        ],
        vec![("authorization", "Bearer psa_x"), ("host", "second.test")],
    ] {
        assert_eq!(taken(&put(&path, &headers, "{}")), None, "{headers:?}");
    }
    let no_host = Request::put(&path)
        .header("authorization", "Bearer psa_x")
        .body(Body::empty())
        .unwrap();
    assert_eq!(taken(&no_host), None);
    let post = Request::post(&path)
        .header("host", HOST)
        .header("authorization", "Bearer psa_x")
        .body(Body::empty())
        .unwrap();
    assert_eq!(taken(&post), None);
    for path in [
        format!("{API}/sources/{id}"),
        format!("{API}/sources/{id}/driverState/"),
        format!("{API}/sources/{id}/driverstate"),
        format!("{API}/sources/not-an-id/driverState"),
        format!("{API}/sources/%7B{id}%7D/driverState"),
        format!("/MigrateApi/2019.7/sources/{id}/driverState"),
    ] {
        assert_eq!(taken(&put(&path, &bearer, "{}")), None, "{path}");
    }
}

/// A step of the corpus: what it is, whose id is in the path, whose token it carries, its headers
/// and its body.
type Case<'a> = (&'a str, &'a str, &'a str, Vec<(&'a str, &'a str)>, String);

/// An answer with one machine's identity (id, host name, times) put in place of another's.
fn as_twin(reply: &Reply, ids: [&str; 2], hosts: [&str; 2]) -> (Value, Vec<(String, String)>) {
    let text = String::from_utf8_lossy(&reply.body)
        .replace(ids[0], ids[1])
        .replace(&ids[0].to_uppercase(), &ids[1].to_uppercase())
        .replace(hosts[0], hosts[1]);
    let mut body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if let Some(fields) = body.as_object_mut() {
        for (name, value) in fields.iter_mut() {
            if name.ends_with("At") && value.is_string() {
                *value = json!("<time>");
            }
        }
    }
    let headers = reply
        .headers
        .iter()
        .filter(|(name, _)| *name != "content-length")
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    (body, headers)
}

#[tokio::test]
async fn the_app_and_its_router_answer_every_report_alike() {
    let (app, _state, _dir) = test_app().await;
    let router = app.router_only();
    // Twins: the app answers for one, the router alone for the other, step by step.
    let (fast_id, fast_token) = register_agent(&app, "twin-fast").await;
    let (slow_id, slow_token) = register_agent(&app, "twin-slow").await;
    let (_, other_token) = register_agent(&app, "twin-other").await;
    let unknown = uuid::Uuid::new_v4().to_string();

    let state = |installed: &str, running: &str, controller: &str| {
        json!({"installedVersion": installed, "runningVersion": running,
               "controllerService": controller})
        .to_string()
    };
    let steady = state("8.0.0.11", "8.0.0.11", "running");
    let minimal = ("prefer", "return=minimal");
    let json_type = ("content-type", "application/json");
    // (what, the id in the path: "" = the twin's own, the token: "" = the twin's own, headers,
    // body). In order: each step starts from the state the ones before left.
    let corpus: Vec<Case> = vec![
        (
            "first report, minimal",
            "",
            "",
            vec![minimal, json_type],
            steady.clone(),
        ),
        (
            "steady, the source back",
            "",
            "",
            vec![json_type],
            steady.clone(),
        ),
        ("steady, minimal", "", "", vec![minimal], steady.clone()),
        (
            "a newer driver installed",
            "",
            "",
            vec![json_type],
            state("8.0.0.12", "8.0.0.11", "running"),
        ),
        (
            "still pending, minimal",
            "",
            "",
            vec![minimal],
            state("8.0.0.12", "8.0.0.11", "running"),
        ),
        (
            "rebooted",
            "",
            "",
            vec![json_type],
            state("8.0.0.12", "8.0.0.12", "running"),
        ),
        (
            "controller stopped",
            "",
            "",
            vec![minimal],
            state("8.0.0.12", "8.0.0.12", "stopped"),
        ),
        (
            "controller left out",
            "",
            "",
            vec![],
            json!({"installedVersion": "8.0.0.12", "runningVersion": "8.0.0.12"}).to_string(),
        ),
        (
            "another agent's token",
            "",
            "other",
            vec![minimal],
            steady.clone(),
        ),
        (
            "no such source",
            "unknown",
            "",
            vec![minimal],
            steady.clone(),
        ),
        ("an empty token", "", "empty", vec![], steady.clone()),
        (
            "not JSON",
            "",
            "",
            vec![json_type],
            "{installedVersion".into(),
        ),
        ("an array", "", "", vec![], "[]".into()),
        ("no body", "", "", vec![minimal], String::new()),
        (
            "text/plain",
            "",
            "",
            vec![("content-type", "text/plain")],
            steady.clone(),
        ),
        (
            "an unknown member",
            "",
            "",
            vec![],
            json!({"installedVersion": "8.0.0.12", "runningVersion": "8.0.0.12", "color": "red"})
                .to_string(),
        ),
        (
            "a bad version",
            "",
            "",
            vec![],
            state("8.x", "8.0.0.12", "running"),
        ),
        (
            "a bad controller",
            "",
            "",
            vec![],
            state("8.0.0.12", "8.0.0.12", "sleeping"),
        ),
        (
            "running without installed",
            "",
            "",
            vec![],
            json!({"runningVersion": "8.0.0.12"}).to_string(),
        ),
        (
            "declared too large",
            "",
            "",
            vec![("content-length", "99999999")],
            steady.clone(),
        ),
        (
            "odd preference",
            "",
            "",
            vec![("prefer", "return=everything")],
            steady.clone(),
        ),
        (
            "the id in capitals",
            "upper",
            "",
            vec![minimal],
            steady.clone(),
        ),
    ];

    let mut taken_count = 0;
    let mut statuses = std::collections::BTreeSet::new();
    for (what, id, token, headers, body) in &corpus {
        let mut twins = Vec::new();
        for (own_id, own_token) in [(&fast_id, &fast_token), (&slow_id, &slow_token)] {
            let id = match *id {
                "unknown" => unknown.clone(),
                "upper" => own_id.to_uppercase(),
                _ => own_id.clone(),
            };
            let token = match *token {
                "other" => other_token.clone(),
                "empty" => String::new(),
                _ => own_token.clone(),
            };
            let bearer = format!("Bearer {token}");
            let mut all = headers.clone();
            all.push(("authorization", bearer.as_str()));
            let path = format!("{API}/sources/{id}/driverState");
            twins.push(put(&path, &all, body));
        }
        let slow_request = twins.pop().unwrap();
        let fast_request = twins.pop().unwrap();
        if taken(&fast_request).is_some() {
            taken_count += 1;
        }
        let fast = send(&app, fast_request).await;
        let slow = send(&router, slow_request).await;
        assert_eq!(fast.status, slow.status, "{what}: {}", fast.text());
        let ids = [fast_id.as_str(), slow_id.as_str()];
        let upper = [fast_id.to_uppercase(), slow_id.to_uppercase()];
        let (fast_body, fast_headers) = as_twin(&fast, ids, ["twin-fast", "twin-slow"]);
        let (fast_body, _) = (
            serde_json::from_str(&fast_body.to_string().replace(&upper[0], &upper[1]))
                .unwrap_or(fast_body),
            (),
        );
        let (slow_body, slow_headers) = as_twin(&slow, ids, ["twin-fast", "twin-slow"]);
        assert_eq!(fast_headers, slow_headers, "{what}");
        assert_eq!(fast_body, slow_body, "{what}");
        statuses.insert(fast.status.as_u16());
    }
    // The corpus goes the app's own way, and sees every kind of answer.
    assert_eq!(
        taken_count,
        corpus.len(),
        "each report was taken before the router"
    );
    for status in [200, 204, 400, 401, 413, 415] {
        assert!(statuses.contains(&status), "no {status} in {statuses:?}");
    }
    // And the twins ended in the same state.
    let fast = app.get_json(&format!("{API}/sources/{fast_id}")).await;
    let slow = app.get_json(&format!("{API}/sources/{slow_id}")).await;
    assert_eq!(fast["driver"], slow["driver"]);
    assert_eq!(fast["controllerService"], slow["controllerService"]);
    assert_eq!(fast["serverSyncRequired"], slow["serverSyncRequired"]);
}

#[tokio::test]
async fn a_report_taken_before_the_router_is_counted_journalled_and_faulted() {
    let (app, _state, _dir) = test_app().await;
    let (id, token) = register_agent(&app, "counted").await;
    let path = format!("{API}/sources/{id}/driverState");
    let bearer = format!("Bearer {token}");
    let body = json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11"}).to_string();
    let request = || put(&path, &[("authorization", bearer.as_str())], &body);
    assert!(taken(&request()).is_some());
    send(&app, request()).await.assert_status(StatusCode::OK);

    // Counted under its route's template, in the same series as the router's answers.
    let series = format!(
        r#"psserver_http_requests_total{{method="PUT",route="{API}/sources/{{id}}/driverState",status="200"}}"#
    );
    let count = |metrics: &Reply| {
        String::from_utf8_lossy(&metrics.body)
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .map(|v| v.trim().to_owned())
    };
    let metrics = app.get_as("/metrics", ADMIN).await;
    assert_eq!(count(&metrics).as_deref(), Some("1"));
    send(&app.router_only(), request())
        .await
        .assert_status(StatusCode::OK);
    let metrics = app.get_as("/metrics", ADMIN).await;
    assert_eq!(count(&metrics).as_deref(), Some("2"));

    // Journalled, with its request id.
    let journal = app.get_as("/_emu/requests", ADMIN).await.json();
    let entries = journal["requests"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["path"] == path.as_str()
            && e["method"] == "PUT"
            && e["status"] == 200
            && e["requestId"] == "fast-report-test"),
        "{journal}"
    );

    // Open to fault rules, and the fault's answer is the router's, headers and all.
    let rule = send(
        &app,
        admin("POST", "/_emu/faults")
            .header("content-type", "application/json")
            .body(json_body(
                json!({"method": "PUT", "path": "*/driverState", "action": "error", "status": 503}),
            ))
            .unwrap(),
    )
    .await;
    assert!(rule.status.is_success(), "{}", rule.json());
    let faulted = send(&app, request()).await;
    assert_eq!(faulted.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(faulted.header("x-request-id"), Some("fast-report-test"));
    let by_router = send(&app.router_only(), request()).await;
    assert_eq!(faulted.status, by_router.status);
    assert_eq!(faulted.headers, by_router.headers);
    assert!(faulted.body == by_router.body, "the faults' bodies differ");
}

/// Reports sent at once, all preferring a minimal answer as migrate-agent sends them: the steady
/// ones are stored by one statement that reads no rows back, so the server must still tell which
/// were stored when some were not (another agent's token, no such source, a changed state, a
/// second report of one source).
#[tokio::test]
async fn minimal_reports_sent_at_once_some_not_steady_are_each_answered_and_stored_right() {
    let (app, _state, _dir) = test_app().await;
    let steady = json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "running"});
    let mut agents = Vec::new();
    for i in 0..10 {
        let (id, token) = register_agent(&app, &format!("minimal-at-once-{i}")).await;
        let bearer = format!("Bearer {token}");
        let first = put(
            &format!("{API}/sources/{id}/driverState"),
            &[("authorization", bearer.as_str())],
            &steady.to_string(),
        );
        send(&app, first).await.assert_status(StatusCode::OK);
        let at = app.get_json(&format!("{API}/sources/{id}")).await["lastReportAt"]
            .as_str()
            .unwrap()
            .to_owned();
        agents.push((id, token, at));
    }
    let changed = json!({"installedVersion": "8.0.0.12", "runningVersion": "8.0.0.11", "controllerService": "running"});
    // Agents 0..=6 steady; 7 changes its state; 8's source gets agent 0's token; a source no one
    // has; agent 1 twice.
    let mut sends: Vec<(String, String, &Value)> = agents[..7]
        .iter()
        .map(|(id, token, _)| (id.clone(), token.clone(), &steady))
        .collect();
    sends.push((agents[7].0.clone(), agents[7].1.clone(), &changed));
    sends.push((agents[8].0.clone(), agents[0].1.clone(), &steady));
    sends.push((
        uuid::Uuid::new_v4().to_string(),
        agents[2].1.clone(),
        &steady,
    ));
    sends.push((agents[1].0.clone(), agents[1].1.clone(), &steady));
    let replies = futures_util::future::join_all(sends.iter().map(|(id, token, body)| {
        let bearer = format!("Bearer {token}");
        let request = put(
            &format!("{API}/sources/{id}/driverState"),
            &[
                ("authorization", bearer.as_str()),
                ("prefer", "return=minimal"),
            ],
            &body.to_string(),
        );
        send(&app, request)
    }))
    .await;
    for (i, reply) in replies.iter().enumerate() {
        let expected = match i {
            8 | 9 => StatusCode::UNAUTHORIZED,
            _ => StatusCode::NO_CONTENT,
        };
        assert_eq!(reply.status, expected, "report {i}: {}", reply.text());
    }
    for (i, (id, _, before)) in agents.iter().enumerate() {
        let stored = app.get_json(&format!("{API}/sources/{id}")).await;
        let at = stored["lastReportAt"].as_str().unwrap();
        match i {
            8 | 9 => assert_eq!(at, before, "source {i}: nothing stored"),
            _ => assert!(at > before.as_str(), "source {i}: stored {stored}"),
        }
    }
    let seven = app
        .get_json(&format!("{API}/sources/{}", agents[7].0))
        .await;
    assert_eq!(seven["driver"]["installedVersion"], "8.0.0.12", "{seven}");
    let tasks = app
        .get_json(&format!("{API}/tasks?sourceId={}", agents[7].0))
        .await;
    assert_eq!(
        tasks["totalCount"], 1,
        "the change raised its reboot task: {tasks}"
    );
}
