//! The operator pages in a real browser (SPEC 4): Debian's headless Chromium, driven through
//! chromedriver, against the real `psserver` binary. It signs in, sees the reboot task appear on
//! the Tasks page after an agent's report (without a reload), dismisses a task, runs a
//! replication from the workload's page and watches its Command Details reach 100 %, and saves a
//! screenshot of every page under `target/screenshots/`.
//!
//! Chromium and chromedriver come from `apt-get install chromium chromium-driver` (`.ci/run`
//! installs them). Without them the test fails in CI (`CI=true`) and is skipped elsewhere.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ADMIN, Server};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// chromedriver on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(program: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshots_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    let path = screenshots_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

async fn api(method: reqwest::Method, url: String, body: Option<Value>) -> Value {
    let mut request = common::client()
        .request(method.clone(), &url)
        .basic_auth(ADMIN.0, Some(ADMIN.1));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{method} {url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The text of the first element that matches. The live updates replace elements under our
/// feet (a stale reference), so a failed read is tried again.
async fn text_of(c: &Client, css: &str) -> String {
    let mut last = String::new();
    for _ in 0..50 {
        match c.find(Locator::Css(css)).await {
            Ok(e) => match e.text().await {
                Ok(t) => return t,
                Err(err) => last = err.to_string(),
            },
            Err(err) => last = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot read {css}: {last}");
}

/// Click the `button` inside the first `rows` element whose text contains `needle`, trying again
/// if a live update replaced it meanwhile. Answers the URL before the click.
async fn click_in(c: &Client, rows: &str, needle: &str, button: &str) -> String {
    let before = c.current_url().await.unwrap().to_string();
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen.clear();
        for r in c.find_all(Locator::Css(rows)).await.unwrap_or_default() {
            let Ok(t) = r.text().await else { continue };
            if t.contains(needle)
                && let Ok(b) = r.find(Locator::Css(button)).await
                && b.click().await.is_ok()
            {
                return before;
            }
            seen.push(t);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing to click in {rows} with {needle:?}; saw {seen:?}");
}

/// Wait until `css` matches something whose text contains `needle` (the page's script updates
/// it; nothing here reloads the page).
async fn wait_text(c: &Client, css: &str, needle: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(elements) = c.find_all(Locator::Css(css)).await {
            for e in elements {
                if let Ok(t) = e.text().await
                    && t.contains(needle)
                {
                    return t;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no {css} with {needle:?} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Mark the current document; if the mark is still there later, the page was not reloaded.
async fn mark(c: &Client) {
    c.execute("window.__notReloaded = true; return true;", vec![])
        .await
        .unwrap();
}

async fn still_marked(c: &Client) -> bool {
    c.execute("return window.__notReloaded === true;", vec![])
        .await
        .unwrap()
        == json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_pages_in_headless_chromium() {
    let chromedriver = find_program("chromedriver");
    if !Path::new(CHROMIUM).is_file() || chromedriver.is_none() {
        let message = "Chromium or chromedriver is missing: install them with `apt-get install -y chromium chromium-driver` (.ci/run does)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message}; the browser test must run in CI");
        }
        eprintln!("SKIPPED operator_pages_in_headless_chromium: {message}");
        return;
    }
    let server = Server::start(&["--replication-speed", "fast"]);
    let driver = Driver::start(&chromedriver.unwrap());
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session");
    let result = run(&c, &server).await;
    let _ = c.close().await;
    if let Err(e) = result {
        panic!("{e}\nserver log:\n{}", server.log_text());
    }
}

async fn run(c: &Client, server: &Server) -> Result<(), String> {
    use reqwest::Method;
    let base = format!("http://{}", server.addr);
    let page = |path: &str| format!("{base}{path}");

    // Two Windows workloads, no tasks yet.
    let mut ids = Vec::new();
    for (host, ip) in [("web-01", "10.0.0.5"), ("sql-02", "10.0.0.6")] {
        let s = api(
            Method::POST,
            server.api("/sources"),
            Some(json!({"hostName": host, "osFamily": "windows", "ipAddress": ip})),
        )
        .await;
        ids.push(s["id"].as_str().unwrap().to_owned());
    }

    // Sign in: the credentials in the URL answer the server's Basic challenge; the browser keeps
    // them for the other pages and for the live updates' requests.
    c.goto(&format!(
        "http://{}:{}@{}/migrate/tasks",
        ADMIN.0, ADMIN.1, server.addr
    ))
    .await
    .map_err(|e| e.to_string())?;
    let user = text_of(c, ".user strong").await;
    assert_eq!(user, "administrator");
    assert!(text_of(c, "#task-list").await.contains("No tasks match"));
    mark(c).await;

    // The agents report a driver installed but not loaded: the reboot tasks appear by themselves.
    for id in &ids {
        api(
            Method::PUT,
            server.api(&format!("/sources/{id}/driverState")),
            Some(json!({"installedVersion": "8.0.0.11", "runningVersion": null, "controllerService": "running"})),
        )
        .await;
    }
    let row = wait_text(c, "tr.task", "sql-02", Duration::from_secs(15)).await;
    assert!(
        row.contains("Reboot required to complete the driver installation"),
        "{row}"
    );
    wait_text(c, "tr.task", "web-01", Duration::from_secs(15)).await;
    assert!(still_marked(c).await, "the task appeared without a reload");
    // Screen readers hear of it (issue 19, defect 3).
    wait_text(c, "#live-announcer", "New task for", Duration::from_secs(5)).await;
    shot(c, "tasks").await;
    axe_check(c, "tasks").await;

    // The live update patches the list: a focused button keeps the focus while a new task
    // arrives above it.
    c.execute(
        "document.querySelector('tr.task button').focus(); window.__focused = document.activeElement; return true;",
        vec![],
    )
    .await
    .unwrap();
    let extra = api(
        Method::POST,
        server.api("/sources"),
        Some(json!({"hostName": "app-03", "osFamily": "windows", "ipAddress": "10.0.0.7"})),
    )
    .await;
    api(
        Method::PUT,
        server.api(&format!("/sources/{}/driverState", extra["id"].as_str().unwrap())),
        Some(json!({"installedVersion": "8.0.0.11", "runningVersion": null, "controllerService": "running"})),
    )
    .await;
    wait_text(c, "tr.task", "app-03", Duration::from_secs(15)).await;
    assert_eq!(
        c.execute(
            "return document.activeElement === window.__focused && document.activeElement.tagName;",
            vec![]
        )
        .await
        .unwrap(),
        json!("BUTTON"),
        "the focus stayed on its button"
    );
    c.execute("document.activeElement.blur(); return true;", vec![])
        .await
        .unwrap();
    click_in(c, "tr.task", "app-03", "button").await;
    click_execute(c).await;
    wait_text(c, "h1", "Tasks", Duration::from_secs(10)).await;

    // Dismiss web-01's task: it asks first, then goes.
    assert_eq!(c.find_all(Locator::Css("tr.task")).await.unwrap().len(), 2);
    click_in(c, "tr.task", "web-01", "button").await;
    wait_text(
        c,
        "h1",
        "Dismiss the reboot notification of web-01?",
        Duration::from_secs(10),
    )
    .await;
    shot(c, "confirm").await;
    click_execute(c).await;
    // The form posts, the server answers with the list again: one task left.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = c
            .find_all(Locator::Css("tr.task"))
            .await
            .unwrap_or_default();
        if rows.len() == 1 && rows[0].text().await.unwrap_or_default().contains("sql-02") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dismissed task is still listed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with("/migrate/tasks?state=active&offset=0")
    );

    // The other pages, as an operator sees them.
    c.goto(&page("/migrate/")).await.unwrap();
    assert_eq!(text_of(c, "h1").await, "Dashboard");
    shot(c, "dashboard").await;
    c.goto(&page("/migrate/workloads")).await.unwrap();
    assert!(
        text_of(c, "table.workloads")
            .await
            .contains("Reboot pending")
    );
    shot(c, "workloads").await;
    c.goto(&page("/migrate/driver-packages")).await.unwrap();
    assert!(text_of(c, "table.packages").await.contains("Latest"));
    shot(c, "driver-packages").await;
    c.goto(&page("/migrate/downloads")).await.unwrap();
    assert!(
        text_of(c, "table.commands")
            .await
            .contains(&format!("/psserver={}", server.addr))
    );
    shot(c, "downloads").await;

    // web-01: configure, prepare and replicate from its page.
    let workload = page(&format!("/migrate/workloads/{}", ids[0]));
    c.goto(&workload).await.unwrap();
    click_button(c, "Configure Migration").await;
    click_button(c, "Prepare Migration").await;
    wait_text(c, "#progress-value", "100 %", Duration::from_secs(30)).await;
    c.goto(&workload).await.unwrap();
    shot(c, "workload").await;
    // Run Migration: its options page (Full chosen for a first replication), then Execute.
    click_button(c, "Run Migration").await;
    assert_eq!(text_of(c, "h1").await, "Run Migration");
    let full = c
        .find(Locator::Css("input[name=migrationType][value=full]"))
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(
        full.prop("checked").await.map_err(|e| e.to_string())?,
        Some("true".to_owned())
    );
    click_execute(c).await;
    // Command Details: watch the progress move and reach 100 %, without a reload.
    assert_eq!(text_of(c, "h1").await, "Command Details");
    mark(c).await;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let value = text_of(c, "#progress-value").await;
        if seen.last() != Some(&value) {
            seen.push(value.clone());
        }
        if value == "100 %" && text_of(c, "#command-status").await.contains("Completed") {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("the progress did not reach 100 %: {seen:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("progress seen on Command Details: {seen:?}");
    assert!(
        seen.len() >= 2,
        "the page showed the replication before it ended: {seen:?}"
    );
    assert!(
        still_marked(c).await,
        "Command Details updated without a reload"
    );
    assert_eq!(
        text_of(c, "#command-status").await,
        "⚠ Completed with warnings"
    );
    let warnings = text_of(c, "#warnings").await;
    assert!(
        warnings
            .contains("Reboot notification: Reboot required to complete the driver installation"),
        "{warnings}"
    );
    assert!(
        text_of(c, "#transfer-method")
            .await
            .contains("without a driver")
    );
    shot(c, "command").await;
    axe_check(c, "command").await;

    // The rest of the workload's life, from its page: test cutover, mark it, cut over, remove.
    c.goto(&workload).await.unwrap();
    axe_check(c, "workload").await;
    click_button(c, "Test Cutover").await;
    assert_eq!(text_of(c, "h1").await, "Test Cutover");
    axe_check(c, "test-cutover").await;
    click_execute(c).await;
    wait_done(c).await;
    c.goto(&workload).await.unwrap();
    wait_text(
        c,
        "#actions .btn",
        "Mark Test as Success",
        Duration::from_secs(10),
    )
    .await;
    shot(c, "workload-under-test").await;
    click_button(c, "Mark Test as Success").await;
    // Back on the workload's page once the test cutover has ended.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        c.goto(&workload).await.unwrap();
        // Through "Ending Test Cutover" to Idle (replicated, no test running).
        if text_of(c, "#workload-status").await == "Idle" {
            break;
        }
        assert!(Instant::now() < deadline, "the test cutover did not end");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Pause and resume the schedule.
    click_button(c, "Pause Schedule").await;
    wait_text(c, "#schedule", "Paused", Duration::from_secs(10)).await;
    click_button(c, "Resume Schedule").await;
    wait_text(c, "#schedule", "Active", Duration::from_secs(10)).await;
    click_button(c, "Run Cutover").await;
    assert_eq!(text_of(c, "h1").await, "Run Cutover");
    assert!(
        text_of(c, ".command-form")
            .await
            .contains("cannot be undone")
    );
    axe_check(c, "cutover").await;
    shot(c, "cutover-options").await;
    click_execute(c).await;
    wait_done(c).await;
    c.goto(&workload).await.unwrap();
    assert_eq!(text_of(c, "#workload-status").await, "Cutover Completed");
    click_button(c, "Remove Workload").await;
    wait_text(c, "h1", "Remove web-01?", Duration::from_secs(10)).await;
    axe_check(c, "confirm").await;
    click_execute(c).await;
    wait_text(c, "h1", "Workloads", Duration::from_secs(10)).await;
    assert!(!text_of(c, "#workload-list").await.contains("web-01"));
    axe_check(c, "workloads").await;
    c.goto(&page("/migrate/events")).await.unwrap();
    shot(c, "events").await;
    for path in [
        "/migrate/",
        "/migrate/tasks",
        "/migrate/events",
        "/migrate/driver-packages",
        "/migrate/downloads",
        "/migrate/workloads/00000000-0000-4000-8000-000000000000",
    ] {
        c.goto(&page(path)).await.unwrap();
        axe_check(c, path).await;
    }

    // A phone's width: the same pages stay readable, without sideways scrolling.
    c.set_window_size(390, 844).await.unwrap();
    for (name, path) in [
        ("workloads-phone", "/migrate/workloads".to_owned()),
        ("tasks-phone", "/migrate/tasks".to_owned()),
        ("packages-phone", "/migrate/driver-packages".to_owned()),
        ("workload-phone", format!("/migrate/workloads/{}", ids[1])),
        ("dashboard-phone", "/migrate/".to_owned()),
    ] {
        c.goto(&page(&path)).await.unwrap();
        shot(c, name).await;
        let wide = c
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(wide, json!(0), "{path} scrolls sideways on a phone");
        axe_check(c, name).await;
    }
    Ok(())
}

/// Wait until the Command Details on screen reach an end.
async fn wait_done(c: &Client) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = text_of(c, "#command-status").await;
        if status.contains("Completed") || status.contains("Failed") || status.contains("Aborted") {
            assert!(!status.contains("Failed"), "the command failed");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the command did not end: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// axe-core, fetched by `.ci/run` from the npm registry (or `AXE_CORE_JS`). CI needs it; a local
/// run without it skips the accessibility checks.
fn axe_source() -> Option<&'static str> {
    static AXE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    AXE.get_or_init(|| {
        let path = std::env::var_os("AXE_CORE_JS").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/axe/axe.min.js"),
            PathBuf::from,
        );
        let source = std::fs::read_to_string(&path).ok();
        if source.is_none() {
            let message = format!(
                "axe-core is missing at {} (.ci/run fetches it)",
                path.display()
            );
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "{message}; the accessibility checks must run in CI"
            );
            eprintln!("SKIPPED the accessibility checks: {message}");
        }
        source
    })
    .as_deref()
}

/// Run axe-core on the page on screen (WCAG 2.1 A and AA rules): no violation.
async fn axe_check(c: &Client, name: &str) {
    let Some(axe) = axe_source() else { return };
    c.execute(
        &format!("if (!window.axe) {{ {axe} }} return true;"),
        vec![],
    )
    .await
    .unwrap();
    let violations = c
        .execute_async(
            r#"var done = arguments[arguments.length - 1];
            axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
              .then(function (r) {
                done(r.violations.map(function (v) {
                  return v.id + ": " + v.help + " [" + v.nodes.slice(0, 3).map(function (n) { return n.target.join(" "); }).join("; ") + "]";
                }));
              })
              .catch(function (e) { done(["axe failed: " + e]); });"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(violations, json!([]), "axe-core on {name}");
    eprintln!("axe-core: no violation on {name}");
}

/// Click the workload page's command (a button, or a link to its options page) with this label
/// and wait for the page it leads to.
async fn click_button(c: &Client, label: &str) {
    let before = c.current_url().await.unwrap().to_string();
    let mut clicked = false;
    for _ in 0..50 {
        for b in c
            .find_all(Locator::Css("#actions .btn"))
            .await
            .unwrap_or_default()
        {
            if b.text().await.is_ok_and(|t| t == label) && b.click().await.is_ok() {
                clicked = true;
                break;
            }
        }
        if clicked {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(clicked, "no command {label:?} on the page");
    if label.starts_with("Mark Test") || label.ends_with(" Schedule") {
        // It comes back to the same page; the caller waits for what it changes.
        wait_text(c, "h1", "web-01", Duration::from_secs(10)).await;
        return;
    }
    if label == "Configure Migration" {
        // Configure comes back to the same page: wait for its next button.
        wait_text(
            c,
            "#actions .btn",
            "Prepare Migration",
            Duration::from_secs(10),
        )
        .await;
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.current_url().await.unwrap().as_str() == before {
        assert!(Instant::now() < deadline, "{label} led nowhere");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Click Execute on a command's options page (or the confirming button of a confirmation) and
/// wait for the page it leads to.
async fn click_execute(c: &Client) {
    // The page with the button may still be loading.
    let deadline = Instant::now() + Duration::from_secs(10);
    let button = loop {
        if let Ok(b) = c.find(Locator::Css("#execute, #confirm-button")).await {
            break b;
        }
        assert!(Instant::now() < deadline, "no Execute button");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let before = c.current_url().await.unwrap().to_string();
    button.click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.current_url().await.unwrap().as_str() == before {
        assert!(Instant::now() < deadline, "Execute led nowhere");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
