//! Reliability: crash safety. The real server is killed with SIGKILL at random moments (a seeded
//! generator picks them, so a failure reproduces with its seed) while clients upload 100 driver
//! packages and send 1,000 agent reports, over several kill/restart cycles. After every restart:
//! the server starts; every write it acknowledged is there; no package is listed without its
//! whole file (each hashes to its SHA-256 and size); no file is left in `<data-dir>/packages`
//! without its row once the start-up reconciliation ran.

use crate::common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ADMIN, Server};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// At least this many kill/restart cycles, and more until all the work was attempted.
const MIN_CYCLES: usize = 5;
const MAX_CYCLES: usize = 60;
const UPLOADS: usize = 100;
const REPORTS: usize = 1000;
const SOURCES: usize = 8;
const UPLOAD_WORKERS: usize = 2;

/// xorshift64*: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A valid package (a zip without a manifest, which the server accepts) of `size` bytes of noise.
fn package(seed: u64, size: usize) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    let data: Vec<u8> = (0..size.div_ceil(8))
        .flat_map(|_| rng.next().to_le_bytes())
        .take(size)
        .collect();
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("psbbt.sys", stored).unwrap();
    std::io::Write::write_all(&mut zip, &data).unwrap();
    zip.finish().unwrap().into_inner()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What the clients know: acknowledged uploads, and per source the last acknowledged report
/// and the one that was in flight when the server died (it may or may not have committed).
#[derive(Default)]
struct Ledger {
    /// (platform, version) → sha256 of each upload answered 201.
    uploads: BTreeMap<(String, String), String>,
    /// (platform, version) → sha256 of each upload sent but not answered.
    uploads_unanswered: BTreeMap<(String, String), String>,
    /// source id → last acknowledged (installed, running).
    reports: HashMap<String, (Value, Value)>,
    /// source id → the reports sent since the last acknowledged one and never answered (one per
    /// kill at most): any of them may have committed.
    reports_unanswered: HashMap<String, Vec<(Value, Value)>>,
    acked_uploads: usize,
    acked_reports: usize,
}

/// Work still to hand out, shared by the cycles: each request takes a ticket.
#[derive(Default)]
struct Tickets {
    uploads: AtomicUsize,
    reports: AtomicUsize,
}

impl Tickets {
    fn take(counter: &AtomicUsize, total: usize) -> Option<usize> {
        let t = counter.fetch_add(1, Ordering::SeqCst);
        (t < total).then_some(t)
    }
    fn all_taken(&self) -> bool {
        self.uploads.load(Ordering::SeqCst) >= UPLOADS
            && self.reports.load(Ordering::SeqCst) >= REPORTS
    }
}

/// Run the clients until all the work was handed out or the server is gone.
async fn clients(
    base: String,
    sources: Vec<(String, bool)>,
    ledger: Arc<Mutex<Ledger>>,
    tickets: Arc<Tickets>,
    cycle: usize,
    seed: u64,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..UPLOAD_WORKERS {
        let (client, base, ledger) = (client.clone(), base.clone(), ledger.clone());
        let tickets = tickets.clone();
        tasks.spawn(async move {
            let mut rng = Rng(seed ^ ((worker as u64 + 1) << 32) ^ cycle as u64);
            while let Some(i) = Tickets::take(&tickets.uploads, UPLOADS) {
                let platform = ["windows-x64", "windows-x86", "linux-x64"][i % 3];
                let version = format!("9.0.0.{i}");
                let size = 64 * 1024 + rng.below(1024 * 1024) as usize;
                let bytes = package(rng.next(), size);
                let sha = sha256_hex(&bytes);
                let key = (platform.to_owned(), version.clone());
                ledger
                    .lock()
                    .unwrap()
                    .uploads_unanswered
                    .insert(key.clone(), sha.clone());
                let sent = client
                    .post(format!(
                        "{base}/driverPackages?platform={platform}&version={version}"
                    ))
                    .basic_auth(ADMIN.0, Some(ADMIN.1))
                    .body(bytes)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let mut l = ledger.lock().unwrap();
                        l.uploads_unanswered.remove(&key);
                        l.uploads.insert(key, sha);
                        l.acked_uploads += 1;
                    }
                    Ok(r) => panic!("upload {platform} {version}: {}", r.status()),
                    Err(_) => return, // the server is gone
                }
            }
        });
    }
    for (source, windows) in sources {
        let (client, base, ledger) = (client.clone(), base.clone(), ledger.clone());
        let tickets = tickets.clone();
        tasks.spawn(async move {
            let mut rng = Rng(seed ^ cycle as u64 ^ u64::from_str_radix(&source[..8], 16).unwrap());
            let versions = [
                Value::Null,
                json!("8.0.0.11"),
                json!("8.0.0.12"),
                json!("8.0.0.13"),
            ];
            while Tickets::take(&tickets.reports, REPORTS).is_some() {
                let installed = versions[rng.below(4) as usize].clone();
                // Linux runs what is installed; Windows may lag until a reboot.
                let running = if windows {
                    versions[rng.below(4) as usize].clone()
                } else {
                    installed.clone()
                };
                ledger
                    .lock()
                    .unwrap()
                    .reports_unanswered
                    .entry(source.clone())
                    .or_default()
                    .push((installed.clone(), running.clone()));
                let sent = client
                    .put(format!("{base}/sources/{source}/driverState"))
                    .basic_auth(ADMIN.0, Some(ADMIN.1))
                    .json(&json!({"installedVersion": installed, "runningVersion": running}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        let mut l = ledger.lock().unwrap();
                        l.reports_unanswered.remove(&source);
                        l.reports.insert(source.clone(), (installed, running));
                        l.acked_reports += 1;
                    }
                    Ok(r) => panic!("report on {source}: {}", r.status()),
                    Err(_) => return,
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

fn get_json(client: &reqwest::blocking::Client, url: &str) -> Value {
    let r = client
        .get(url)
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().unwrap()
}

/// Everything a user would check after a restart.
fn check_after_restart(server: &Server, ledger: &Ledger, cycle: usize) {
    let client = reqwest::blocking::Client::new();
    // Packages: every listed one is whole; every acknowledged upload is listed.
    let mut listed: Vec<Value> = Vec::new();
    let mut offset = 0;
    loop {
        let page = get_json(
            &client,
            &server.api(&format!("/driverPackages?offset={offset}&limit=500")),
        );
        let items = page["driverPackages"].as_array().unwrap().clone();
        offset += items.len();
        listed.extend(items);
        if offset as u64 >= page["totalCount"].as_u64().unwrap() {
            break;
        }
    }
    let mut by_key: HashMap<(String, String), &Value> = HashMap::new();
    for p in &listed {
        let key = (
            p["platform"].as_str().unwrap().to_owned(),
            p["version"].as_str().unwrap().to_owned(),
        );
        by_key.insert(key, p);
        // No row without its whole file: the download is the file the row describes.
        let id = p["id"].as_str().unwrap();
        let r = client
            .get(server.api(&format!("/driverPackages/{id}/content")))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "cycle {cycle}: content of {p}");
        let body = r.bytes().unwrap();
        assert_eq!(
            body.len() as u64,
            p["size"].as_u64().unwrap(),
            "cycle {cycle}: {p}"
        );
        assert_eq!(
            sha256_hex(&body),
            p["sha256"].as_str().unwrap(),
            "cycle {cycle}: {p}"
        );
    }
    for (key, sha) in &ledger.uploads {
        let p = by_key
            .get(key)
            .unwrap_or_else(|| panic!("cycle {cycle}: acknowledged upload {key:?} is lost"));
        assert_eq!(
            p["sha256"].as_str(),
            Some(sha.as_str()),
            "cycle {cycle}: {key:?}"
        );
    }
    for (key, p) in &by_key {
        if key.1.starts_with("9.") && !ledger.uploads.contains_key(key) {
            // An upload the server committed but never answered: it must be the bytes sent.
            let sha = ledger
                .uploads_unanswered
                .get(key)
                .unwrap_or_else(|| panic!("cycle {cycle}: {key:?} is listed but was never sent"));
            assert_eq!(p["sha256"].as_str(), Some(sha.as_str()));
        }
    }
    // No orphan: every file in <data-dir>/packages is an uploaded package's, named by its hash.
    let dir = server.dir.path().join("data").join("packages");
    let uploaded: Vec<String> = listed
        .iter()
        .filter(|p| p["origin"] == "upload")
        .map(|p| format!("{}.package", p["sha256"].as_str().unwrap()))
        .collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            uploaded.contains(&name),
            "cycle {cycle}: orphan file {name} left in {}",
            dir.display()
        );
        // And on disk, the file is whole too.
        let bytes = std::fs::read(entry.path()).unwrap();
        assert_eq!(format!("{}.package", sha256_hex(&bytes)), name);
    }
    // Reports: each source shows its last acknowledged report, or the one in flight at the kill.
    for (source, acked) in &ledger.reports {
        let s = get_json(&client, &server.api(&format!("/sources/{source}")));
        let now = (
            s["driver"]["installedVersion"].clone(),
            s["driver"]["runningVersion"].clone(),
        );
        let in_flight = ledger.reports_unanswered.get(source);
        if &now != acked && !in_flight.is_some_and(|sent| sent.contains(&now)) {
            let events = get_json(
                &client,
                &server.api(&format!("/events?sourceId={source}&limit=20")),
            );
            let lines: Vec<String> = events["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| format!("{} {}", e["createdAt"], e["message"]))
                .collect();
            panic!(
                "cycle {cycle}: source {source} shows {now:?}; acknowledged {acked:?}, sent since without an answer {in_flight:?}; its latest events:\n{}\nserver log:\n{}",
                lines.join("\n"),
                server.log_text()
            );
        }
        // The reboot task follows the state: one active task exactly when a Windows machine
        // has a reboot pending.
        let tasks = get_json(
            &client,
            &server.api(&format!(
                "/tasks?sourceId={source}&state=active&kind=RebootRequired"
            )),
        );
        let pending = s["driver"]["rebootPending"].as_bool().unwrap();
        let windows = s["osFamily"] == "windows";
        assert_eq!(
            tasks["totalCount"].as_u64().unwrap(),
            u64::from(pending && windows),
            "cycle {cycle}: source {source}: {s}"
        );
    }
}

#[test]
fn acknowledged_writes_survive_kill_9_and_nothing_half_done_is_left() {
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0ff_ee15_600d);
    eprintln!("crash test seed {seed} (set CRASH_SEED to repeat another)");
    let mut rng = Rng(seed);
    let mut server = Server::start(&[]);

    // The sources the agents report on: half Windows, half Linux.
    let client = reqwest::blocking::Client::new();
    let sources: Vec<(String, bool)> = (0..SOURCES)
        .map(|i| {
            let windows = i % 2 == 0;
            let body = json!({
                "hostName": format!("crash-{i}"),
                "osFamily": if windows { "windows" } else { "linux" },
                "ipAddress": format!("10.9.0.{}", i + 1),
            });
            let s: Value = client
                .post(server.api("/sources"))
                .basic_auth(ADMIN.0, Some(ADMIN.1))
                .json(&body)
                .send()
                .unwrap()
                .json()
                .unwrap();
            (s["id"].as_str().unwrap().to_owned(), windows)
        })
        .collect();

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let tickets = Arc::new(Tickets::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut cycle = 0;
    while cycle < MIN_CYCLES || !tickets.all_taken() {
        assert!(
            cycle < MAX_CYCLES,
            "the work did not get done in {MAX_CYCLES} cycles"
        );
        let kill_after = Duration::from_millis(30 + rng.below(500));
        let work = runtime.spawn(clients(
            server.api(""),
            sources.clone(),
            ledger.clone(),
            tickets.clone(),
            cycle,
            rng.next(),
        ));
        std::thread::sleep(kill_after);
        let dir = server.stop(); // SIGKILL
        runtime.block_on(work).unwrap();
        server = Server::start_in(dir, &[]);
        let l = ledger.lock().unwrap();
        eprintln!(
            "cycle {cycle}: killed after {kill_after:?}; acknowledged so far: {} uploads, {} reports",
            l.acked_uploads, l.acked_reports
        );
        check_after_restart(&server, &l, cycle);
        cycle += 1;
    }
    let l = ledger.lock().unwrap();
    // All the work was attempted, and all of it was acknowledged but what the kills cut off.
    assert!(tickets.all_taken());
    assert!(
        l.acked_uploads + cycle * UPLOAD_WORKERS >= UPLOADS,
        "{} uploads acknowledged",
        l.acked_uploads
    );
    assert!(
        l.acked_reports + cycle * SOURCES >= REPORTS,
        "{} reports acknowledged",
        l.acked_reports
    );
}
