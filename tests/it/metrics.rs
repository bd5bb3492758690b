//! `GET /metrics`: the exposition parses, and counts what the server did.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{API, AppExt, basic, send, test_app, test_app_with};
use serde_json::json;

/// One sample: its name and labels, and its value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parse the exposition strictly: every line is a `#` comment or `name{labels} value`.
fn parse(text: &str) -> Vec<Sample> {
    assert!(text.ends_with("# EOF\n"), "no EOF marker:\n{text}");
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with("# ") {
            let kind = line.split(' ').nth(1).unwrap();
            assert!(
                ["HELP", "TYPE", "UNIT", "EOF"].contains(&kind),
                "comment: {line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value: {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("labels: {line}"));
                let labels = body
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name, labels)
            }
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "name: {line}"
        );
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

/// The value of the one sample with this name and these labels (others may be present).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0].value
}

async fn scrape(app: &psserver::App) -> Vec<Sample> {
    let reply = app.call("GET", "/metrics", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        reply.header("content-type")
    );
    parse(std::str::from_utf8(&reply.body).unwrap())
}

#[tokio::test]
async fn metrics_count_requests_downloads_operations_and_tasks() {
    let (app, _, _dir) = test_app().await;
    let sources = format!("{API}/sources");
    // Three reads of one source under different ids: one route template.
    for _ in 0..3 {
        let id = uuid::Uuid::new_v4();
        let reply = app.call("GET", &format!("{sources}/{id}"), None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    }
    app.call("GET", &format!("{API}/nothing/here"), None).await;

    // A download.
    let latest = app
        .call(
            "GET",
            &format!("{API}/driverPackages/latest?platform=windows-x64"),
            None,
        )
        .await
        .json();
    let size = latest["size"].as_u64().unwrap();
    let id = latest["id"].as_str().unwrap();
    let reply = app
        .call("GET", &format!("{API}/driverPackages/{id}/content"), None)
        .await;
    assert_eq!(reply.body.len() as u64, size);

    // A replication, on a machine whose driver waits for a reboot (a task).
    let source = app
        .call(
            "POST",
            &sources,
            Some(json!({"hostName": "WIN-M", "osFamily": "windows", "ipAddress": "10.0.0.9"})),
        )
        .await
        .json();
    let src = source["id"].as_str().unwrap();
    app.call(
        "PUT",
        &format!("{sources}/{src}/driverState"),
        Some(json!({"installedVersion": "8.0.0.11"})),
    )
    .await;
    let t = app
        .call(
            "POST",
            &format!("{API}/transformations"),
            Some(json!({"sourceId": src})),
        )
        .await
        .json();
    let t = t["id"].as_str().unwrap();
    for op in ["Prepare", "Migrate"] {
        let reply = app
            .call(
                "POST",
                &format!("{API}/transformations/{t}?operation={op}"),
                Some(json!({})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{op}");
        let href = reply.json()["operation"]["href"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut done = false;
        for _ in 0..500 {
            let status = app.call("GET", &href, None).await.json()["status"].clone();
            if !matches!(status.as_str(), Some("queued" | "running")) {
                done = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(done, "{op} never finished");
    }

    let m = scrape(&app).await;
    let requests = "psserver_http_requests_total";
    assert_eq!(
        value(
            &m,
            requests,
            &[
                ("method", "GET"),
                ("route", "/MigrateApi/2019.8/sources/{id}"),
                ("status", "404")
            ]
        ),
        3.0
    );
    assert!(
        !m.iter()
            .any(|s| s.labels.get("route").is_some_and(|r| r.contains("-4"))),
        "no ids in route labels"
    );
    assert_eq!(
        value(
            &m,
            requests,
            &[
                ("method", "POST"),
                ("route", "/MigrateApi/2019.8/sources"),
                ("status", "201")
            ]
        ),
        1.0
    );
    // Paths nothing implements share one label.
    assert_eq!(
        value(
            &m,
            requests,
            &[("method", "GET"), ("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    // Latency: a histogram per route whose count matches the requests.
    let route = [
        ("method", "GET"),
        ("route", "/MigrateApi/2019.8/sources/{id}"),
    ];
    assert_eq!(
        value(&m, "psserver_http_request_duration_seconds_count", &route),
        3.0
    );
    let inf = value(
        &m,
        "psserver_http_request_duration_seconds_bucket",
        &[route[0], route[1], ("le", "+Inf")],
    );
    assert_eq!(inf, 3.0);
    let sum = value(&m, "psserver_http_request_duration_seconds_sum", &route);
    assert!(sum > 0.0 && sum < 30.0, "{sum}");

    assert_eq!(
        value(&m, "psserver_driver_downloads_total", &[("kind", "full")]),
        1.0
    );
    assert_eq!(
        value(&m, "psserver_driver_download_bytes_sent_total", &[]),
        size as f64
    );
    // The package downloaded whole is kept in memory for the next downloads.
    assert_eq!(value(&m, "psserver_package_cache_bytes", &[]), size as f64);
    assert_eq!(value(&m, "psserver_operations_active", &[]), 0.0);
    let finished: f64 = ["succeeded", "succeededWithWarnings"]
        .iter()
        .map(|s| value(&m, "psserver_operations", &[("status", s)]))
        .sum();
    assert_eq!(finished, 2.0);
    assert_eq!(
        value(&m, "psserver_operations", &[("status", "failed")]),
        0.0
    );
    assert_eq!(value(&m, "psserver_tasks", &[("state", "active")]), 1.0);
    assert_eq!(value(&m, "psserver_tasks", &[("state", "resolved")]), 0.0);

    // A scrape counts itself on the next one.
    let m = scrape(&app).await;
    assert!(
        value(
            &m,
            requests,
            &[("method", "GET"), ("route", "/metrics"), ("status", "200")]
        ) >= 1.0
    );
}

#[tokio::test]
async fn injected_faults_are_counted() {
    let (app, _, _dir) = test_app().await;
    let reply = app
        .call(
            "POST",
            "/_emu/faults",
            Some(json!({"path": "/MigrateApi/2019.8/tasks", "times": 2})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    for _ in 0..3 {
        app.call("GET", &format!("{API}/tasks"), None).await;
    }
    let m = scrape(&app).await;
    assert_eq!(
        value(&m, "psserver_faults_injected_total", &[("action", "error")]),
        2.0
    );
    let route = ("route", "/MigrateApi/2019.8/tasks");
    assert_eq!(
        value(
            &m,
            "psserver_http_requests_total",
            &[route, ("status", "503")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &m,
            "psserver_http_requests_total",
            &[route, ("status", "200")]
        ),
        1.0
    );
}

#[tokio::test]
async fn metrics_need_an_administrator() {
    let (app, _, _dir) = test_app_with(|c| c.operator_password = Some("op".into())).await;
    let reply = send(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.header("www-authenticate").is_some());
    let reply = send(
        &app,
        Request::get("/metrics")
            .header("authorization", basic("operator", "op"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn polls_between_writes_are_answered_from_memory() {
    let (app, _, _dir) = test_app().await;
    let body = json!({"hostName": "poll-1", "osFamily": "windows", "ipAddress": "10.0.0.9"});
    let created = app
        .call("POST", &format!("{API}/sources"), Some(body.clone()))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let poll = format!("{API}/sources/{id}");
    for _ in 0..3 {
        assert_eq!(app.call("GET", &poll, None).await.status, StatusCode::OK);
    }
    // Any write moves the generation: the next poll reads again, the one after does not.
    let other = json!({"hostName": "poll-2", "osFamily": "windows", "ipAddress": "10.0.0.10"});
    app.call("POST", &format!("{API}/sources"), Some(other))
        .await;
    for _ in 0..2 {
        assert_eq!(app.call("GET", &poll, None).await.status, StatusCode::OK);
    }
    let m = scrape(&app).await;
    let answers = |result| value(&m, "psserver_poll_answers_total", &[("result", result)]);
    assert_eq!(answers("miss"), 2.0);
    assert_eq!(answers("hit"), 3.0);
}
