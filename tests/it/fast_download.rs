//! The app answers package downloads before its router (`psserver::App`, for speed). These tests
//! hold it to the router's answers: for every path and header set of a corpus, the app and its
//! router alone answer with the same status, headers and bytes; and a download the app answers
//! itself is still counted, journalled and open to fault rules as the router's are.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{ADMIN, API, API_ALIAS, AppExt, Reply, admin, json_body, send, test_app};
use psserver::http::shortcut::{Base, Download, Route};
use serde_json::json;

/// A GET with headers, and a fixed request id: the app's answer and the router's carry it. With
/// one `Host`, as over a connection: the app takes no request without.
fn get(uri: &str, headers: &[(&str, String)]) -> Request<Body> {
    let mut builder = Request::get(uri)
        .header("host", "psserver.test")
        .header("x-request-id", "fast-download-test");
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    builder.body(Body::empty()).unwrap()
}

fn id_of(list: &Reply, platform: &str, version: &str) -> String {
    list.json()["driverPackages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["platform"] == platform && p["version"] == version)
        .unwrap_or_else(|| panic!("no {platform} {version}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Which route and base the shortcut takes a path for, if it takes it.
fn taken_as(path: &str) -> Option<(Base, Route)> {
    Download::parse(path).map(|(base, download)| (base, download.route()))
}

#[test]
fn only_download_paths_whose_parameters_parse_are_taken_before_the_router() {
    let id = "0b9e6a4e-4a86-4c1b-9d0a-3c0e1f2a3b4c";
    for (path, route) in [
        (format!("{API}/driverPackages/{id}/content"), Route::ById),
        (
            format!("{API_ALIAS}/driverPackages/{id}/content"),
            Route::ById,
        ),
        // Every form of a UUID its parser reads, as the router's handler reads them.
        (
            format!("{API}/driverPackages/0B9E6A4E4A864C1B9D0A3C0E1F2A3B4C/content"),
            Route::ById,
        ),
        (
            format!("{API}/driverPackages/urn:uuid:{id}/content"),
            Route::ById,
        ),
        (
            format!("{API}/driverPackages/linux-x64/8.0.0.11/content"),
            Route::ByVersion,
        ),
        (
            format!("{API_ALIAS}/driverPackages/windows-x86/08.0.0.011/content"),
            Route::ByVersion,
        ),
    ] {
        let base = if path.starts_with(API_ALIAS) {
            Base::Alias
        } else {
            Base::Current
        };
        assert_eq!(taken_as(&path), Some((base, route)), "{path}");
    }
    assert_eq!(
        Download::parse(&format!("{API}/driverPackages/linux-x64/8.0.0.11/content")),
        Some((
            Base::Current,
            Download::ByVersion("linux-x64".parse().unwrap(), "8.0.0.11".parse().unwrap())
        ))
    );
    // Everything else is the router's, its errors included.
    for path in [
        format!("{API}/driverPackages/latest/content"),
        format!("{API}/driverPackages/not-an-id/content"),
        format!("{API}/driverPackages/{id}x/content"),
        format!("{API}/driverPackages/linux/8.0.0.11/content"),
        format!("{API}/driverPackages/LINUX-X64/8.0.0.11/content"),
        format!("{API}/driverPackages/linux-x64/9.x/content"),
        format!("{API}/driverPackages/linux-x64/8.0.0/content"),
        format!("{API}/driverPackages/linux-x64/99999999.0.0.1/content"),
        format!("{API}/driverPackages/../../content"),
        format!("{API}/driverPackages/content"),
        format!("{API}/driverPackages//content"),
        format!("{API}/driverPackages/{id}"),
        format!("{API}/driverPackages/{id}/content/"),
        format!("{API}/driverPackages/{id}/content/x"),
        format!("{API}/driverPackages/linux-x64//8.0.0.11/content"),
        format!("{API}/driverPackages/linux-x64/8.0.0.11/extra/content"),
        format!("{API}/driverPackages/linux%2Dx64/8.0.0.11/content"),
        format!("{API}/driverPackages/linux-x64/8.0.0.11%00/content"),
        format!("{API}/driverPackages/%30b9e6a4e-4a86-4c1b-9d0a-3c0e1f2a3b4c/content"),
        format!("{API}/driverPackages/linux x64/8.0.0.11/content"),
        format!("{API}x/driverPackages/{id}/content"),
        format!("{API}/x/driverPackages/{id}/content"),
        format!("/MigrateApi/2019.7/driverPackages/{id}/content"),
        format!("/driverPackages/{id}/content"),
    ] {
        assert_eq!(taken_as(&path), None, "{path} taken");
    }
}

#[tokio::test]
async fn the_app_and_its_router_answer_every_download_alike() {
    let (app, _state, _dir) = test_app().await;
    let router = app.router_only();
    let list = send(&app, get(&format!("{API}/driverPackages"), &[])).await;
    assert_eq!(list.status, StatusCode::OK);
    let id = id_of(&list, "windows-x64", "8.0.0.12");
    let whole = send(
        &router,
        get(&format!("{API}/driverPackages/{id}/content"), &[]),
    )
    .await;
    assert_eq!(whole.status, StatusCode::OK);
    let etag = whole.header("etag").unwrap().to_owned();

    // The package's id in every form a UUID's parser reads, escaped, and wrong by one character.
    let ids = [
        id.clone(),
        id.to_uppercase(),
        id.replace('-', ""),
        format!("urn:uuid:{id}"),
        format!("{{{id}}}"),
        format!("%7B{id}%7D"),
        format!("%{:02X}{}", id.as_bytes()[0], &id[1..]),
        format!("{id}0"),
        id[1..].to_owned(),
    ];
    let mut paths = Vec::new();
    for base in [API, API_ALIAS] {
        for id in &ids {
            paths.push(format!("{base}/driverPackages/{id}/content"));
        }
        for segments in [
            "windows-x64/8.0.0.12",
            "windows-x64/8.0.0.11",
            "linux-x64/8.0.0.11",
            "linux-x64/8.0.0.99",
            "LINUX-X64/8.0.0.11",
            "linux-x64/08.0.0.11",
            "windows-x64/8.0.00.012",
            "windows-x86/8.0.0.11",
            "linux-x64/0.0.0.0",
            "linux-x64/65535.65535.65535.65535",
            "linux-x64/65536.0.0.1",
            "linux-x64/%38.0.0.11",
            "linux-x64/8.0.0.11.",
            "linux-x64/8.0.0",
            "linux-x64/99999999.0.0.1",
            "linux/8.0.0.11",
            "latest/8.0.0.11",
            "windows-x64/latest",
            "00000000-0000-0000-0000-000000000000",
            "0B9E6A4E4A864C1B9D0A3C0E1F2A3B4C",
            "not-an-id",
            "..",
            "../..",
            ".",
            "_",
            "linux-x64/..",
            "%2e%2e",
            "linux%2Dx64/8.0.0.11",
            "latest",
        ] {
            paths.push(format!("{base}/driverPackages/{segments}/content"));
        }
    }
    paths.push(format!(
        "{API}/driverPackages/{id}/content?platform=linux-x64"
    ));
    let header_sets: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("range", "bytes=0-99".into())],
        vec![("range", "bytes=-0".into())],
        vec![("range", "bytes=5-1".into())],
        vec![("range", "bytes=0-0,10-20".into())],
        vec![("range", "bytes=99999999-".into())],
        vec![("if-none-match", etag.clone())],
        vec![
            ("if-none-match", "\"stale\"".into()),
            ("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT".into()),
        ],
        vec![
            ("range", "bytes=10-".into()),
            ("if-range", "\"stale\"".into()),
        ],
        vec![("range", "bytes=10-".into()), ("if-range", etag.clone())],
    ];

    let mut taken = 0;
    let mut statuses = std::collections::BTreeSet::new();
    for path in &paths {
        if taken_as(path.split('?').next().unwrap()).is_some() {
            taken += 1;
        }
        for headers in &header_sets {
            let by_app = send(&app, get(path, headers)).await;
            let by_router = send(&router, get(path, headers)).await;
            let what = format!("GET {path} with {headers:?}");
            assert_eq!(by_app.status, by_router.status, "{what}");
            assert_eq!(by_app.headers, by_router.headers, "{what}");
            assert!(by_app.body == by_router.body, "{what}: the bodies differ");
            statuses.insert(by_app.status.as_u16());
        }
    }
    // The corpus takes the app's own way for most paths, and sees every kind of answer.
    assert!(
        taken >= 30,
        "only {taken} paths were taken before the router"
    );
    for status in [200, 206, 304, 400, 404, 416] {
        assert!(statuses.contains(&status), "no {status} in {statuses:?}");
    }
}

#[tokio::test]
async fn a_download_taken_before_the_router_is_counted_journalled_and_faulted() {
    let (app, _state, _dir) = test_app().await;
    let path = format!("{API}/driverPackages/linux-x64/8.0.0.11/content");
    assert!(taken_as(&path).is_some());
    assert_eq!(send(&app, get(&path, &[])).await.status, StatusCode::OK);

    // Counted under its route's template, in the same series as the router's answers.
    let series = format!(
        r#"psserver_http_requests_total{{method="GET",route="{API}/driverPackages/{{platform}}/{{version}}/content",status="200"}}"#
    );
    let metrics = app.get_as("/metrics", ADMIN).await;
    let count = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .map(|v| v.trim().to_owned())
    };
    assert_eq!(
        count(&String::from_utf8_lossy(&metrics.body)).as_deref(),
        Some("1")
    );
    assert_eq!(
        send(&app.router_only(), get(&path, &[])).await.status,
        StatusCode::OK
    );
    let metrics = app.get_as("/metrics", ADMIN).await;
    assert_eq!(
        count(&String::from_utf8_lossy(&metrics.body)).as_deref(),
        Some("2")
    );

    // Journalled, with its request id.
    let journal = app.get_as("/_emu/requests", ADMIN).await.json();
    let entries = journal["requests"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["path"] == path.as_str()
            && e["status"] == 200
            && e["requestId"] == "fast-download-test"),
        "{journal}"
    );

    // Open to fault rules.
    let rule = send(
        &app,
        admin("POST", "/_emu/faults")
            .header("content-type", "application/json")
            .body(json_body(
                json!({"method": "GET", "path": "*/content", "action": "error", "status": 503}),
            ))
            .unwrap(),
    )
    .await;
    assert!(rule.status.is_success(), "{}", rule.json());
    let faulted = send(&app, get(&path, &[])).await;
    assert_eq!(faulted.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(faulted.header("x-request-id"), Some("fast-download-test"));
    // And the fault's answer is the router's, headers and all.
    let by_router = send(&app.router_only(), get(&path, &[])).await;
    assert_eq!(faulted.status, by_router.status);
    assert_eq!(faulted.headers, by_router.headers);
    assert!(faulted.body == by_router.body, "the faults' bodies differ");
}
