//! Reliability: a full disk. The data directory sits on a 4 MiB tmpfs, which a filler file then
//! fills. Uploads and other writes fail with a clear 507 (never a 500), reads go on (sources,
//! sample and uploaded package downloads, pages), and once the filler is deleted the next writes
//! succeed. Mounting needs root: CI runs as root and must run this test (`CI=true` makes a refused
//! mount a failure); elsewhere it is skipped with a message.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ADMIN, Server};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A tmpfs mounted on a directory, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Self(dir.to_owned()))
        } else {
            Err(format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Fill the file system that holds `path` to the last byte.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0xa5u8; 16 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // The last partial block.
    for _ in 0..4096 {
        if file.write(&[0u8; 256]).is_err() {
            break;
        }
    }
    let _ = file.sync_all();
    written
}

fn package(platform: &str, version: &str) -> Vec<u8> {
    psserver::drivers::package::build_bytes(platform.parse().unwrap(), version.parse().unwrap())
}

/// A package of noise of about `size` bytes (stored, so it takes its size on disk).
fn big_package(size: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<u8> = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("psbbt.sys", stored).unwrap();
    zip.write_all(&data).unwrap();
    zip.finish().unwrap().into_inner()
}

struct Api {
    client: reqwest::blocking::Client,
}

impl Api {
    fn send(&self, request: reqwest::blocking::RequestBuilder) -> (u16, Value, Vec<u8>) {
        let r = request.basic_auth(ADMIN.0, Some(ADMIN.1)).send().unwrap();
        let status = r.status().as_u16();
        let bytes = r.bytes().unwrap().to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json, bytes)
    }
}

fn assert_507(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 507, "{what}: {body}");
    assert_eq!(
        body["error"]["code"], "InsufficientStorage",
        "{what}: {body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("full"),
        "{what}: an unclear message: {message}"
    );
}

#[test]
fn a_full_disk_fails_writes_with_507_keeps_reads_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _tmpfs = match Tmpfs::mount(&data, "4m") {
        Ok(t) => t,
        Err(why) => {
            let message = format!(
                "the disk-full test needs a tmpfs on the data directory and could not mount one: {why} (run as root, or in a container with CAP_SYS_ADMIN)"
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{message}");
            }
            eprintln!("SKIPPED: {message}");
            return;
        }
    };
    let server = Server::start_in(dir, &[]);
    // No kept-alive connections: a refused upload's connection is closed by the server before
    // the body is read, and a pooled client could race that close with its next request.
    let api = Api {
        client: reqwest::blocking::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
    };
    let c = &api.client;

    // Before the disk fills: a source and an uploaded package to read later.
    let (status, source, _) = api.send(
        c.post(server.api("/sources"))
            .json(&json!({"hostName": "full-1", "osFamily": "windows", "ipAddress": "10.7.0.1"})),
    );
    assert_eq!(status, 201, "{source}");
    let source_id = source["id"].as_str().unwrap().to_owned();
    let uploaded = package("linux-x64", "9.1.0.1");
    let (status, pkg, _) = api.send(
        c.post(server.api("/driverPackages?platform=linux-x64&version=9.1.0.1"))
            .body(uploaded.clone()),
    );
    assert_eq!(status, 201, "{pkg}");
    let uploaded_id = pkg["id"].as_str().unwrap().to_owned();

    // Fill the disk.
    let filler = server.dir.path().join("data").join("filler");
    let filled = fill(&filler);
    assert!(filled > 1024 * 1024, "only {filled} bytes filled");

    // An upload: 507, and nothing left behind.
    let (status, body, _) = api.send(
        c.post(server.api("/driverPackages?platform=windows-x64&version=9.1.0.2"))
            .body(big_package(512 * 1024)),
    );
    assert_507(status, &body, "an upload");
    let upload_dir = server.dir.path().join("data").join("packages");
    let left: Vec<_> = std::fs::read_dir(&upload_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 1, "files in the upload directory: {left:?}");

    // The same upload from the operator pages: the form again, with the reason, and a 507.
    let (status, _, page) = api.send(c.get(server.url("/migrate/driver-packages")));
    assert_eq!(status, 200);
    let page = String::from_utf8_lossy(&page).into_owned();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.get(..64))
        .expect("the upload form's CSRF token")
        .to_owned();
    let boundary = "full-disk-form";
    let mut form = Vec::new();
    for (name, value) in [
        ("csrf", csrf.as_str()),
        ("platform", "windows-x64"),
        ("version", "9.1.0.3"),
    ] {
        form.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    form.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"drivers.package\"\r\nContent-Type: application/zip\r\n\r\n"
        )
        .as_bytes(),
    );
    form.extend_from_slice(&big_package(512 * 1024));
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let (status, _, page) = api.send(
        c.post(server.url("/migrate/driver-packages"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(form),
    );
    let page = String::from_utf8_lossy(&page);
    assert_eq!(status, 507, "the page upload: {page}");
    assert!(
        page.contains("full") && page.contains("name=\"csrf\""),
        "the form again with the reason: {page}"
    );
    let left = std::fs::read_dir(&upload_dir).unwrap().count();
    assert_eq!(left, 1, "the page upload left files behind");

    // Database writes: sources and agent reports. SQLite may still have room in pages it holds,
    // so keep writing until the disk says no: every answer is a success or a 507, never a 500,
    // and the 507 comes.
    let mut refused = 0;
    for i in 0..2000 {
        let (status, body, _) = if i % 2 == 0 {
            api.send(c.post(server.api("/sources")).json(&json!({
                "hostName": format!("full-host-{i}-{}", "x".repeat(200)),
                "osFamily": "linux",
                "ipAddress": "10.7.1.1",
            })))
        } else {
            let versions = ["8.0.0.11", "8.0.0.12"];
            api.send(
                c.put(server.api(&format!("/sources/{source_id}/driverState")))
                    .json(
                        &json!({"installedVersion": versions[i % 4 / 2], "runningVersion": null}),
                    ),
            )
        };
        match status {
            200 | 201 => {}
            507 => {
                assert_507(status, &body, &format!("write {i}"));
                refused += 1;
                if refused >= 10 {
                    break;
                }
            }
            other => panic!(
                "write {i}: {other} {body}; server log:\n{}",
                server.log_text()
            ),
        }
    }
    assert!(
        refused >= 10,
        "the database writes never failed on a full disk"
    );

    // Reads go on: sources, a source, the package list, downloads of a sample and an uploaded
    // package (whole, with their hash), the pages.
    let (status, list, _) = api.send(c.get(server.api("/sources")));
    assert_eq!(status, 200, "{list}");
    assert!(list["totalCount"].as_u64().unwrap() >= 1);
    let (status, one, _) = api.send(c.get(server.api(&format!("/sources/{source_id}"))));
    assert_eq!(status, 200, "{one}");
    let (status, packages, _) = api.send(c.get(server.api("/driverPackages")));
    assert_eq!(status, 200, "{packages}");
    for p in packages["driverPackages"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap();
        let (status, _, bytes) =
            api.send(c.get(server.api(&format!("/driverPackages/{id}/content"))));
        assert_eq!(status, 200, "download of {p}");
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            p["sha256"].as_str().unwrap()
        );
    }
    let (status, _, bytes) =
        api.send(c.get(server.api(&format!("/driverPackages/{uploaded_id}/content"))));
    assert_eq!(status, 200);
    assert_eq!(bytes, uploaded);
    for page in ["/migrate/", "/migrate/workloads", "/migrate/tasks"] {
        let (status, _, _) = api.send(c.get(server.url(page)));
        assert_eq!(status, 200, "{page}");
    }
    let (status, _, _) = api.send(c.get(server.url("/_emu/health")));
    assert_eq!(status, 200);

    // Free the space: writes succeed again.
    std::fs::remove_file(&filler).unwrap();
    let big = big_package(512 * 1024);
    let (status, body, _) = api.send(
        c.post(server.api("/driverPackages?platform=windows-x64&version=9.1.0.2"))
            .body(big.clone()),
    );
    assert_eq!(status, 201, "the upload after space was freed: {body}");
    let id = body["id"].as_str().unwrap();
    let (status, _, bytes) = api.send(c.get(server.api(&format!("/driverPackages/{id}/content"))));
    assert_eq!(status, 200);
    assert_eq!(bytes, big);
    let (status, body, _) = api.send(
        c.post(server.api("/sources"))
            .json(&json!({"hostName": "after", "osFamily": "windows", "ipAddress": "10.7.0.2"})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body, _) = api.send(
        c.put(server.api(&format!("/sources/{source_id}/driverState")))
            .json(&json!({"installedVersion": "8.0.0.13", "runningVersion": "8.0.0.13"})),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        !server.log_text().contains("panicked"),
        "{}",
        server.log_text()
    );
    // Stop before the tmpfs is unmounted.
    drop(server);
}
