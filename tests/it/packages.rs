//! Router tests for the driver package endpoints (SPEC 3.1, 4 and 6): the list, the latest per
//! platform, uploads, rescans and the download with its validators and ranges, plus traversal
//! tricks, files that change on disk, and a large package streamed both ways.

use crate::common;

use std::path::{Path, PathBuf};

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, Uri};
use base64::Engine;
use common::corpus::{encode_all, traversal_corpus};
use common::{API as B, AppExt, Reply, admin, send};
use psserver::App;
use psserver::domain::platform::Platform;
use psserver::domain::version::DriverVersion;
use psserver::drivers::package::build_bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};

const ALIAS: &str = "/MigrateApi/2019.5";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn v(text: &str) -> DriverVersion {
    text.parse().expect("a valid version")
}

fn p(text: &str) -> Platform {
    text.parse().expect("a valid platform")
}

/// A valid package for a platform and version, as `build_bytes` makes them.
fn package_bytes(platform: &str, version: &str) -> Vec<u8> {
    build_bytes(p(platform), v(version))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `Repr-Digest` of some bytes (RFC 9530): `sha-256=:<base64>:`.
fn repr_digest(bytes: &[u8]) -> String {
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
    )
}

/// A request without credentials.
fn anon(method: &str, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .expect("request")
}

fn upload_uri(platform: &str, version: &str) -> String {
    format!("{B}/driverPackages?platform={platform}&version={version}")
}

/// An administrator's upload with a declared Content-Length.
fn upload(platform: &str, version: &str, body: Vec<u8>) -> Request<Body> {
    admin("POST", &upload_uri(platform, version))
        .header("content-type", "application/zip")
        .header("content-length", body.len())
        .body(Body::from(body))
        .expect("request")
}

/// A body sent in chunks, with no Content-Length (as with chunked transfer encoding).
fn streamed(bytes: &[u8], chunk: usize) -> Body {
    let chunks: Vec<Result<Bytes, std::io::Error>> = bytes
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Body::from_stream(futures_util::stream::iter(chunks))
}

fn rescan() -> Request<Body> {
    admin("POST", &format!("{B}/driverPackages?operation=Rescan"))
        .body(Body::empty())
        .expect("request")
}

/// Every package the list shows.
async fn all_packages(app: &App) -> Vec<Value> {
    let reply = app.get(&format!("{B}/driverPackages?limit=500")).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.json()["driverPackages"]
        .as_array()
        .expect("list")
        .clone()
}

/// The listed package of a platform and version.
async fn package(app: &App, platform: &str, version: &str) -> Value {
    all_packages(app)
        .await
        .into_iter()
        .find(|p| p["platform"] == platform && p["version"] == version)
        .unwrap_or_else(|| panic!("no {platform} {version} package listed"))
}

async fn id_of(app: &App, platform: &str, version: &str) -> String {
    package(app, platform, version).await["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

fn content_uri(id: &str) -> String {
    format!("{B}/driverPackages/{id}/content")
}

/// The file of a sample package in the repository.
fn sample_file(platform: &str, version: &str) -> Vec<u8> {
    std::fs::read(
        common::repo_packages()
            .join(platform)
            .join(format!("{version}.package")),
    )
    .expect("sample")
}

/// A copy of the repository's sample packages, to change without touching the repository.
fn copy_samples() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("driver-packages");
    for platform in Platform::ALL {
        let from = common::repo_packages().join(platform.as_str());
        let to = root.join(platform.as_str());
        std::fs::create_dir_all(&to).expect("mkdir");
        for entry in std::fs::read_dir(&from).expect("read samples") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
    (dir, root)
}

/// The names in the data directory's `packages/` folder (uploads and any temporary files).
fn upload_files(dir: &tempfile::TempDir) -> Vec<String> {
    let folder = dir.path().join("data").join("packages");
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// After a refused upload: nothing on disk, and the list still holds exactly the samples.
async fn assert_nothing_stored(app: &App, dir: &tempfile::TempDir) {
    assert_eq!(
        upload_files(dir),
        Vec::<String>::new(),
        "files left in packages/"
    );
    assert_eq!(all_packages(app).await.len(), 4, "a row was added");
}

fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(
        reply.status,
        status,
        "body: {}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.error_code(), code);
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(!message.is_empty(), "an error needs a message");
}

fn message(reply: &Reply) -> String {
    reply.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// The full-download headers every 200/206 carries for a package of these bytes.
fn assert_package_headers(reply: &Reply, bytes: &[u8], download_name: &str) {
    let sha = sha256_hex(bytes);
    assert_eq!(reply.header("etag"), Some(format!("\"{sha}\"").as_str()));
    assert_eq!(
        reply.header("repr-digest"),
        Some(repr_digest(bytes).as_str())
    );
    assert_eq!(reply.header("accept-ranges"), Some("bytes"));
    assert_eq!(reply.header("content-type"), Some("application/zip"));
    assert_eq!(
        reply.header("content-disposition"),
        Some(format!("attachment; filename=\"{download_name}\"").as_str())
    );
}

// ---------------------------------------------------------------------------------------------
// Reading: list, latest, one package, platforms, alias base
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_list_shows_the_four_samples_with_their_size_hash_and_links() {
    let (app, _state, _dir) = common::test_app().await;
    let reply = app.get(&format!("{B}/driverPackages")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["totalCount"], 4);
    let list = body["driverPackages"].as_array().expect("list");
    let mut seen: Vec<(String, String, bool)> = list
        .iter()
        .map(|p| {
            let (platform, version) = (
                p["platform"].as_str().unwrap(),
                p["version"].as_str().unwrap(),
            );
            let file = sample_file(platform, version);
            assert_eq!(p["size"], file.len(), "{platform} {version}");
            assert_eq!(p["sha256"], sha256_hex(&file), "{platform} {version}");
            assert_eq!(p["origin"], "sample");
            assert!(
                p["createdAt"]
                    .as_str()
                    .is_some_and(|t| t.ends_with('Z') || t.contains('+'))
            );
            let id = p["id"].as_str().unwrap();
            let links = p["links"].as_array().unwrap();
            let href = |rel: &str| {
                links
                    .iter()
                    .find(|l| l["rel"] == rel)
                    .map(|l| l["href"].clone())
            };
            assert_eq!(
                href("self"),
                Some(Value::from(format!("{B}/driverPackages/{id}")))
            );
            assert_eq!(href("content"), Some(Value::from(content_uri(id))));
            (
                platform.to_owned(),
                version.to_owned(),
                p["isLatest"].as_bool().unwrap(),
            )
        })
        .collect();
    seen.sort();
    let expected = [
        ("linux-x64", "8.0.0.11", true),
        ("windows-x64", "8.0.0.11", false),
        ("windows-x64", "8.0.0.12", true),
        ("windows-x86", "8.0.0.11", true),
    ];
    let expected: Vec<(String, String, bool)> = expected
        .iter()
        .map(|(p, v, l)| (p.to_string(), v.to_string(), *l))
        .collect();
    assert_eq!(seen, expected);
    let self_link = &body["links"][0];
    assert_eq!(self_link["rel"], "self");
    assert_eq!(
        self_link["href"],
        format!("{B}/driverPackages?offset=0&limit=50")
    );
}

#[tokio::test]
async fn the_list_filters_by_platform() {
    let (app, _state, _dir) = common::test_app().await;
    for (platform, count) in [("windows-x64", 2), ("windows-x86", 1), ("linux-x64", 1)] {
        let reply = app
            .get(&format!("{B}/driverPackages?platform={platform}"))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = reply.json();
        assert_eq!(body["totalCount"], count, "{platform}");
        let list = body["driverPackages"].as_array().unwrap();
        assert!(list.iter().all(|p| p["platform"] == platform), "{platform}");
        // The newest version comes first within a platform.
        assert_eq!(list[0]["isLatest"], true);
        assert!(
            body["links"][0]["href"]
                .as_str()
                .unwrap()
                .contains(&format!("platform={platform}"))
        );
    }
    // An empty filter is refused, not read as no filter: the document's platform is an enum
    // (issue 20 D2).
    let reply = app.get(&format!("{B}/driverPackages?platform=")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "InvalidParameter");
}

#[tokio::test]
async fn the_list_refuses_an_unknown_platform() {
    let (app, _state, _dir) = common::test_app().await;
    for platform in [
        "solaris",
        "Windows-x64",
        "windows_x64",
        "windows-x64%20",
        "%2e%2e",
    ] {
        let reply = app
            .get(&format!("{B}/driverPackages?platform={platform}"))
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidParameter");
        assert!(
            message(&reply).contains("platform"),
            "{platform}: {}",
            message(&reply)
        );
    }
}

#[tokio::test]
async fn the_list_is_paged() {
    let (app, _state, _dir) = common::test_app().await;
    let page = |query: &str| {
        let app = app.clone();
        let uri = format!("{B}/driverPackages?{query}");
        async move { app.get(&uri).await }
    };
    let links = |body: &Value| -> Vec<(String, String)> {
        body["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["rel"].as_str().unwrap().to_owned(),
                    l["href"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    let first = page("limit=1").await.json();
    assert_eq!(first["totalCount"], 4);
    assert_eq!(first["driverPackages"].as_array().unwrap().len(), 1);
    assert_eq!(
        links(&first),
        vec![
            (
                "self".into(),
                format!("{B}/driverPackages?offset=0&limit=1")
            ),
            (
                "next".into(),
                format!("{B}/driverPackages?offset=1&limit=1")
            ),
        ]
    );

    let last = page("offset=3&limit=1").await.json();
    assert_eq!(last["driverPackages"].as_array().unwrap().len(), 1);
    assert_eq!(
        links(&last),
        vec![
            (
                "self".into(),
                format!("{B}/driverPackages?offset=3&limit=1")
            ),
            (
                "prev".into(),
                format!("{B}/driverPackages?offset=2&limit=1")
            ),
        ]
    );

    // The pages, walked in order, give every package once.
    let mut ids = Vec::new();
    for offset in 0..4 {
        let body = page(&format!("offset={offset}&limit=1")).await.json();
        ids.push(body["driverPackages"][0]["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);

    // Past the end: an empty page, still counted.
    let beyond = page("offset=10").await.json();
    assert_eq!(beyond["driverPackages"], serde_json::json!([]));
    assert_eq!(beyond["totalCount"], 4);

    // Filters are kept in the paging links.
    let filtered = page("platform=windows-x64&limit=1").await.json();
    assert_eq!(
        links(&filtered)[1],
        (
            "next".into(),
            format!("{B}/driverPackages?platform=windows-x64&offset=1&limit=1")
        )
    );

    for (query, code) in [
        ("limit=0", "InvalidPaging"),
        ("limit=501", "InvalidPaging"),
        ("limit=abc", "InvalidQuery"),
        ("offset=-1", "InvalidQuery"),
        ("offset=1.5", "InvalidQuery"),
        ("limit=99999999999999999999", "InvalidQuery"),
    ] {
        let reply = page(query).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, code);
    }
}

#[tokio::test]
async fn latest_of_a_platform_is_its_highest_version() {
    let (app, _state, _dir) = common::test_app().await;
    for (platform, version) in [
        ("windows-x64", "8.0.0.12"),
        ("windows-x86", "8.0.0.11"),
        ("linux-x64", "8.0.0.11"),
    ] {
        let reply = app
            .get(&format!("{B}/driverPackages/latest?platform={platform}"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{platform}");
        let body = reply.json();
        assert_eq!(body["platform"], platform);
        assert_eq!(body["version"], version);
        assert_eq!(body["isLatest"], true);
        assert_eq!(body["sha256"], sha256_hex(&sample_file(platform, version)));
        let content = body["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "content")
            .unwrap();
        assert_eq!(content["href"], content_uri(body["id"].as_str().unwrap()));
    }
    let reply = app
        .get(&format!("{B}/driverPackages/latest?platform=beos"))
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidParameter");
}

#[tokio::test]
async fn latest_without_a_platform_lists_the_latest_of_each() {
    let (app, _state, _dir) = common::test_app().await;
    let reply = app.get(&format!("{B}/driverPackages/latest")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["totalCount"], 3);
    let mut latest: Vec<(String, String)> = body["driverPackages"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|p| assert_eq!(p["isLatest"], true))
        .map(|p| {
            (
                p["platform"].as_str().unwrap().into(),
                p["version"].as_str().unwrap().into(),
            )
        })
        .collect();
    latest.sort();
    assert_eq!(
        latest,
        vec![
            ("linux-x64".to_owned(), "8.0.0.11".to_owned()),
            ("windows-x64".to_owned(), "8.0.0.12".to_owned()),
            ("windows-x86".to_owned(), "8.0.0.11".to_owned()),
        ]
    );
}

#[tokio::test]
async fn one_package_by_id() {
    let (app, _state, _dir) = common::test_app().await;
    let listed = package(&app, "windows-x64", "8.0.0.11").await;
    let id = listed["id"].as_str().unwrap();
    let reply = app.get(&format!("{B}/driverPackages/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), listed);
    assert_eq!(reply.json()["isLatest"], false);

    let unknown = "00000000-0000-4000-8000-000000000000";
    for uri in [
        format!("{B}/driverPackages/{unknown}"),
        content_uri(unknown),
    ] {
        let reply = app.get(&uri).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "NotFound");
    }
    for bad in [
        "42",
        "not-an-id",
        "8.0.0.12",
        "00000000-0000-4000-8000-00000000000g",
    ] {
        for uri in [format!("{B}/driverPackages/{bad}"), content_uri(bad)] {
            let reply = app.get(&uri).await;
            assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidId");
        }
    }
}

#[tokio::test]
async fn platforms_name_their_latest_driver() {
    let (app, _state, _dir) = common::test_app().await;
    let reply = app.get(&format!("{B}/driverPackages/platforms")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["totalCount"], 3);
    let platforms = body["platforms"].as_array().unwrap();
    let by_name = |name: &str| {
        platforms
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("windows-x64")["latestDriverVersion"], "8.0.0.12");
    assert_eq!(by_name("windows-x64")["osFamily"], "windows");
    assert_eq!(by_name("windows-x86")["latestDriverVersion"], "8.0.0.11");
    assert_eq!(by_name("linux-x64")["osFamily"], "linux");
    assert_eq!(
        by_name("linux-x64")["links"][0]["href"],
        format!("{B}/driverPackages?platform=linux-x64")
    );
}

#[tokio::test]
async fn the_alias_base_links_to_itself() {
    let (app, _state, _dir) = common::test_app().await;
    let reply = app.get(&format!("{ALIAS}/driverPackages")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["totalCount"], 4);
    assert!(
        body["links"][0]["href"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{ALIAS}/driverPackages?"))
    );
    for pkg in body["driverPackages"].as_array().unwrap() {
        for link in pkg["links"].as_array().unwrap() {
            assert!(
                link["href"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{ALIAS}/")),
                "{link}"
            );
        }
    }
    let latest = app
        .get(&format!(
            "{ALIAS}/driverPackages/latest?platform=windows-x64"
        ))
        .await
        .json();
    let content = latest["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "content")
        .unwrap()
        .clone();
    let href = content["href"].as_str().unwrap();
    assert!(href.starts_with(ALIAS));
    let download = app.get(href).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, sample_file("windows-x64", "8.0.0.12"));
    let platforms = app
        .get(&format!("{ALIAS}/driverPackages/platforms"))
        .await
        .json();
    assert!(
        platforms["platforms"][0]["links"][0]["href"]
            .as_str()
            .unwrap()
            .starts_with(ALIAS)
    );
}

// ---------------------------------------------------------------------------------------------
// Uploads
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_upload_becomes_the_latest_package() {
    let (app, _state, dir) = common::test_app().await;
    let bytes = package_bytes("windows-x64", "8.0.0.13");
    let reply = send(&app, upload("windows-x64", "8.0.0.13", bytes.clone())).await;
    reply.assert_status(StatusCode::CREATED);
    let body = reply.json();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.header("location"),
        Some(format!("{B}/driverPackages/{id}").as_str())
    );
    assert_eq!(body["platform"], "windows-x64");
    assert_eq!(body["version"], "8.0.0.13");
    assert_eq!(body["size"], bytes.len());
    assert_eq!(body["sha256"], sha256_hex(&bytes));
    assert_eq!(body["isLatest"], true);
    assert_eq!(body["origin"], "upload");

    // The new latest, and the previous latest is no longer.
    let latest = app
        .get(&format!("{B}/driverPackages/latest?platform=windows-x64"))
        .await
        .json();
    assert_eq!(latest["id"], id.as_str());
    assert_eq!(
        package(&app, "windows-x64", "8.0.0.12").await["isLatest"],
        false
    );
    assert_eq!(all_packages(&app).await.len(), 5);
    let platforms = app
        .get(&format!("{B}/driverPackages/platforms"))
        .await
        .json();
    assert!(
        platforms["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["latestDriverVersion"] == "8.0.0.13")
    );

    // Stored under the data directory by its SHA-256, with no temporary file left.
    assert_eq!(
        upload_files(&dir),
        vec![format!("{}.package", sha256_hex(&bytes))]
    );

    // And served as uploaded.
    let download = app.get(&content_uri(&id)).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, bytes);
    assert_package_headers(
        &download,
        &bytes,
        "platespin-bbt-drivers-windows-x64-8.0.0.13.package",
    );
    let latest = app
        .get(&format!(
            "{B}/driverPackages/latest/content?platform=windows-x64"
        ))
        .await;
    assert_eq!(latest.body, bytes);
}

#[tokio::test]
async fn an_upload_streamed_without_content_length_is_stored() {
    let (app, _state, dir) = common::test_app().await;
    let bytes = package_bytes("linux-x64", "8.0.1.0");
    let request = admin("POST", &upload_uri("linux-x64", "8.0.1.0"))
        .body(streamed(&bytes, 1000))
        .expect("request");
    let reply = send(&app, request).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json()["size"], bytes.len());
    assert_eq!(reply.json()["sha256"], sha256_hex(&bytes));
    assert_eq!(upload_files(&dir).len(), 1);
}

#[tokio::test]
async fn a_duplicate_version_is_refused_with_409() {
    let (app, _state, dir) = common::test_app().await;
    let bytes = package_bytes("windows-x64", "8.0.0.13");
    assert_eq!(
        send(&app, upload("windows-x64", "8.0.0.13", bytes.clone()))
            .await
            .status,
        StatusCode::CREATED
    );
    let files = upload_files(&dir);

    // Again, the same bytes; and over a sample version (with its own, valid, bytes).
    for (platform, version, body) in [
        ("windows-x64", "8.0.0.13", bytes.clone()),
        (
            "windows-x64",
            "8.0.0.12",
            package_bytes("windows-x64", "8.0.0.12"),
        ),
        (
            "linux-x64",
            "8.0.0.11",
            package_bytes("linux-x64", "8.0.0.11"),
        ),
    ] {
        let reply = send(&app, upload(platform, version, body)).await;
        assert_error(&reply, StatusCode::CONFLICT, "DuplicatePackage");
        assert!(message(&reply).contains(version), "{}", message(&reply));
    }
    assert_eq!(upload_files(&dir), files, "a refused duplicate left a file");
    assert_eq!(all_packages(&app).await.len(), 5);
}

#[tokio::test]
async fn two_identical_uploads_at_once_store_one_package() {
    let (app, _state, dir) = common::test_app().await;
    let bytes = package_bytes("windows-x86", "8.0.0.12");
    let (a, b) = tokio::join!(
        send(&app, upload("windows-x86", "8.0.0.12", bytes.clone())),
        send(&app, upload("windows-x86", "8.0.0.12", bytes.clone())),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    assert_eq!(
        upload_files(&dir),
        vec![format!("{}.package", sha256_hex(&bytes))]
    );
    assert_eq!(all_packages(&app).await.len(), 5);
    let id = id_of(&app, "windows-x86", "8.0.0.12").await;
    assert_eq!(app.get(&content_uri(&id)).await.body, bytes);
}

#[tokio::test]
async fn a_body_that_is_not_a_good_package_is_refused_with_400() {
    let (app, _state, dir) = common::test_app().await;
    let good = package_bytes("windows-x64", "8.0.0.13");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not a zip", b"this is not a zip archive".to_vec(), "zip"),
        ("empty body", Vec::new(), "zip"),
        ("truncated zip", good[..good.len() / 2].to_vec(), "zip"),
        (
            "zip of another platform",
            package_bytes("linux-x64", "8.0.0.13"),
            "linux-x64",
        ),
        (
            "zip of another version",
            package_bytes("windows-x64", "8.0.0.14"),
            "8.0.0.14",
        ),
        (
            "zip of a sample version",
            package_bytes("windows-x64", "8.0.0.12"),
            "8.0.0.12",
        ),
    ];
    for (what, body, mentions) in cases {
        let reply = send(&app, upload("windows-x64", "8.0.0.13", body)).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidPackage");
        assert!(
            message(&reply).contains(mentions),
            "{what}: {}",
            message(&reply)
        );
        assert_nothing_stored(&app, &dir).await;
    }
}

#[tokio::test]
async fn a_zip_without_a_manifest_is_accepted() {
    // Real PlateSpin packages carry no manifest of ours; the server takes any zip for them.
    let (app, _state, _dir) = common::test_app().await;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("psbbt.sys", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut zip, b"driver").unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let reply = send(&app, upload("windows-x64", "8.0.0.13", bytes)).await;
    assert_eq!(reply.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_bad_version_is_refused_with_400_naming_the_field() {
    let (app, _state, dir) = common::test_app().await;
    let body = package_bytes("windows-x64", "8.0.0.13");
    // Query values are percent-encoded as a client would send them.
    for version in [
        "8.0",
        "v8.0.0.1",
        "8.0.0.65536",
        "",
        "8..0.1",
        "8.0.0.1.2",
        "8.0.0.",
        "%2B8.0.0.1", // +8.0.0.1
        "%208.0.0.1", // leading space
        "8.0.0.-1",
        "%EF%BC%98.0.0.1", // a full-width digit 8
        "8.0.0.99999999999999999999",
        "..%2F..%2Fetc%2Fpasswd",
    ] {
        let reply = send(&app, upload("windows-x64", version, body.clone())).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidVersion");
        assert!(
            message(&reply).starts_with("version"),
            "{version}: {}",
            message(&reply)
        );
    }
    assert_nothing_stored(&app, &dir).await;
}

#[tokio::test]
async fn missing_or_bad_parameters_are_refused_with_400() {
    let (app, _state, dir) = common::test_app().await;
    let body = package_bytes("windows-x64", "8.0.0.13");
    for (query, code, mentions) in [
        ("", "MissingParameter", "platform"),
        ("version=8.0.0.13", "MissingParameter", "platform"),
        ("platform=windows-x64", "MissingParameter", "version"),
        // Empty is refused as empty, not read as absent (issue 20 D2).
        ("platform=&version=8.0.0.13", "InvalidParameter", "platform"),
        (
            "platform=solaris&version=8.0.0.13",
            "InvalidParameter",
            "platform",
        ),
        ("operation=Delete", "UnknownOperation", "Rescan"),
    ] {
        let request = admin("POST", &format!("{B}/driverPackages?{query}"))
            .body(Body::from(body.clone()))
            .expect("request");
        let reply = send(&app, request).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, code);
        assert!(
            message(&reply).contains(mentions),
            "{query}: {}",
            message(&reply)
        );
    }
    assert_nothing_stored(&app, &dir).await;
}

#[tokio::test]
async fn uploads_and_rescans_need_an_administrator() {
    let (app, _state, dir) =
        common::test_app_with(|c| c.operator_password = Some("op".into())).await;
    let body = package_bytes("windows-x64", "8.0.0.13");
    let uris = [
        upload_uri("windows-x64", "8.0.0.13"),
        format!("{B}/driverPackages?operation=Rescan"),
    ];
    for uri in &uris {
        // No credentials, or wrong ones: 401 with a Basic challenge.
        for auth in [
            None,
            Some(common::basic("administrator", "wrong")),
            Some(common::basic("nobody", "op")),
        ] {
            let mut request = Request::builder().method("POST").uri(uri);
            if let Some(auth) = &auth {
                request = request.header("authorization", auth);
            }
            let reply = send(&app, request.body(Body::from(body.clone())).unwrap()).await;
            assert_error(&reply, StatusCode::UNAUTHORIZED, "Unauthorized");
            assert!(reply.offers_ntlm_and_basic(), "{uri} {auth:?}");
        }
        // An operator: 403.
        let request = Request::builder()
            .method("POST")
            .uri(uri)
            .header("authorization", common::basic("operator", "op"))
            .body(Body::from(body.clone()))
            .unwrap();
        let reply = send(&app, request).await;
        assert_error(&reply, StatusCode::FORBIDDEN, "Forbidden");
    }
    assert_nothing_stored(&app, &dir).await;
    // The operator may still read and download.
    let request = Request::builder()
        .uri(format!("{B}/driverPackages"))
        .header("authorization", common::basic("operator", "op"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_oversized_upload_is_refused_with_413_and_leaves_nothing() {
    let (app, _state, dir) = common::test_app_with(|c| c.max_upload_mb = 1).await;
    let two_mib = vec![0x5au8; 2 * 1024 * 1024];

    // Declared by Content-Length: refused before the body is read.
    let reply = send(&app, upload("windows-x64", "8.0.0.13", two_mib.clone())).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge");
    assert!(message(&reply).contains("1 MiB"), "{}", message(&reply));
    assert_nothing_stored(&app, &dir).await;

    // Streamed with no Content-Length: refused once the limit is passed.
    let request = admin("POST", &upload_uri("windows-x64", "8.0.0.13"))
        .body(streamed(&two_mib, 64 * 1024))
        .unwrap();
    let reply = send(&app, request).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge");
    assert_nothing_stored(&app, &dir).await;

    // A Content-Length that lies low does not get past the limit either.
    let request = admin("POST", &upload_uri("windows-x64", "8.0.0.13"))
        .header("content-length", "10")
        .body(streamed(&two_mib, 64 * 1024))
        .unwrap();
    let reply = send(&app, request).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge");
    assert_nothing_stored(&app, &dir).await;

    // Exactly at the limit is allowed through to the zip check.
    let reply = send(
        &app,
        upload("windows-x64", "8.0.0.13", vec![0u8; 1024 * 1024]),
    )
    .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "InvalidPackage");
    assert_nothing_stored(&app, &dir).await;

    // And a real package under the limit is stored.
    let reply = send(
        &app,
        upload(
            "windows-x64",
            "8.0.0.13",
            package_bytes("windows-x64", "8.0.0.13"),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
}

#[tokio::test]
async fn an_interrupted_upload_leaves_nothing() {
    let (app, _state, dir) = common::test_app().await;
    let bytes = package_bytes("windows-x64", "8.0.0.13");
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::copy_from_slice(&bytes[..1000])),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ];
    let request = admin("POST", &upload_uri("windows-x64", "8.0.0.13"))
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let reply = send(&app, request).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "UploadInterrupted");
    assert_nothing_stored(&app, &dir).await;
}

// ---------------------------------------------------------------------------------------------
// Rescan
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_rescan_during_an_upload_leaves_the_upload_alone() {
    let (app, _state, dir) = common::test_app().await;
    let bytes = package_bytes("windows-x64", "8.0.0.13");
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    }));
    let request = admin("POST", &upload_uri("windows-x64", "8.0.0.13"))
        .body(body)
        .unwrap();
    let uploading = tokio::spawn({
        let app = app.clone();
        async move { send(&app, request).await }
    });
    let (first, rest) = bytes.split_at(bytes.len() / 2);
    tx.send(Bytes::copy_from_slice(first)).await.unwrap();
    // Wait until the upload's temporary file exists, then rescan under it.
    for _ in 0..500 {
        if !upload_files(&dir).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(upload_files(&dir).len(), 1, "the upload's temporary file");
    let report = send(&app, rescan()).await;
    assert_eq!(report.status, StatusCode::OK);
    tx.send(Bytes::copy_from_slice(rest)).await.unwrap();
    drop(tx);
    let reply = uploading.await.unwrap();
    reply.assert_status(StatusCode::CREATED);
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&content_uri(&id)).await.body, bytes);
    // A later rescan keeps it too.
    let report = send(&app, rescan()).await.json();
    assert_eq!(report["removed"], serde_json::json!([]));
    assert_eq!(
        upload_files(&dir),
        vec![format!("{}.package", sha256_hex(&bytes))]
    );
}

#[tokio::test]
async fn a_rescan_adds_new_files_removes_deleted_ones_and_reports_skipped_ones() {
    let (_repo_dir, repo) = copy_samples();
    let repo_for_config = repo.clone();
    let (app, _state, _dir) =
        common::test_app_with(move |c| c.driver_packages = repo_for_config).await;
    assert_eq!(all_packages(&app).await.len(), 4);

    let new = package_bytes("windows-x86", "8.0.0.12");
    std::fs::write(repo.join("windows-x86/8.0.0.12.package"), &new).unwrap();
    std::fs::remove_file(repo.join("linux-x64/8.0.0.11.package")).unwrap();
    std::fs::write(repo.join("windows-x64/latest.package"), b"x").unwrap();
    std::fs::write(
        repo.join("windows-x64/8.0.0.012.package"),
        package_bytes("windows-x64", "8.0.0.12"),
    )
    .unwrap();
    std::fs::write(
        repo.join("windows-x86/8.0.0.13.package"),
        package_bytes("windows-x86", "8.0.0.14"),
    )
    .unwrap();
    std::fs::write(repo.join("windows-x86/8.0.0.15.package"), b"not a zip").unwrap();
    std::fs::write(repo.join("windows-x86/README.txt"), b"notes").unwrap();
    std::fs::create_dir_all(repo.join("solaris")).unwrap();
    std::fs::write(
        repo.join("solaris/8.0.0.20.package"),
        package_bytes("linux-x64", "8.0.0.20"),
    )
    .unwrap();

    let reply = send(&app, rescan()).await;
    reply.assert_status(StatusCode::OK);
    let report = reply.json();
    assert_eq!(report["added"], serde_json::json!(["windows-x86 8.0.0.12"]));
    assert_eq!(report["removed"], serde_json::json!(["linux-x64 8.0.0.11"]));
    assert_eq!(report["changed"], serde_json::json!([]));
    let skipped: Vec<String> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    for name in [
        "windows-x64/latest.package",
        "windows-x64/8.0.0.012.package",
        "windows-x86/8.0.0.13.package",
        "windows-x86/8.0.0.15.package",
    ] {
        assert!(
            skipped.iter().any(|s| s.starts_with(name)),
            "{name} not in {skipped:?}"
        );
    }
    assert_eq!(skipped.len(), 4, "{skipped:?}");

    // The index follows.
    let latest = app
        .get(&format!("{B}/driverPackages/latest?platform=windows-x86"))
        .await
        .json();
    assert_eq!(latest["version"], "8.0.0.12");
    assert_eq!(latest["sha256"], sha256_hex(&new));
    let download = app.get(&content_uri(latest["id"].as_str().unwrap())).await;
    assert_eq!(download.body, new);
    let linux = app
        .get(&format!("{B}/driverPackages/latest?platform=linux-x64"))
        .await;
    assert_error(&linux, StatusCode::NOT_FOUND, "NotFound");
    let linux = app
        .get(&format!("{B}/driverPackages/linux-x64/8.0.0.11/content"))
        .await;
    assert_error(&linux, StatusCode::NOT_FOUND, "NotFound");
    assert_eq!(all_packages(&app).await.len(), 4);

    // A second rescan finds nothing new; the operation name is not case-sensitive.
    let again = admin("POST", &format!("{B}/driverPackages?operation=rescan"))
        .body(Body::empty())
        .unwrap();
    let report = send(&app, again).await.json();
    assert_eq!(report["added"], serde_json::json!([]));
    assert_eq!(report["removed"], serde_json::json!([]));
}

#[tokio::test]
async fn a_rescan_reports_a_changed_file() {
    let (_repo_dir, repo) = copy_samples();
    let repo_for_config = repo.clone();
    let (app, _state, _dir) =
        common::test_app_with(move |c| c.driver_packages = repo_for_config).await;
    let mut changed = sample_file("linux-x64", "8.0.0.11");
    changed.extend_from_slice(b"trailing bytes");
    std::fs::write(repo.join("linux-x64/8.0.0.11.package"), &changed).unwrap();
    let report = send(&app, rescan()).await.json();
    assert_eq!(report["changed"], serde_json::json!(["linux-x64 8.0.0.11"]));
    let listed = package(&app, "linux-x64", "8.0.0.11").await;
    assert_eq!(listed["sha256"], sha256_hex(&changed));
    assert_eq!(listed["size"], changed.len());
}

// ---------------------------------------------------------------------------------------------
// Download
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_download_needs_no_credentials_and_carries_the_validators() {
    let (app, _state, _dir) = common::test_app().await;
    let listed = package(&app, "windows-x64", "8.0.0.12").await;
    let file = sample_file("windows-x64", "8.0.0.12");
    let reply = app.get(&content_uri(listed["id"].as_str().unwrap())).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("content-length"),
        Some(file.len().to_string().as_str())
    );
    assert_package_headers(
        &reply,
        &file,
        "platespin-bbt-drivers-windows-x64-8.0.0.12.package",
    );
    assert_eq!(reply.body, file);
    assert_eq!(sha256_hex(&reply.body), listed["sha256"].as_str().unwrap());
    assert!(reply.body.starts_with(b"PK\x03\x04"), "a zip");
}

#[tokio::test]
async fn head_gives_the_same_headers_and_no_body() {
    let (app, _state, _dir) = common::test_app().await;
    let uri = content_uri(&id_of(&app, "linux-x64", "8.0.0.11").await);
    let full = app.get(&uri).await;
    let head = send(&app, anon("HEAD", &uri)).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    for name in [
        "content-length",
        "etag",
        "repr-digest",
        "accept-ranges",
        "content-type",
        "content-disposition",
    ] {
        assert_eq!(head.header(name), full.header(name), "{name}");
        assert!(head.header(name).is_some(), "{name}");
    }
    // Range is defined for GET only: a HEAD with one describes the whole file.
    let head_range = Request::builder()
        .method("HEAD")
        .uri(&uri)
        .header("range", "bytes=0-9")
        .body(Body::empty())
        .unwrap();
    let reply = send(&app, head_range).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("content-length"),
        full.header("content-length")
    );
}

/// What a Range request should get back.
enum Expect {
    Partial(std::ops::RangeInclusive<usize>),
    Full,
    Unsatisfiable,
}

#[tokio::test]
async fn ranges_per_rfc_9110() {
    let (app, _state, _dir) = common::test_app().await;
    let uri = content_uri(&id_of(&app, "windows-x64", "8.0.0.12").await);
    let file = sample_file("windows-x64", "8.0.0.12");
    let len = file.len();
    assert!(len > 1000);
    let past_end = format!("bytes={len}-");
    let last = format!("bytes={}-", len - 1);
    let clipped = format!("bytes=100-{}", len * 10);
    let cases: Vec<(&str, Expect)> = vec![
        ("bytes=0-99", Expect::Partial(0..=99)),
        ("bytes=-100", Expect::Partial(len - 100..=len - 1)),
        ("bytes=100-", Expect::Partial(100..=len - 1)),
        ("bytes=0-0", Expect::Partial(0..=0)),
        (&last, Expect::Partial(len - 1..=len - 1)),
        (&clipped, Expect::Partial(100..=len - 1)),
        ("bytes=-99999999", Expect::Partial(0..=len - 1)),
        ("bytes = 10 - 19", Expect::Partial(10..=19)),
        ("bytes=999999999-", Expect::Unsatisfiable),
        ("bytes=-0", Expect::Unsatisfiable),
        (&past_end, Expect::Unsatisfiable),
        ("bytes=99999999999999999999999-", Expect::Unsatisfiable),
        // Malformed, several ranges or another unit: the whole file.
        ("bytes=0-1,5-6", Expect::Full),
        ("bytes=0-1, -5", Expect::Full),
        ("bytes=5-1", Expect::Full),
        ("bytes=abc", Expect::Full),
        ("bytes=-", Expect::Full),
        ("bytes=", Expect::Full),
        ("items=0-1", Expect::Full),
        ("0-99", Expect::Full),
        ("bytes=0x10-0x20", Expect::Full),
    ];
    for (range, expected) in cases {
        let reply = app.get_with(&uri, &[("range", range)]).await;
        match expected {
            Expect::Partial(span) => {
                assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT, "{range}");
                let (start, end) = (*span.start(), *span.end());
                assert_eq!(
                    reply.header("content-range"),
                    Some(format!("bytes {start}-{end}/{len}").as_str()),
                    "{range}"
                );
                assert_eq!(
                    reply.header("content-length"),
                    Some((end - start + 1).to_string().as_str()),
                    "{range}"
                );
                assert_eq!(reply.body, &file[span], "{range}");
                // The validators and digest describe the whole representation.
                assert_package_headers(
                    &reply,
                    &file,
                    "platespin-bbt-drivers-windows-x64-8.0.0.12.package",
                );
            }
            Expect::Full => {
                assert_eq!(reply.status, StatusCode::OK, "{range}");
                assert_eq!(reply.header("content-range"), None, "{range}");
                assert_eq!(reply.body, file, "{range}");
            }
            Expect::Unsatisfiable => {
                assert_error(
                    &reply,
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "RangeNotSatisfiable",
                );
                assert_eq!(
                    reply.header("content-range"),
                    Some(format!("bytes */{len}").as_str()),
                    "{range}"
                );
            }
        }
    }
}

#[tokio::test]
async fn if_range_and_if_none_match() {
    let (app, _state, _dir) = common::test_app().await;
    let uri = content_uri(&id_of(&app, "windows-x86", "8.0.0.11").await);
    let file = sample_file("windows-x86", "8.0.0.11");
    let etag = format!("\"{}\"", sha256_hex(&file));

    // If-Range: the current tag resumes; a stale or weak one gets the whole new file.
    let reply = app
        .get_with(&uri, &[("range", "bytes=0-99"), ("if-range", &etag)])
        .await;
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(reply.body, &file[..100]);
    let weak = format!("W/{etag}");
    let stale = format!("\"{}\"", "0".repeat(64));
    for if_range in [stale.as_str(), weak.as_str(), "\"\"", "garbage"] {
        let reply = app
            .get_with(&uri, &[("range", "bytes=0-99"), ("if-range", if_range)])
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{if_range}");
        assert_eq!(reply.body, file, "{if_range}");
    }

    // If-None-Match: the current tag (strong, weak, in a list, or `*`) gets a 304 with the tag.
    let listed = format!("\"abc\", {etag}");
    for inm in [etag.as_str(), weak.as_str(), listed.as_str(), "*"] {
        for method in ["GET", "HEAD"] {
            let request = Request::builder()
                .method(method)
                .uri(&uri)
                .header("if-none-match", inm)
                .body(Body::empty())
                .unwrap();
            let reply = send(&app, request).await;
            assert_eq!(reply.status, StatusCode::NOT_MODIFIED, "{method} {inm}");
            assert_eq!(reply.header("etag"), Some(etag.as_str()));
            assert!(reply.body.is_empty());
        }
    }
    // It also wins over a Range.
    let reply = app
        .get_with(&uri, &[("if-none-match", &etag), ("range", "bytes=0-1")])
        .await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
    // A stale tag gets the file.
    let reply = app.get_with(&uri, &[("if-none-match", &stale)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, file);
}

#[tokio::test]
async fn content_by_platform_and_version_and_latest_content() {
    let (app, _state, _dir) = common::test_app().await;
    for (platform, version) in [
        ("windows-x64", "8.0.0.12"),
        ("windows-x64", "8.0.0.11"),
        ("linux-x64", "8.0.0.11"),
    ] {
        let reply = app
            .get(&format!("{B}/driverPackages/{platform}/{version}/content"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{platform} {version}");
        assert_eq!(reply.body, sample_file(platform, version));
    }
    let reply = app
        .get(&format!(
            "{B}/driverPackages/latest/content?platform=linux-x64"
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, sample_file("linux-x64", "8.0.0.11"));
    let reply = app
        .get(&format!(
            "{B}/driverPackages/latest/content?platform=windows-x64"
        ))
        .await;
    assert_eq!(reply.body, sample_file("windows-x64", "8.0.0.12"));
    let head = send(
        &app,
        anon(
            "HEAD",
            &format!("{B}/driverPackages/latest/content?platform=linux-x64"),
        ),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());

    for (uri, status, code) in [
        (
            format!("{B}/driverPackages/latest/content"),
            StatusCode::BAD_REQUEST,
            "MissingParameter",
        ),
        (
            format!("{B}/driverPackages/latest/content?platform=amiga"),
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
        ),
        (
            format!("{B}/driverPackages/windows-x64/8.0/content"),
            StatusCode::BAD_REQUEST,
            "InvalidVersion",
        ),
        (
            format!("{B}/driverPackages/windows-x64/v8.0.0.12/content"),
            StatusCode::BAD_REQUEST,
            "InvalidVersion",
        ),
        (
            format!("{B}/driverPackages/amiga/8.0.0.12/content"),
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
        ),
        (
            format!("{B}/driverPackages/windows-x64/9.9.9.9/content"),
            StatusCode::NOT_FOUND,
            "NotFound",
        ),
        (
            format!("{B}/driverPackages/windows-x86/8.0.0.12/content"),
            StatusCode::NOT_FOUND,
            "NotFound",
        ),
    ] {
        let reply = app.get(&uri).await;
        assert_error(&reply, status, code);
    }
}

#[tokio::test]
async fn content_is_read_only() {
    let (app, _state, _dir) = common::test_app().await;
    let uri = content_uri(&id_of(&app, "linux-x64", "8.0.0.11").await);
    for method in ["PUT", "DELETE", "POST", "PATCH"] {
        let request = admin(method, &uri).body(Body::from("x")).unwrap();
        let reply = send(&app, request).await;
        assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed");
    }
    assert_eq!(
        app.get(&uri).await.body,
        sample_file("linux-x64", "8.0.0.11")
    );
}

// ---------------------------------------------------------------------------------------------
// A file that changes on disk after indexing
// ---------------------------------------------------------------------------------------------

/// Overwrite a sample file in place (same inode), optionally putting its old mtime back.
fn overwrite(path: &Path, bytes: &[u8], keep_mtime: bool) {
    let old = std::fs::metadata(path).unwrap().modified().unwrap();
    std::fs::write(path, bytes).unwrap();
    if keep_mtime {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_modified(old).unwrap();
    }
}

/// Everything a client sees of a package must describe `bytes`.
async fn assert_served_as(app: &App, id: &str, bytes: &[u8], old_etag: &str) {
    let uri = content_uri(id);
    let etag = format!("\"{}\"", sha256_hex(bytes));
    let name = "platespin-bbt-drivers-windows-x64-8.0.0.12.package";

    // A plain GET first: the one that finds the change must serve the whole new file.
    let full = app.get(&uri).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(
        full.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    assert_package_headers(&full, bytes, name);
    assert_eq!(full.body.len(), bytes.len());
    assert_eq!(full.body, bytes);

    let head = send(app, anon("HEAD", &uri)).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(
        head.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    assert_eq!(
        head.header("repr-digest"),
        Some(repr_digest(bytes).as_str())
    );
    assert_eq!(
        head.header("last-modified"),
        None,
        "a date validator could hide a change"
    );

    // A client holding the old copy gets the new one, not a 304 or a splice.
    let reply = app.get_with(&uri, &[("if-none-match", old_etag)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, bytes);
    let reply = app
        .get_with(&uri, &[("range", "bytes=100-"), ("if-range", old_etag)])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, bytes);
    let reply = app
        .get_with(
            &uri,
            &[("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT")],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "If-Modified-Since must not hide a changed file"
    );
    assert_eq!(reply.body, bytes);
    let reply = app.get_with(&uri, &[("range", "bytes=-10")]).await;
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        reply.header("content-range"),
        Some(
            format!(
                "bytes {}-{}/{}",
                bytes.len() - 10,
                bytes.len() - 1,
                bytes.len()
            )
            .as_str()
        )
    );
    assert_eq!(reply.body, &bytes[bytes.len() - 10..]);

    // The API's view follows too.
    let listed = app.get(&format!("{B}/driverPackages/{id}")).await.json();
    assert_eq!(listed["sha256"], sha256_hex(bytes));
    assert_eq!(listed["size"], bytes.len());
}

#[tokio::test]
async fn a_file_changed_on_disk_is_served_with_its_new_size_tag_and_digest() {
    let (_repo_dir, repo) = copy_samples();
    let repo_for_config = repo.clone();
    let (app, _state, _dir) =
        common::test_app_with(move |c| c.driver_packages = repo_for_config).await;
    let path = repo.join("windows-x64/8.0.0.12.package");
    let original = std::fs::read(&path).unwrap();
    let id = id_of(&app, "windows-x64", "8.0.0.12").await;
    let old_etag = format!("\"{}\"", sha256_hex(&original));
    // Served once as indexed.
    assert_eq!(app.get(&content_uri(&id)).await.body, original);

    // Longer.
    let mut longer = original.clone();
    longer.extend_from_slice(&[7u8; 4096]);
    overwrite(&path, &longer, false);
    assert_served_as(&app, &id, &longer, &old_etag).await;

    // Shorter.
    let shorter = original[..original.len() - 500].to_vec();
    overwrite(&path, &shorter, false);
    assert_served_as(&app, &id, &shorter, &format!("\"{}\"", sha256_hex(&longer))).await;
}

#[tokio::test]
async fn a_file_changed_in_place_with_the_same_size_and_time_is_not_served_as_the_old_one() {
    // Same length, and the modification time put back (as a coarse file-system clock, or a copy
    // that keeps times, leaves it): size and time alone cannot tell, the server must re-hash.
    let (_repo_dir, repo) = copy_samples();
    let repo_for_config = repo.clone();
    let (app, _state, _dir) =
        common::test_app_with(move |c| c.driver_packages = repo_for_config).await;
    let path = repo.join("windows-x64/8.0.0.12.package");
    let original = std::fs::read(&path).unwrap();
    let id = id_of(&app, "windows-x64", "8.0.0.12").await;
    let old_etag = format!("\"{}\"", sha256_hex(&original));

    let mut same_size = original.clone();
    let middle = same_size.len() / 2;
    same_size[middle] ^= 0xff;
    overwrite(&path, &same_size, true);
    assert_served_as(&app, &id, &same_size, &old_etag).await;
}

/// A repository copy with a package of about `size` bytes (`windows-x64` 8.0.0.30), whose file
/// time is an hour old when it is indexed (so size and time are trusted), and an app on it
/// configured by `configure`. Gives the app, its state, the package's file, bytes and id.
async fn app_with_package_of(
    size: usize,
    configure: impl FnOnce(&mut psserver::config::Config) + Send + 'static,
) -> (
    App,
    psserver::AppState,
    Vec<tempfile::TempDir>,
    PathBuf,
    Vec<u8>,
    String,
) {
    let (repo_dir, repo) = copy_samples();
    let path = repo.join("windows-x64/8.0.0.30.package");
    let bytes = large_package("windows-x64", "8.0.0.30", size);
    std::fs::write(&path, &bytes).unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    let repo_for_config = repo.clone();
    let (app, state, dir) = common::test_app_with(move |c| {
        c.driver_packages = repo_for_config;
        configure(c);
    })
    .await;
    let id = id_of(&app, "windows-x64", "8.0.0.30").await;
    (app, state, vec![repo_dir, dir], path, bytes, id)
}

/// A package downloaded whole (and so kept in memory), then rewritten in place with its size
/// and time put back: the next whole download and range must show the new bytes.
async fn kept_bytes_follow_a_rewrite(size: usize) {
    let (app, state, _dirs, path, original, id) = app_with_package_of(size, |_| ()).await;
    let uri = content_uri(&id);
    for _ in 0..2 {
        assert_eq!(app.get(&uri).await.body, original);
    }
    assert!(
        state.store.kept_bytes() >= original.len() as u64,
        "a package downloaded whole is kept"
    );
    // Ranges are served from the kept bytes.
    let mid = original.len() / 2;
    let range = format!("bytes={}-{}", mid - 100, mid + 99);
    let part = app.get_with(&uri, &[("range", &range)]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, &original[mid - 100..mid + 100]);

    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut same_size = original.clone();
    same_size[mid] ^= 0xff;
    overwrite(&path, &same_size, true);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    let part = app.get_with(&uri, &[("range", &range)]).await;
    assert_ne!(
        part.body,
        &original[mid - 100..mid + 100],
        "the kept bytes were served after the rewrite"
    );
    assert_eq!(part.body, &same_size[mid - 100..mid + 100]);
    let served = app.get(&uri).await;
    assert_eq!(served.body, same_size);
}

#[tokio::test]
async fn a_small_package_kept_in_memory_is_read_again_when_its_file_is_rewritten() {
    // Read on the async thread, with the open.
    kept_bytes_follow_a_rewrite(100 * 1024).await;
}

#[tokio::test]
async fn a_large_package_kept_in_memory_is_read_again_when_its_file_is_rewritten() {
    // Larger than what is read on the async thread and than one streamed piece.
    kept_bytes_follow_a_rewrite(3 * 1024 * 1024).await;
}

#[tokio::test]
async fn concurrent_first_downloads_of_a_large_package_all_get_it_and_keep_one_copy() {
    let (app, state, _dirs, _path, bytes, id) = app_with_package_of(3 * 1024 * 1024, |_| ()).await;
    let uri = content_uri(&id);
    let downloads = (0..8).map(|_| {
        let app = app.clone();
        let uri = uri.clone();
        tokio::spawn(async move { app.get(&uri).await })
    });
    for download in downloads {
        let reply = download.await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.body == bytes, "a download differs from the file");
    }
    assert_eq!(state.store.kept_bytes(), bytes.len() as u64);
}

#[tokio::test]
async fn a_package_too_large_to_read_first_streams_and_is_kept_beside_its_download() {
    let (app, state, _dirs, _path, bytes, id) = app_with_package_of(9 * 1024 * 1024, |_| ()).await;
    let uri = content_uri(&id);
    let first = app.get(&uri).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(
        first.body == bytes,
        "the first download differs from the file"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while state.store.kept_bytes() < bytes.len() as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the package was never kept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(state.store.kept_bytes(), bytes.len() as u64);
    let again = app.get(&uri).await;
    assert!(
        again.body == bytes,
        "the kept download differs from the file"
    );
    let part = app
        .get_with(&uri, &[("range", "bytes=5000000-5000099")])
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert!(part.body == bytes[5_000_000..5_000_100]);
}

#[tokio::test]
async fn with_no_package_memory_downloads_and_ranges_read_the_file() {
    let (app, state, _dirs, _path, bytes, id) =
        app_with_package_of(3 * 1024 * 1024, |c| c.package_cache_mb = 0).await;
    let uri = content_uri(&id);
    for _ in 0..2 {
        let reply = app.get(&uri).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.body == bytes, "the download differs from the file");
    }
    let tail = app.get_with(&uri, &[("range", "bytes=1048570-")]).await;
    assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
    assert!(
        tail.body == bytes[1_048_570..],
        "the range differs from the file"
    );
    assert_eq!(state.store.kept_bytes(), 0);
}

#[tokio::test]
async fn a_package_that_leaves_the_repository_leaves_memory() {
    let (app, state, _dirs, path, bytes, id) = app_with_package_of(3 * 1024 * 1024, |_| ()).await;
    assert_eq!(app.get(&content_uri(&id)).await.body.len(), bytes.len());
    assert_eq!(state.store.kept_bytes(), bytes.len() as u64);
    std::fs::remove_file(&path).unwrap();
    let report = send(&app, rescan()).await.json();
    assert_eq!(
        report["removed"],
        serde_json::json!(["windows-x64 8.0.0.30"])
    );
    assert_eq!(state.store.kept_bytes(), 0);
    assert_eq!(
        app.get(&content_uri(&id)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn package_memory_holds_its_budget_dropping_the_least_recently_used() {
    // 4 MiB: room for one of the two 3 MiB packages at a time.
    let (app, state, _dirs, path, bytes, id) =
        app_with_package_of(3 * 1024 * 1024, |c| c.package_cache_mb = 4).await;
    // Another package in the repository, as old, found by a rescan.
    let other = large_package("windows-x64", "8.0.0.31", 3 * 1024 * 1024);
    let other_path = path.with_file_name("8.0.0.31.package");
    std::fs::write(&other_path, &other).unwrap();
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::File::options()
        .write(true)
        .open(&other_path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    assert_eq!(send(&app, rescan()).await.status, StatusCode::OK);
    let other_uri = content_uri(&id_of(&app, "windows-x64", "8.0.0.31").await);
    for _ in 0..2 {
        for (uri, expected) in [(content_uri(&id), &bytes), (other_uri.clone(), &other)] {
            let reply = app.get(&uri).await;
            assert!(reply.body == *expected, "{uri} differs from its file");
            assert_eq!(state.store.kept_bytes(), expected.len() as u64);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Traversal: no client-supplied path reaches the file system
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn traversal_tricks_always_get_a_4xx() {
    let (app, _state, _dir) = common::test_app().await;
    let real_id = id_of(&app, "windows-x64", "8.0.0.12").await;
    let corpus = traversal_corpus(&real_id);
    assert!(corpus.len() >= 40);
    let positions: &[&dyn Fn(&str) -> String] = &[
        &|t| format!("{B}/driverPackages/{t}/content"),
        &|t| format!("{ALIAS}/driverPackages/{t}/content"),
        &|t| format!("{B}/driverPackages/{t}"),
        &|t| format!("{B}/driverPackages/{t}/8.0.0.12/content"),
        &|t| format!("{B}/driverPackages/windows-x64/{t}/content"),
        &|t| format!("{B}/driverPackages/{t}/{t}/content"),
        &|t| format!("{B}/driverPackages/latest/content?platform={t}"),
        &|t| format!("{B}/driverPackages/latest?platform={t}"),
        &|t| format!("{B}/driverPackages?platform={t}"),
    ];
    let (mut sent, mut refused_by_uri) = (0, 0);
    for trick in &corpus {
        // Each trick as written, and once more fully percent-encoded.
        for segment in [trick.clone(), encode_all(trick)] {
            for position in positions {
                let uri = position(&segment);
                let Ok(parsed) = Uri::try_from(uri.as_str()) else {
                    // Not a valid request target (raw backslash, space...): no client can send it.
                    refused_by_uri += 1;
                    continue;
                };
                for method in ["GET", "HEAD"] {
                    let request = Request::builder()
                        .method(method)
                        .uri(parsed.clone())
                        .body(Body::empty())
                        .unwrap();
                    let reply = send(&app, request).await;
                    sent += 1;
                    let shown = &uri[..uri.len().min(120)];
                    assert!(
                        reply.status.is_client_error(),
                        "{method} {shown} -> {}",
                        reply.status
                    );
                    assert!(!reply.body.starts_with(b"PK"), "{shown} served a package");
                    if method == "GET" {
                        let text = String::from_utf8_lossy(&reply.body);
                        assert!(
                            !text.contains("root:") && !text.contains("[fonts]"),
                            "{shown}: {text}"
                        );
                        // A JSON error, echoing at most a short piece of the input.
                        assert!(!reply.error_code().is_empty(), "{shown}: {text}");
                        assert!(
                            reply.body.len() < 1024,
                            "{shown}: a {}-byte error: {}",
                            reply.body.len(),
                            &text[..300.min(text.len())]
                        );
                    }
                }
            }
        }
    }
    assert!(
        sent > 40 * positions.len(),
        "only {sent} requests sent ({refused_by_uri} refused by http::Uri)"
    );
}

// ---------------------------------------------------------------------------------------------
// A large package, streamed in and out
// ---------------------------------------------------------------------------------------------

/// A valid package of about `size` bytes: the manifest and one stored, incompressible file.
fn large_package(platform: &str, version: &str, size: usize) -> Vec<u8> {
    let mut data = vec![0u8; size];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for chunk in data.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    let manifest = serde_json::json!({
        "product": "PlateSpin Migrate",
        "component": "Block-based transfer drivers",
        "platform": platform,
        "version": version,
        "files": [{"name": "psbbt.sys", "size": size, "sha256": sha256_hex(&data)}],
    });
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(size as u64 >= u64::from(u32::MAX));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::with_capacity(size + 4096)));
    zip.start_file("manifest.json", stored).unwrap();
    std::io::Write::write_all(&mut zip, manifest.to_string().as_bytes()).unwrap();
    zip.start_file("psbbt.sys", stored).unwrap();
    std::io::Write::write_all(&mut zip, &data).unwrap();
    zip.finish().unwrap().into_inner()
}

#[tokio::test]
async fn a_large_package_is_streamed_in_and_out_intact() {
    const SIZE: usize = 64 * 1024 * 1024;
    let (app, _state, dir) = common::test_app_with(|c| c.max_upload_mb = 80).await;
    let bytes = large_package("windows-x64", "8.0.0.20", SIZE);
    let sha = sha256_hex(&bytes);

    let request = admin("POST", &upload_uri("windows-x64", "8.0.0.20"))
        .body(streamed(&bytes, 1024 * 1024))
        .unwrap();
    let reply = send(&app, request).await;
    reply.assert_status(StatusCode::CREATED);
    assert_eq!(reply.json()["size"], bytes.len());
    assert_eq!(reply.json()["sha256"], sha.as_str());
    assert_eq!(upload_files(&dir), vec![format!("{sha}.package")]);

    let uri = format!("{B}/driverPackages/latest/content?platform=windows-x64");
    let download = app.get(&uri).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(
        download.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    assert_eq!(download.body.len(), bytes.len());
    assert_eq!(sha256_hex(&download.body), sha);
    assert_eq!(
        download.header("repr-digest"),
        Some(repr_digest(&bytes).as_str())
    );

    // The tail, as a resumed download asks for it.
    let from = bytes.len() - 3 * 1024 * 1024 - 17;
    let range = format!("bytes={from}-");
    let etag = format!("\"{sha}\"");
    let tail = app
        .get_with(&uri, &[("range", &range), ("if-range", &etag)])
        .await;
    assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.body, &bytes[from..]);
}

/// Over real HTTP: hyper's framing of a streamed body, HEAD and a resumed download.
#[tokio::test]
async fn a_large_package_over_http() {
    const SIZE: usize = 24 * 1024 * 1024;
    let server = common::Server::start(&["--max-upload-mb", "32"]);
    let client = common::client();
    let bytes = large_package("linux-x64", "8.0.0.30", SIZE);
    let sha = sha256_hex(&bytes);
    let reply = client
        .post(server.api("/driverPackages?platform=linux-x64&version=8.0.0.30"))
        .basic_auth(common::ADMIN.0, Some(common::ADMIN.1))
        .body(bytes.clone())
        .send()
        .await
        .expect("upload");
    assert_eq!(reply.status().as_u16(), 201, "{}", server.log_text());
    let location = reply.headers()["location"].to_str().unwrap().to_owned();
    let content = server.url(&format!("{location}/content"));

    let head = client.head(&content).send().await.expect("head");
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(head.headers()["etag"], format!("\"{sha}\"").as_str());

    let full = client.get(&content).send().await.expect("get");
    assert_eq!(
        full.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    let body = full.bytes().await.expect("body");
    assert_eq!(body.len(), bytes.len());
    assert_eq!(sha256_hex(&body), sha);

    let from = SIZE / 2 + 3;
    let part = client
        .get(&content)
        .header("range", format!("bytes={from}-"))
        .header("if-range", format!("\"{sha}\""))
        .send()
        .await
        .expect("range");
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.bytes().await.expect("body"), &bytes[from..]);
}

// ---------------------------------------------------------------------------------------------
// What the store keeps of a package
// ---------------------------------------------------------------------------------------------

/// A download's fixed headers are kept by its state's package store: another app in the same
/// process holds none of them, and a reset lets go of those of the uploads it removes. (A
/// process-global cache would be shared by both apps and outlive the reset.)
#[tokio::test]
async fn download_headers_are_kept_per_state_and_go_with_a_reset() {
    let (app_a, state_a, _dir_a) = common::test_app().await;
    let (app_b, state_b, _dir_b) = common::test_app().await;
    let held = || {
        (
            state_a.store.fixed_headers_held(),
            state_b.store.fixed_headers_held(),
        )
    };
    let sample = format!("{B}/driverPackages/linux-x64/8.0.0.11/content");
    assert_eq!(held(), (0, 0));
    assert_eq!(app_a.get(&sample).await.status, StatusCode::OK);
    assert_eq!(
        held(),
        (1, 0),
        "the other app holds the first one's headers"
    );
    assert_eq!(app_b.get(&sample).await.status, StatusCode::OK);
    assert_eq!(held(), (1, 1));

    let bytes = package_bytes("windows-x64", "9.0.0.1");
    let uploaded = send(&app_a, upload("windows-x64", "9.0.0.1", bytes.clone())).await;
    assert_eq!(uploaded.status, StatusCode::CREATED);
    let id = uploaded.json()["id"].as_str().unwrap().to_owned();
    let download = app_a.get(&format!("{B}/driverPackages/{id}/content")).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, bytes);
    assert_eq!(held(), (2, 1));

    let reset = send(
        &app_a,
        admin("POST", "/_emu/state/reset")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reset.status, StatusCode::OK);
    assert_eq!(
        held(),
        (1, 1),
        "the removed upload's headers outlived the reset"
    );
}

/// `psserver package build` (issue 19): the package the README's patch flow uploads, from a
/// directory of driver files, is taken by the server for its platform and version, and refused
/// for another; bad input exits 2 with the reason and writes nothing.
#[tokio::test]
async fn psserver_package_build_makes_what_the_server_takes() {
    let dir = tempfile::tempdir().unwrap();
    let drivers = dir.path().join("drivers");
    std::fs::create_dir(&drivers).unwrap();
    std::fs::write(drivers.join("psbbt.sys"), b"the real driver").unwrap();
    std::fs::write(drivers.join("psbbt.inf"), b"[Version]").unwrap();
    let out = dir.path().join("8.0.0.13.package");
    let tool = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_psserver"))
            .args(["package", "build"])
            .args(args)
            .output()
            .unwrap()
    };
    let built = tool(&[
        "--platform",
        "windows-x64",
        "--version",
        "8.0.0.13",
        "--from",
        drivers.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(built.status.success(), "{built:?}");
    let bytes = std::fs::read(&out).unwrap();
    let said = String::from_utf8_lossy(&built.stdout);
    assert!(said.contains("windows-x64 8.0.0.13, 2 file(s)"), "{said}");
    assert!(said.contains(&sha256_hex(&bytes)), "{said}");

    let (app, _state, _data) = common::test_app().await;
    let reply = send(&app, upload("linux-x64", "8.0.0.13", bytes.clone())).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(
        reply.text().contains("windows-x64 8.0.0.13"),
        "{}",
        reply.text()
    );
    let reply = send(&app, upload("windows-x64", "8.0.0.13", bytes)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(reply.json()["version"], "8.0.0.13");

    for (args, why) in [
        (
            vec!["--platform", "solaris", "--version", "8.0.0.1"],
            "--platform",
        ),
        (
            vec!["--platform", "linux-x64", "--version", "8.0"],
            "--version",
        ),
        (
            vec![
                "--platform",
                "linux-x64",
                "--version",
                "8.0.0.1",
                "--from",
                "/no/such/dir",
            ],
            "--from",
        ),
    ] {
        let bad = dir.path().join("bad.package");
        let mut all = args.clone();
        all.extend(["-o", bad.to_str().unwrap()]);
        let refused = tool(&all);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains(why),
            "{refused:?}"
        );
        assert!(!bad.exists(), "{args:?} wrote a file");
    }
}
