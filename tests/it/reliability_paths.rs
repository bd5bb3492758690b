//! Reliability: the traversal and encoding corpus (shared with `tests/it/packages.rs`, which covers
//! the package routes) against every other route that takes an id or a name: sources, tasks,
//! transformations, operations, the pages under `/migrate` and `/static`. No trick is ever
//! answered 200 (or 2xx), none gets a 5xx, and nothing from outside the repository is served.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode, Uri};
use common::corpus::{encode_all, traversal_corpus};
use common::{ADMIN, API, AppExt, admin, basic, json_body, send};
use serde_json::json;

const ALIAS: &str = "/MigrateApi/2019.5";

/// One route under test: how to make its request target from a trick, its method, and a body.
struct Position {
    method: &'static str,
    target: Box<dyn Fn(&str) -> String>,
    body: Option<serde_json::Value>,
    /// A query value: a trick there may be taken as "no such filter value" and listed (200),
    /// but never answered with something outside the repository or a 5xx.
    in_query: bool,
}

fn at(method: &'static str, target: impl Fn(&str) -> String + 'static) -> Position {
    Position {
        method,
        target: Box::new(target),
        body: None,
        in_query: false,
    }
}

fn query(target: impl Fn(&str) -> String + 'static) -> Position {
    Position {
        in_query: true,
        ..at("GET", target)
    }
}

/// Real ids of every kind, so that tricks built around a real id are tried too.
struct Ids {
    source: String,
    task: String,
    transformation: String,
    operation: String,
}

async fn make_ids(app: &psserver::App) -> Ids {
    let call = |method: &str, path: String, body: serde_json::Value| {
        admin(method, &format!("{API}{path}"))
            .body(json_body(body))
            .unwrap()
    };
    let source = send(
        app,
        call(
            "POST",
            "/sources".into(),
            json!({"hostName": "WIN-PATHS", "osFamily": "windows", "ipAddress": "10.0.0.9"}),
        ),
    )
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Installed, not running: a reboot task.
    let reply = send(
        app,
        call(
            "PUT",
            format!("/sources/{source}/driverState"),
            json!({"installedVersion": "8.0.0.12", "runningVersion": null}),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let tasks = app
        .get_as(&format!("{API}/tasks?sourceId={source}"), ADMIN)
        .await
        .json();
    let task = tasks["tasks"][0]["id"].as_str().unwrap().to_owned();
    let transformation = send(
        app,
        call(
            "POST",
            "/transformations".into(),
            json!({"sourceId": source}),
        ),
    )
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let accepted = send(
        app,
        admin(
            "POST",
            &format!("{API}/transformations/{transformation}?operation=Prepare"),
        )
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    let href = accepted.json()["operation"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let operation = href.rsplit('/').next().unwrap().to_owned();
    Ids {
        source,
        task,
        transformation,
        operation,
    }
}

fn api_positions(base: &'static str) -> Vec<Position> {
    vec![
        at("GET", move |t| format!("{base}/sources/{t}")),
        at("DELETE", move |t| format!("{base}/sources/{t}")),
        at("POST", move |t| {
            format!("{base}/sources/{t}?operation=Reboot")
        }),
        Position {
            body: Some(json!({"installedVersion": "8.0.0.12", "runningVersion": "8.0.0.12"})),
            ..at("PUT", move |t| format!("{base}/sources/{t}/driverState"))
        },
        at("GET", move |t| format!("{base}/tasks/{t}")),
        at("POST", move |t| {
            format!("{base}/tasks/{t}?operation=Dismiss")
        }),
        at("GET", move |t| format!("{base}/transformations/{t}")),
        at("DELETE", move |t| format!("{base}/transformations/{t}")),
        at("POST", move |t| {
            format!("{base}/transformations/{t}?operation=Prepare")
        }),
        at("GET", move |t| format!("{base}/operations/{t}")),
        // The tricks as operation names and filter values.
        at("POST", move |t| format!("{base}/sources?operation={t}")),
        query(move |t| format!("{base}/tasks?sourceId={t}")),
        query(move |t| format!("{base}/tasks?state={t}")),
        query(move |t| format!("{base}/tasks?kind={t}")),
        query(move |t| format!("{base}/events?sourceId={t}")),
        query(move |t| format!("{base}/transformations?sourceId={t}")),
        query(move |t| format!("{base}/operations?transformationId={t}")),
        query(move |t| format!("{base}/operations?sourceId={t}&status={t}")),
        query(move |t| format!("{base}/sources?offset={t}&limit={t}")),
    ]
}

fn page_positions() -> Vec<Position> {
    vec![
        at("GET", |t| format!("/migrate/workloads/{t}")),
        at("GET", |t| format!("/migrate/live/workloads/{t}")),
        at("POST", |t| format!("/migrate/workloads/{t}/operations")),
        at("POST", |t| format!("/migrate/tasks/{t}/dismiss")),
        at("GET", |t| format!("/migrate/commands/{t}")),
        at("GET", |t| format!("/migrate/live/commands/{t}")),
        at("GET", |t| format!("/migrate/{t}")),
        at("GET", |t| format!("/migrate/{t}/{t}")),
        at("GET", |t| format!("/static/{t}")),
        at("GET", |t| format!("/static/{t}/app.css")),
        at("GET", |t| format!("/static/app.css/{t}")),
        query(|t| format!("/migrate/tasks?sourceId={t}&state={t}")),
        query(|t| format!("/migrate/workloads?offset={t}")),
    ]
}

/// What no answer to a trick may contain: a system file, a package, the database.
fn assert_nothing_leaked(shown: &str, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    assert!(!body.starts_with(b"PK"), "{shown} served a package");
    assert!(
        !body.starts_with(b"SQLite format"),
        "{shown} served the database"
    );
    assert!(
        !text.contains("root:x:") && !text.contains("[fonts]"),
        "{shown} served a system file: {}",
        &text[..200.min(text.len())]
    );
}

async fn run_corpus(app: &psserver::App, positions: &[Position], real_ids: &[&str]) -> usize {
    let mut corpus = Vec::new();
    for id in real_ids {
        corpus.extend(traversal_corpus(id));
    }
    corpus.sort();
    corpus.dedup();
    assert!(corpus.len() >= 40);
    let auth = basic(ADMIN.0, ADMIN.1);
    let mut sent = 0;
    for trick in &corpus {
        for segment in [trick.clone(), encode_all(trick)] {
            for position in positions {
                let uri = (position.target)(&segment);
                let Ok(parsed) = Uri::try_from(uri.as_str()) else {
                    continue; // not a request target any client can send
                };
                let methods: &[&str] = if position.method == "GET" {
                    &["GET", "HEAD"]
                } else {
                    &[position.method]
                };
                for method in methods {
                    let body = position
                        .body
                        .clone()
                        .map_or_else(Body::empty, |v| Body::from(v.to_string()));
                    let request = Request::builder()
                        .method(*method)
                        .uri(parsed.clone())
                        .header("authorization", &auth)
                        .header("content-type", "application/json")
                        .body(body)
                        .unwrap();
                    let reply = send(app, request).await;
                    sent += 1;
                    let shown = format!("{method} {}", &uri[..uri.len().min(120)]);
                    assert!(
                        !reply.status.is_server_error(),
                        "{shown} -> {}: {}",
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                    );
                    if position.in_query {
                        assert!(
                            reply.status == StatusCode::OK || reply.status.is_client_error(),
                            "{shown} -> {}",
                            reply.status
                        );
                    } else {
                        assert!(
                            reply.status.is_client_error(),
                            "{shown} -> {}: {}",
                            reply.status,
                            String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)])
                        );
                        // An error echoes at most a short piece of the input.
                        assert!(
                            reply.body.len() < 16 * 1024,
                            "{shown}: a {}-byte error",
                            reply.body.len()
                        );
                    }
                    assert_nothing_leaked(&shown, &reply.body);
                }
            }
        }
    }
    sent
}

#[tokio::test]
async fn api_routes_refuse_every_trick_with_a_4xx() {
    let (app, _state, _dir) = common::test_app().await;
    let ids = make_ids(&app).await;
    let real = [
        ids.source.as_str(),
        ids.task.as_str(),
        ids.transformation.as_str(),
        ids.operation.as_str(),
    ];
    let mut positions = api_positions(API);
    positions.extend(api_positions(ALIAS));
    // The control plane's one route with an id.
    positions.push(at("DELETE", |t| format!("/_emu/faults/{t}")));
    let sent = run_corpus(&app, &positions, &real).await;
    assert!(sent > 40 * positions.len(), "only {sent} requests sent");

    // The real things are all still there: no trick reached them.
    for path in [
        format!("/sources/{}", ids.source),
        format!("/tasks/{}", ids.task),
        format!("/transformations/{}", ids.transformation),
        format!("/operations/{}", ids.operation),
    ] {
        let reply = app.get_as(&format!("{API}{path}"), ADMIN).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
    }
    let task = app
        .get_as(&format!("{API}/tasks/{}", ids.task), ADMIN)
        .await
        .json();
    assert_eq!(task["state"], "active", "no trick dismissed the task");
}

#[tokio::test]
async fn pages_and_static_files_refuse_every_trick_with_a_4xx() {
    let (app, _state, _dir) = common::test_app().await;
    let ids = make_ids(&app).await;
    let real = [ids.source.as_str(), ids.operation.as_str()];
    let positions = page_positions();
    let sent = run_corpus(&app, &positions, &real).await;
    assert!(sent > 40 * positions.len(), "only {sent} requests sent");
    // The assets themselves are served.
    let reply = send(
        &app,
        Request::builder()
            .uri("/static/app.css")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}
