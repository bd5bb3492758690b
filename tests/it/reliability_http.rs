//! Reliability: HTTP semantics of the package downloads beyond `tests/it/packages.rs` (which has the
//! single-range table, If-Range and If-None-Match on their own): If-None-Match together with
//! If-Modified-Since (RFC 9110 §13.2.2), HEAD answered with GET's headers on every package
//! route (§9.3.2), many ranges and numbers beyond u64 in a Range (§14.1.1, §14.2).

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{API as B, AppExt, Reply, send};
use psserver::App;
use sha2::{Digest, Sha256};

const LONG_AGO: &str = "Thu, 01 Jan 1970 00:00:00 GMT";
const FAR_AHEAD: &str = "Fri, 01 Jan 2100 00:00:00 GMT";

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

fn sample(platform: &str, version: &str) -> Vec<u8> {
    std::fs::read(common::repo_packages().join(format!("{platform}/{version}.package"))).unwrap()
}

fn etag_of(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(bytes)))
}

/// The three ways to download one package (windows-x64 8.0.0.12, the latest of its platform).
async fn content_uris(app: &App) -> Vec<String> {
    let latest = app
        .get_with(
            &format!("{B}/driverPackages/latest?platform=windows-x64"),
            &[],
        )
        .await
        .json();
    let latest = if latest["driverPackages"].is_array() {
        latest["driverPackages"][0].clone()
    } else {
        latest
    };
    assert_eq!(latest["version"], "8.0.0.12", "{latest}");
    let id = latest["id"].as_str().unwrap();
    vec![
        format!("{B}/driverPackages/{id}/content"),
        format!("{B}/driverPackages/windows-x64/8.0.0.12/content"),
        format!("{B}/driverPackages/latest/content?platform=windows-x64"),
    ]
}

/// The headers that describe a response, without the per-request ones.
fn described(reply: &Reply) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = reply
        .headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    headers.sort();
    headers
}

#[tokio::test]
async fn if_none_match_wins_over_if_modified_since() {
    let (app, _state, _dir) = common::test_app().await;
    let file = sample("windows-x64", "8.0.0.12");
    let etag = etag_of(&file);
    let stale = format!("\"{}\"", "0".repeat(64));
    for uri in content_uris(&app).await {
        for method in ["GET", "HEAD"] {
            // The tag matches: 304, even though the date alone would say "modified since 1970".
            let reply = send(
                &app,
                request(
                    method,
                    &uri,
                    &[("if-none-match", &etag), ("if-modified-since", LONG_AGO)],
                ),
            )
            .await;
            assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "{method} {uri}");
            assert_eq!(reply.header("etag"), Some(etag.as_str()));
            assert!(reply.body.is_empty());

            // The tag is stale: the whole file, even though the date alone would give a 304.
            let reply = send(
                &app,
                request(
                    method,
                    &uri,
                    &[("if-none-match", &stale), ("if-modified-since", FAR_AHEAD)],
                ),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK, "{method} {uri}");
            assert_eq!(
                reply.header("content-length"),
                Some(file.len().to_string().as_str())
            );
            if method == "GET" {
                assert_eq!(reply.body, file);
            }

            // A date alone cannot hold: the server gives no Last-Modified (its ETag is the one
            // validator), so If-Modified-Since is ignored (§13.1.3).
            let reply = send(
                &app,
                request(method, &uri, &[("if-modified-since", FAR_AHEAD)]),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK, "{method} {uri}");
            assert_eq!(reply.header("last-modified"), None);

            // A malformed date is ignored too, with or without a tag.
            let reply = send(
                &app,
                request(
                    method,
                    &uri,
                    &[("if-none-match", &etag), ("if-modified-since", "yesterday")],
                ),
            )
            .await;
            assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "{method} {uri}");
        }
        // The same with a Range: a matching tag still wins (304), a stale one gives the range.
        let reply = app
            .get_with(
                &uri,
                &[
                    ("if-none-match", &etag),
                    ("if-modified-since", LONG_AGO),
                    ("range", "bytes=0-9"),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "{uri}");
        let reply = app
            .get_with(
                &uri,
                &[
                    ("if-none-match", &stale),
                    ("if-modified-since", FAR_AHEAD),
                    ("range", "bytes=0-9"),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT, "{uri}");
        assert_eq!(reply.body, &file[..10]);
    }

    // The static assets: the same rule.
    let asset = app.get_with("/static/app.css", &[]).await;
    let asset_tag = asset.header("etag").unwrap().to_owned();
    let reply = app
        .get_with(
            "/static/app.css",
            &[
                ("if-none-match", &asset_tag),
                ("if-modified-since", LONG_AGO),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
    let reply = app
        .get_with(
            "/static/app.css",
            &[
                ("if-none-match", "\"old\""),
                ("if-modified-since", FAR_AHEAD),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, asset.body);
}

#[tokio::test]
async fn head_answers_with_the_headers_of_get_on_every_package_route() {
    let (app, _state, _dir) = common::test_app().await;
    let file = sample("windows-x64", "8.0.0.12");
    let etag = etag_of(&file);
    let uris = content_uris(&app).await;
    let id_uri = uris[0].trim_end_matches("/content").to_owned();
    let mut all = uris.clone();
    all.extend([
        format!("{B}/driverPackages"),
        format!("{B}/driverPackages?platform=linux-x64"),
        format!("{B}/driverPackages?offset=1&limit=2"),
        format!("{B}/driverPackages/latest"),
        format!("{B}/driverPackages/latest?platform=windows-x86"),
        id_uri,
        format!("{B}/driverPackages/platforms"),
        // Errors too: HEAD of what GET refuses gets the same status and headers.
        format!("{B}/driverPackages/00000000-0000-4000-8000-000000000000/content"),
        format!("{B}/driverPackages/not-an-id/content"),
        format!("{B}/driverPackages/windows-x64/9.9.9.9/content"),
        format!("{B}/driverPackages/latest/content"),
        format!("{B}/driverPackages/latest/content?platform=beos"),
        format!("{B}/driverPackages?platform=beos"),
    ]);
    let conditions: &[&[(&str, &str)]] = &[
        &[],
        &[("if-none-match", etag.as_str())],
        &[("if-none-match", "\"stale\"")],
        &[("accept-encoding", "gzip")],
    ];
    for uri in &all {
        for headers in conditions {
            let full = app.get_with(uri, headers).await;
            let head = send(&app, request("HEAD", uri, headers)).await;
            assert_eq!(head.status, full.status, "HEAD {uri} {headers:?}");
            assert_eq!(described(&head), described(&full), "HEAD {uri} {headers:?}");
            assert!(head.body.is_empty(), "HEAD {uri} has a body");
            if full.status == StatusCode::OK && uris.contains(uri) {
                assert_eq!(full.body, file, "{uri}");
            }
        }
    }
}

#[tokio::test]
async fn many_ranges_and_numbers_beyond_u64() {
    let (app, _state, _dir) = common::test_app().await;
    let uri = content_uris(&app).await.remove(0);
    let file = sample("windows-x64", "8.0.0.12");
    let len = file.len();
    let last = len - 1;

    // Several ranges are answered with the whole file (no multipart; §14.2 lets a server ignore
    // Range), however many there are, and quickly.
    let thousand: String = (0..1000)
        .map(|i| format!("{i}-{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let overlapping = vec!["0-"; 5000].join(",");
    let many_suffixes = vec!["-1"; 5000].join(",");
    for set in [
        "0-0,2-2".to_owned(),
        thousand,
        overlapping,
        many_suffixes,
        format!("0-{last},0-{last}"),
    ] {
        let range = format!("bytes={set}");
        let started = std::time::Instant::now();
        let reply = app.get_with(&uri, &[("range", &range)]).await;
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let shown = &range[..range.len().min(40)];
        assert_eq!(reply.status, StatusCode::OK, "{shown}");
        assert_eq!(reply.header("content-range"), None, "{shown}");
        assert_eq!(reply.body, file, "{shown}");
    }
    // Empty list elements are allowed (§5.6.1): one range in a list with empty elements is one
    // range.
    let reply = app.get_with(&uri, &[("range", "bytes=, ,0-9,,")]).await;
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(reply.body, &file[..10]);

    let max = u64::MAX;
    let beyond = "18446744073709551616"; // u64::MAX + 1
    let huge = "9".repeat(100);
    let whole = format!("bytes 0-{last}/{len}");
    let cases: Vec<(String, StatusCode, Option<String>)> = vec![
        // A last position beyond u64 is past the end: clipped to the file.
        (
            format!("bytes=0-{max}"),
            StatusCode::PARTIAL_CONTENT,
            Some(whole.clone()),
        ),
        (
            format!("bytes=0-{beyond}"),
            StatusCode::PARTIAL_CONTENT,
            Some(whole.clone()),
        ),
        (
            format!("bytes=10-{huge}"),
            StatusCode::PARTIAL_CONTENT,
            Some(format!("bytes 10-{last}/{len}")),
        ),
        // A suffix beyond u64 is the whole file.
        (
            format!("bytes=-{max}"),
            StatusCode::PARTIAL_CONTENT,
            Some(whole.clone()),
        ),
        (
            format!("bytes=-{beyond}"),
            StatusCode::PARTIAL_CONTENT,
            Some(whole.clone()),
        ),
        (
            format!("bytes=-{huge}"),
            StatusCode::PARTIAL_CONTENT,
            Some(whole),
        ),
        // A first position beyond the end (or u64) cannot be satisfied.
        (
            format!("bytes={max}-"),
            StatusCode::RANGE_NOT_SATISFIABLE,
            None,
        ),
        (
            format!("bytes={max}-{max}"),
            StatusCode::RANGE_NOT_SATISFIABLE,
            None,
        ),
        (
            format!("bytes={beyond}-{beyond}"),
            StatusCode::RANGE_NOT_SATISFIABLE,
            None,
        ),
        (
            format!("bytes={huge}-"),
            StatusCode::RANGE_NOT_SATISFIABLE,
            None,
        ),
        // Last before first (both beyond u64 or not): invalid, so ignored.
        (format!("bytes={beyond}-1"), StatusCode::OK, None),
        (format!("bytes={huge}-{beyond}"), StatusCode::OK, None),
        // Signs, spaces inside numbers and other junk: ignored.
        ("bytes=+0-9".to_owned(), StatusCode::OK, None),
        ("bytes=-+9".to_owned(), StatusCode::OK, None),
        ("bytes=0-9-".to_owned(), StatusCode::OK, None),
        ("bytes=1 0-20".to_owned(), StatusCode::OK, None),
        ("bytes=0--9".to_owned(), StatusCode::OK, None),
        ("bytes=٠-٩".to_owned(), StatusCode::OK, None),
    ];
    for (range, status, content_range) in cases {
        let reply = app.get_with(&uri, &[("range", &range)]).await;
        let shown = &range[..range.len().min(60)];
        assert_eq!(reply.status, status, "{shown}");
        match status {
            StatusCode::PARTIAL_CONTENT => {
                let cr = content_range.unwrap();
                assert_eq!(reply.header("content-range"), Some(cr.as_str()), "{shown}");
                let start: usize = cr[6..].split('-').next().unwrap().parse().unwrap();
                assert_eq!(reply.body, &file[start..], "{shown}");
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                assert_eq!(
                    reply.header("content-range"),
                    Some(format!("bytes */{len}").as_str()),
                    "{shown}"
                );
            }
            _ => assert_eq!(reply.body, file, "{shown}"),
        }
    }
    // If-Range with a date, when the server gives no Last-Modified: it cannot hold, whole file.
    let reply = app
        .get_with(&uri, &[("range", "bytes=0-9"), ("if-range", FAR_AHEAD)])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, file);
}
