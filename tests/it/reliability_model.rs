//! Reliability: a property-based state-machine test of SPEC 3 through the router. Random
//! sequences of driver reports, reboots, task dismissals and transformation operations run
//! against the API and against a small reference model written here from the SPEC; after every
//! step the API's view must equal the model's: driver versions, reboot pending, the one active
//! reboot task, `serverSyncRequired`, the transformation's state and its allowed operations.
//! A second test races reports and operations (`tokio::join!`) and checks the invariants.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::StatusCode;
use common::{ADMIN, API, AppExt, Reply};
use proptest::prelude::*;
use psserver::App;
use serde_json::{Value, json};

/// Few versions, so that steps often repeat a state or start a driver.
const VERSIONS: [Option<&str>; 3] = [None, Some("8.0.0.11"), Some("8.0.0.12")];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contract {
    Configured,
    Prepared,
    UnderTest,
    CutOver,
}

/// One workload as SPEC 3 describes it.
#[derive(Debug, Clone)]
struct Workload {
    windows: bool,
    installed: Option<&'static str>,
    running: Option<&'static str>,
    server_sync: bool,
    reboot_task: bool,
    contract: Option<(Contract, bool)>, // (state, has a full replication)
}

impl Workload {
    fn new(windows: bool) -> Self {
        Self {
            windows,
            installed: None,
            running: None,
            server_sync: false,
            reboot_task: false,
            contract: None,
        }
    }

    fn pending(&self) -> bool {
        self.installed != self.running
    }

    /// SPEC 3.2: a new driver state (reported, or after a reboot).
    fn apply(&mut self, installed: Option<&'static str>, running: Option<&'static str>) {
        let changed = (installed, running) != (self.installed, self.running);
        if self.running.is_none() && running.is_some() {
            self.server_sync = true;
        }
        self.installed = installed;
        self.running = running;
        let needed = self.windows && self.pending();
        // One active task while a Windows reboot is pending: created on a change, kept (or
        // updated) after, resolved when nothing is pending. A dismissed one is not re-created
        // until the state changes again.
        self.reboot_task = match (needed, self.reboot_task) {
            (false, _) => false,
            (true, true) => true,
            (true, false) => changed,
        };
    }

    fn allowed(&self) -> BTreeSet<&'static str> {
        let mut ops = BTreeSet::new();
        let Some((state, full)) = self.contract else {
            return ops;
        };
        match state {
            Contract::Configured => {
                ops.insert("Prepare");
            }
            Contract::Prepared => {
                ops.insert("Migrate");
                if full {
                    ops.insert("TestCutover");
                    ops.insert("Cutover");
                }
            }
            Contract::UnderTest => {
                ops.extend(["Migrate", "EndTestCutover", "Cutover"]);
            }
            Contract::CutOver => {}
        }
        ops
    }
}

#[derive(Debug, Clone)]
enum Step {
    Report {
        source: usize,
        installed: usize,
        running: usize,
    },
    /// The agent's periodic report of an unchanged state.
    Repeat(usize),
    Reboot(usize),
    Dismiss(usize),
    Contract(usize),
    Operation {
        source: usize,
        op: &'static str,
        migration: Option<&'static str>,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let source = 0..3usize;
    prop_oneof![
        4 => (source.clone(), 0..3usize, 0..3usize).prop_map(|(source, installed, running)| {
            Step::Report { source, installed, running }
        }),
        2 => source.clone().prop_map(Step::Repeat),
        2 => source.clone().prop_map(Step::Reboot),
        2 => source.clone().prop_map(Step::Dismiss),
        1 => source.clone().prop_map(Step::Contract),
        4 => (
            source,
            prop::sample::select(vec!["Prepare", "Migrate", "Migrate", "Migrate", "TestCutover", "EndTestCutover", "Cutover"]),
            prop::sample::select(vec![None, Some("full"), Some("incremental"), Some("serverSync")]),
        )
            .prop_map(|(source, op, migration)| Step::Operation {
                source,
                op,
                migration: if op == "Migrate" { migration } else { None },
            }),
    ]
}

struct Api {
    app: App,
    _state: psserver::AppState,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn new() -> Self {
        let (app, state, dir) = common::test_app().await;
        Self {
            app,
            _state: state,
            _dir: dir,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.app.call(method, &format!("{API}{path}"), body).await
    }

    async fn get(&self, path: &str) -> Value {
        self.app.get_json(&format!("{API}{path}")).await
    }

    async fn add_source(&self, i: usize, windows: bool) -> String {
        let reply = self
            .call(
                "POST",
                "/sources",
                Some(json!({
                    "hostName": format!("model-{i}"),
                    "osFamily": if windows { "windows" } else { "linux" },
                    "ipAddress": format!("10.8.0.{}", i + 1),
                })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
        reply.json()["id"].as_str().unwrap().to_owned()
    }

    async fn active_reboot_tasks(&self, source: &str) -> Vec<Value> {
        self.get(&format!(
            "/tasks?sourceId={source}&state=active&kind=RebootRequired"
        ))
        .await["tasks"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn wait(&self, href: &str) -> Value {
        for _ in 0..2000 {
            let reply = self.app.get_as(href, ADMIN).await;
            let op = reply.json();
            if !matches!(op["status"].as_str(), Some("queued" | "running")) {
                return op;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("{href} never finished");
    }
}

fn version(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// The API's view of a workload equals the model's.
async fn assert_same(
    api: &Api,
    id: &str,
    transformation: Option<&str>,
    model: &Workload,
    at: &str,
) {
    let s = api.get(&format!("/sources/{id}")).await;
    let d = &s["driver"];
    assert_eq!(
        version(&d["installedVersion"]).as_deref(),
        model.installed,
        "{at}: {s}"
    );
    assert_eq!(
        version(&d["runningVersion"]).as_deref(),
        model.running,
        "{at}: {s}"
    );
    assert_eq!(d["rebootPending"], model.pending(), "{at}: {s}");
    assert_eq!(s["serverSyncRequired"], model.server_sync, "{at}: {s}");
    let tasks = api.active_reboot_tasks(id).await;
    assert_eq!(
        tasks.len(),
        usize::from(model.reboot_task),
        "{at}: tasks {tasks:?}"
    );
    if let Some(t) = transformation {
        let t = api.get(&format!("/transformations/{t}")).await;
        let (state, _) = model.contract.unwrap();
        let expected = match state {
            Contract::Configured => "Configured",
            Contract::Prepared => "Prepared",
            Contract::UnderTest => "TestCutover",
            Contract::CutOver => "CutOver",
        };
        assert_eq!(t["currentState"], expected, "{at}: {t}");
        let allowed: BTreeSet<&str> = t["links"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l["rel"].as_str()?.strip_prefix("operation-"))
            .filter(|op| *op != "Abort" && *op != "Remove")
            .collect();
        assert_eq!(allowed, model.allowed(), "{at}: {t}");
    }
}

async fn run_steps(steps: Vec<Step>) {
    let api = Api::new().await;
    let oses = [true, true, false];
    let mut ids = Vec::new();
    let mut models = Vec::new();
    for (i, windows) in oses.into_iter().enumerate() {
        ids.push(api.add_source(i, windows).await);
        models.push(Workload::new(windows));
    }
    // Sources 0 (Windows) and 2 (Linux) start with a contract; 1 gets one when a step asks.
    let mut contracts: Vec<Option<String>> = vec![None; 3];
    for i in [0, 2] {
        let reply = api
            .call(
                "POST",
                "/transformations",
                Some(json!({"sourceId": ids[i]})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
        contracts[i] = Some(reply.json()["id"].as_str().unwrap().to_owned());
        models[i].contract = Some((Contract::Configured, false));
    }
    for (n, step) in steps.into_iter().enumerate() {
        let at = format!("step {n} {step:?}");
        let source = match &step {
            Step::Report { source, .. }
            | Step::Repeat(source)
            | Step::Reboot(source)
            | Step::Dismiss(source)
            | Step::Contract(source)
            | Step::Operation { source, .. } => *source,
        };
        let (id, model) = (&ids[source], &mut models[source]);
        match step {
            Step::Report {
                installed, running, ..
            } => {
                let (i, r) = (VERSIONS[installed], VERSIONS[running]);
                let reply = api
                    .call(
                        "PUT",
                        &format!("/sources/{id}/driverState"),
                        Some(json!({"installedVersion": i, "runningVersion": r})),
                    )
                    .await;
                if !model.windows && i != r {
                    // A Linux driver loads at once: such a report is impossible, nothing changes.
                    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{at}");
                } else {
                    assert_eq!(reply.status, StatusCode::OK, "{at}");
                    model.apply(i, r);
                }
            }
            Step::Repeat(_) => {
                let reply = api
                    .call(
                        "PUT",
                        &format!("/sources/{id}/driverState"),
                        Some(json!({"installedVersion": model.installed, "runningVersion": model.running})),
                    )
                    .await;
                assert_eq!(reply.status, StatusCode::OK, "{at}");
                model.apply(model.installed, model.running);
            }
            Step::Reboot(_) => {
                let reply = api
                    .call("POST", &format!("/sources/{id}?operation=Reboot"), None)
                    .await;
                assert_eq!(reply.status, StatusCode::OK, "{at}");
                model.apply(model.installed, model.installed);
            }
            Step::Dismiss(_) => {
                for task in api.active_reboot_tasks(id).await {
                    let tid = task["id"].as_str().unwrap();
                    let reply = api
                        .call("POST", &format!("/tasks/{tid}?operation=Dismiss"), None)
                        .await;
                    assert_eq!(reply.status, StatusCode::OK, "{at}");
                    model.reboot_task = false;
                }
            }
            Step::Contract(_) => {
                if contracts[source].is_none() {
                    let reply = api
                        .call("POST", "/transformations", Some(json!({"sourceId": id})))
                        .await;
                    assert_eq!(reply.status, StatusCode::CREATED, "{at}");
                    contracts[source] = Some(reply.json()["id"].as_str().unwrap().to_owned());
                    model.contract = Some((Contract::Configured, false));
                }
            }
            Step::Operation { op, migration, .. } => {
                let Some(t) = &contracts[source] else {
                    continue;
                };
                let body = migration.map(|m| json!({"type": "MigrateOptions", "migrationType": m}));
                let reply = api
                    .call(
                        "POST",
                        &format!("/transformations/{t}?operation={op}"),
                        body,
                    )
                    .await;
                let (state, full) = model.contract.unwrap();
                let allowed = model.allowed().contains(op)
                    && (op != "Migrate" || full || matches!(migration, None | Some("full")));
                if !allowed {
                    assert_eq!(reply.status, StatusCode::CONFLICT, "{at}");
                } else {
                    assert_eq!(reply.status, StatusCode::ACCEPTED, "{at}");
                    let href = reply.json()["operation"]["href"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    let done = api.wait(&href).await;
                    assert!(
                        matches!(
                            done["status"].as_str(),
                            Some("succeeded" | "succeededWithWarnings")
                        ),
                        "{at}: {done}"
                    );
                    model.contract = Some(match op {
                        "Prepare" => {
                            // SPEC 9: Prepare installs the server's latest package on a
                            // discovered source without a driver (windows-x64: 8.0.0.12,
                            // linux-x64: 8.0.0.11 in driver-packages/); Linux loads it at once.
                            if model.installed.is_none() {
                                let latest = if model.windows {
                                    "8.0.0.12"
                                } else {
                                    "8.0.0.11"
                                };
                                let running = if model.windows {
                                    model.running
                                } else {
                                    Some(latest)
                                };
                                model.apply(Some(latest), running);
                            }
                            (Contract::Prepared, full)
                        }
                        "Migrate" => {
                            let requested =
                                migration.unwrap_or(if full { "incremental" } else { "full" });
                            let performed = if requested == "incremental" && model.server_sync {
                                "serverSync"
                            } else {
                                requested
                            };
                            assert_eq!(done["performedAs"], performed, "{at}: {done}");
                            if performed != "incremental" {
                                model.server_sync = false;
                            }
                            (state, full || performed == "full")
                        }
                        "TestCutover" => (Contract::UnderTest, full),
                        "EndTestCutover" => (Contract::Prepared, full),
                        _ => {
                            // A cutover's incremental (on by default) follows the replication
                            // rules: performed as a server-sync while one is required.
                            model.server_sync = false;
                            (Contract::CutOver, full)
                        }
                    });
                }
            }
        }
        for (i, id) in ids.iter().enumerate() {
            assert_same(&api, id, contracts[i].as_deref(), &models[i], &at).await;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn the_api_follows_the_model_of_spec_3(steps in prop::collection::vec(step(), 1..30)) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_steps(steps));
    }
}

/// Reports, reboots and replications racing on one Windows workload: whatever order the writes
/// took, the invariants hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_reports_and_operations_keep_the_invariants() {
    let api = Api::new().await;
    let id = api.add_source(0, true).await;
    let linux = api.add_source(1, false).await;
    let t = api
        .call("POST", "/transformations", Some(json!({"sourceId": id})))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let prepare = api
        .call(
            "POST",
            &format!("/transformations/{t}?operation=Prepare"),
            None,
        )
        .await;
    api.wait(prepare.json()["operation"]["href"].as_str().unwrap())
        .await;

    let report = |installed: Option<&'static str>, running: Option<&'static str>, on: String| {
        let api = &api;
        async move {
            api.call(
                "PUT",
                &format!("/sources/{on}/driverState"),
                Some(json!({"installedVersion": installed, "runningVersion": running})),
            )
            .await
            .status
        }
    };
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut pick = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for round in 0..40 {
        let before = api.get(&format!("/sources/{id}")).await;
        let states: Vec<(Option<&str>, Option<&str>)> = (0..4)
            .map(|_| (VERSIONS[pick(3)], VERSIONS[pick(3)]))
            .collect();
        let lv = VERSIONS[pick(3)];
        let (lx, ly) = (VERSIONS[pick(3)], VERSIONS[pick(3)]);
        let reboot_path = format!("/sources/{id}?operation=Reboot");
        let migrate_path = format!("/transformations/{t}?operation=Migrate");
        let migration = if round == 0 { "full" } else { "incremental" };
        let (a, b, c, d, reboot, migrate, l1, l2) = tokio::join!(
            report(states[0].0, states[0].1, id.clone()),
            report(states[1].0, states[1].1, id.clone()),
            report(states[2].0, states[2].1, id.clone()),
            report(states[3].0, states[3].1, id.clone()),
            api.call("POST", &reboot_path, None),
            // A replication in every other round: it may clear serverSyncRequired.
            async {
                if round % 2 == 0 {
                    Some(
                        api.call(
                            "POST",
                            &migrate_path,
                            Some(json!({"type": "MigrateOptions", "migrationType": migration})),
                        )
                        .await,
                    )
                } else {
                    None
                }
            },
            report(lv, lv, linux.clone()),
            report(lx, ly, linux.clone()),
        );
        for status in [a, b, c, d, l1] {
            assert_eq!(status, StatusCode::OK, "round {round}");
        }
        assert!(matches!(
            l2,
            StatusCode::OK | StatusCode::UNPROCESSABLE_ENTITY
        ));
        assert_eq!(reboot.status, StatusCode::OK, "round {round}");
        // A Migrate is accepted unless another is still running (409).
        let replicated = match migrate {
            Some(m) if m.status == StatusCode::ACCEPTED => {
                api.wait(m.json()["operation"]["href"].as_str().unwrap())
                    .await;
                true
            }
            Some(m) => {
                assert_eq!(m.status, StatusCode::CONFLICT, "round {round}");
                false
            }
            None => false,
        };

        for (source, windows) in [(&id, true), (&linux, false)] {
            let s = api.get(&format!("/sources/{source}")).await;
            let installed = version(&s["driver"]["installedVersion"]);
            let running = version(&s["driver"]["runningVersion"]);
            let pending = installed != running;
            assert_eq!(s["driver"]["rebootPending"], pending);
            // Exactly one active reboot task while a Windows reboot is pending, none otherwise.
            let tasks = api.active_reboot_tasks(source).await;
            assert_eq!(
                tasks.len(),
                usize::from(windows && pending),
                "round {round}: {s} {tasks:?}"
            );
            if !windows {
                assert!(!pending, "round {round}: a Linux reboot pending: {s}");
            }
        }
        // The Windows workload ends in one of the states written this round (a report, or a
        // reboot of one), and serverSyncRequired is set whenever its driver started running
        // (unless a replication in the same round may have cleared it since).
        let s = api.get(&format!("/sources/{id}")).await;
        let now = (
            version(&s["driver"]["installedVersion"]),
            version(&s["driver"]["runningVersion"]),
        );
        let written: Vec<(Option<String>, Option<String>)> = states
            .iter()
            .flat_map(|(i, r)| {
                let i = i.map(str::to_owned);
                [(i.clone(), r.map(str::to_owned)), (i.clone(), i)]
            })
            .chain([(
                version(&before["driver"]["installedVersion"]),
                version(&before["driver"]["installedVersion"]),
            )])
            .collect();
        assert!(
            written.contains(&now),
            "round {round}: {now:?} not in {written:?}"
        );
        if !replicated && before["driver"]["runningVersion"].is_null() && now.1.is_some() {
            assert_eq!(s["serverSyncRequired"], true, "round {round}: {s}");
        }
        if before["serverSyncRequired"] == false
            && states.iter().all(|(i, r)| r.is_none() && i.is_none())
        {
            assert_eq!(s["serverSyncRequired"], false, "round {round}: {s}");
        }
    }
}
