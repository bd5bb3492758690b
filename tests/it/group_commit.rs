//! Group commit of agent reports (issue 21): reports waiting at the same moment share one write
//! transaction, each in a savepoint of its own, and each is answered only after that
//! transaction committed, with its own outcome.

use crate::common;

use axum::http::{Request, StatusCode};
use common::{API, AppExt, json_body, register_agent, send, test_app};
use psserver::db::events;
use psserver::error::AppError;
use serde_json::{Value, json};

async fn report(app: &psserver::App, id: &str, token: &str, body: Value) -> common::Reply {
    send(
        app,
        Request::put(format!("{API}/sources/{id}/driverState"))
            .header("authorization", format!("Bearer {token}"))
            .body(json_body(body))
            .unwrap(),
    )
    .await
}

/// Writes sent at once through `write_grouped`, half of which write and then fail: each caller
/// gets its own outcome, and only the writes of those that succeeded are stored (a failed one is
/// rolled back to its savepoint, not with the group).
#[tokio::test]
async fn a_write_that_fails_in_a_group_rolls_back_alone() {
    let (_app, state, _dir) = test_app().await;
    let outcomes = futures_util::future::join_all((0..24).map(|i| {
        let db = state.db.clone();
        async move {
            db.write_grouped(move |tx| {
                Box::pin(async move {
                    let message = format!("group-commit write {i}");
                    events::insert(tx, "Test", None, &message, chrono::Utc::now()).await?;
                    if i % 3 == 0 {
                        return Err(AppError::conflict("Refused", format!("write {i} refused")));
                    }
                    Ok(i)
                })
            })
            .await
        }
    }))
    .await;
    for (i, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Ok(n) => {
                assert_ne!(i % 3, 0, "write {i} should have failed");
                assert_eq!(*n, i, "write {i} got another's answer");
            }
            Err(e) => {
                assert_eq!(i % 3, 0, "write {i} failed: {e}");
                assert!(e.to_string().contains(&format!("write {i} refused")), "{e}");
            }
        }
    }
    let pool = common::own_connection(&state).await;
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT message FROM events WHERE message LIKE 'group-commit write %' ORDER BY seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut expected: Vec<String> = (0..24)
        .filter(|i| i % 3 != 0)
        .map(|i| format!("group-commit write {i}"))
        .collect();
    let mut got = stored.clone();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

/// Reports that change something (the full path), sent at once with refused ones among them:
/// each is answered as if alone, and what is stored is what was answered.
#[tokio::test]
async fn changing_reports_sent_at_once_are_each_answered_and_stored() {
    let (app, _state, _dir) = test_app().await;
    let mut agents = Vec::new();
    for i in 0..10 {
        agents.push(register_agent(&app, &format!("group-{i}")).await);
    }
    let installed = json!({"installedVersion": "8.0.0.11", "runningVersion": null, "controllerService": "running"});
    let mut sends: Vec<(String, String)> = agents.clone();
    sends.push((agents[1].0.clone(), agents[2].1.clone())); // another agent's token
    sends.push((uuid::Uuid::new_v4().to_string(), agents[3].1.clone())); // no such source
    let replies = futures_util::future::join_all(
        sends
            .iter()
            .map(|(id, token)| report(&app, id, token, installed.clone())),
    )
    .await;
    for (i, reply) in replies.iter().enumerate() {
        if i >= 10 {
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "report {i}");
            continue;
        }
        assert_eq!(reply.status, StatusCode::OK, "report {i}: {}", reply.text());
        let answer = reply.json();
        assert_eq!(answer["id"], json!(agents[i].0));
        assert_eq!(answer["driver"]["installedVersion"], "8.0.0.11");
    }
    for (id, _) in &agents {
        let stored = app.get_json(&format!("{API}/sources/{id}")).await;
        assert_eq!(stored["driver"]["installedVersion"], "8.0.0.11", "{stored}");
        let events = app.get_json(&format!("{API}/events?sourceId={id}")).await;
        let kinds: Vec<&str> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "DriverInstalled").count(),
            1,
            "{kinds:?}"
        );
        let tasks = app
            .get_json(&format!("{API}/tasks?sourceId={id}&state=active"))
            .await;
        assert_eq!(tasks["totalCount"], 1, "a reboot task each: {tasks}");
    }
}

/// Steady reports sent at once (the agent's "nothing changed", `Prefer: return=minimal`), with
/// one carrying another agent's token and one that changes its state among them: the batch
/// stores the steady ones, and each of the two others is answered as if alone (401; the change
/// stored), its source's report time left as that answer says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_reports_sent_at_once_with_others_among_them_are_each_answered() {
    let (app, _state, _dir) = test_app().await;
    let steady = json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "running"});
    let mut agents = Vec::new();
    for i in 0..12 {
        let agent = register_agent(&app, &format!("steady-{i}")).await;
        report(&app, &agent.0, &agent.1, steady.clone())
            .await
            .assert_status(StatusCode::OK);
        agents.push(agent);
    }
    let reported_at = |source: &Value| source["lastReportAt"].as_str().unwrap().to_owned();
    let mut before = Vec::new();
    for (id, _) in &agents {
        before.push(reported_at(
            &app.get_json(&format!("{API}/sources/{id}")).await,
        ));
    }
    // A change the steady statement sees (no reboot pending, which would skip it).
    let changed = json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "installed"});
    let minimal = |i: usize, token: &str, body: &Value| {
        Request::put(format!("{API}/sources/{}/driverState", agents[i].0))
            .header("authorization", format!("Bearer {token}"))
            .header("prefer", "return=minimal")
            .body(json_body(body.clone()))
            .unwrap()
    };
    let requests = (0..12).map(|i| match i {
        10 => minimal(i, &agents[2].1, &steady), // another agent's token
        11 => minimal(i, &agents[i].1, &changed),
        _ => minimal(i, &agents[i].1, &steady),
    });
    let replies = futures_util::future::join_all(requests.map(|request| send(&app, request))).await;
    for (i, reply) in replies.iter().enumerate() {
        let expected = if i == 10 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::NO_CONTENT
        };
        assert_eq!(reply.status, expected, "report {i}: {}", reply.text());
    }
    for (i, (id, _)) in agents.iter().enumerate() {
        let source = app.get_json(&format!("{API}/sources/{id}")).await;
        let (now, then) = (reported_at(&source), &before[i]);
        if i == 10 {
            assert_eq!(&now, then, "a refused report stored its time: {source}");
        } else {
            assert!(now > *then, "report {i} not stored: {now} after {then}");
        }
        let controller = if i == 11 { "installed" } else { "running" };
        assert_eq!(source["controllerService"], controller, "{source}");
    }
}

/// Steady reports (the agent's "nothing changed") are written on a connection of their own,
/// whose commits leave checkpoints to the write connection (`db::steady::direct`): the WAL is
/// still checkpointed and started again, and does not grow with every report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_reports_keep_the_wal_checkpointed() {
    let (app, _state, dir) = test_app().await;
    let (id, token) = register_agent(&app, "wal-steady").await;
    let steady = json!({"installedVersion": null, "runningVersion": null});
    let minimal = |body: &Value| {
        Request::put(format!("{API}/sources/{id}/driverState"))
            .header("authorization", format!("Bearer {token}"))
            .header("prefer", "return=minimal")
            .body(json_body(body.clone()))
            .unwrap()
    };
    // One at a time: each is a batch, a commit, at least one frame of the WAL.
    let sent = 6000;
    for _ in 0..sent {
        send(&app, minimal(&steady))
            .await
            .assert_status(StatusCode::NO_CONTENT);
    }
    // What the WAL holds now (a passive checkpoint answers the frames in the log): fewer than
    // the commits, so it was checkpointed and started again on the way.
    let db = dir.path().join("data").join("psserver.db");
    let frames: i64 = tokio::task::spawn_blocking(move || {
        rusqlite::Connection::open(db)
            .and_then(|c| c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1)))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        (0..sent / 2).contains(&frames),
        "{frames} frames in the WAL after {sent} steady reports"
    );
    let source = app.get_json(&format!("{API}/sources/{id}")).await;
    assert!(source["lastReportAt"].is_string(), "{source}");
}

/// The steady reports' task keeps the write connection between its batches
/// (`db::waiting`): another writer still gets it, both while reports keep coming and once they
/// stopped (the task then idle, the connection still kept), and no report is lost meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_writers_get_the_connection_the_steady_reports_keep() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;
    let (app, _state, _dir) = test_app().await;
    let mut agents = Vec::new();
    for i in 0..8 {
        agents.push(register_agent(&app, &format!("kept-{i}")).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let reporters: Vec<_> = agents
        .iter()
        .cloned()
        .map(|(id, token)| {
            let (app, stop, sent) = (app.clone(), Arc::clone(&stop), Arc::clone(&sent));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let steady = json!({"installedVersion": null, "runningVersion": null});
                    let request = Request::put(format!("{API}/sources/{id}/driverState"))
                        .header("authorization", format!("Bearer {token}"))
                        .header("prefer", "return=minimal")
                        .body(json_body(steady))
                        .unwrap();
                    send(&app, request)
                        .await
                        .assert_status(StatusCode::NO_CONTENT);
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Some reports first, so that the task holds the connection.
    while sent.load(Ordering::Relaxed) < 200 {
        tokio::task::yield_now().await;
    }
    let write = |name: String| {
        let app = app.clone();
        async move {
            let registered = tokio::time::timeout(Duration::from_secs(10), async {
                register_agent(&app, &name).await
            })
            .await;
            assert!(registered.is_ok(), "{name}: no write in 10 s");
        }
    };
    for i in 0..20 {
        write(format!("while-reporting-{i}")).await;
    }
    stop.store(true, Ordering::Relaxed);
    for reporter in reporters {
        reporter.await.unwrap();
    }
    // The reports stopped: the task idles, and lets go when a writer comes.
    write("after-the-reports".into()).await;
    let list = app.get_json(&format!("{API}/sources?limit=100")).await;
    assert_eq!(list["totalCount"], 8 + 21, "{list}");
    for (id, _) in &agents {
        let source = app.get_json(&format!("{API}/sources/{id}")).await;
        assert!(source["lastReportAt"].is_string(), "{source}");
    }
}

/// A steady report whose source was verified before writes by rowid (`db::steady::known`), but
/// only while no one else has written: after the agent registers again (a new token) and after
/// a user changes its state, the same report is checked again. The old token is refused, and
/// the state the agent reports is stored as a change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_report_is_checked_again_once_someone_else_wrote() {
    let (app, _state, _dir) = test_app().await;
    let (id, old_token) = register_agent(&app, "known-steady").await;
    let steady = json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "running"});
    let minimal = |token: &str, body: &Value| {
        Request::put(format!("{API}/sources/{id}/driverState"))
            .header("authorization", format!("Bearer {token}"))
            .header("prefer", "return=minimal")
            .body(json_body(body.clone()))
            .unwrap()
    };
    // The first stores the state; the next two are steady: verified, then written by rowid.
    for _ in 0..3 {
        send(&app, minimal(&old_token, &steady))
            .await
            .assert_status(StatusCode::NO_CONTENT);
    }

    let again = app
        .post_json(
            &format!("{API}/sources?operation=Register"),
            json!({"hostName": "known-steady", "osFamily": "windows", "platform": "windows-x64",
                   "ipAddress": "10.0.0.5", "machineId": "known-steady"}),
        )
        .await;
    again.assert_status(StatusCode::OK);
    let again = again.json();
    assert_eq!(
        again["id"],
        id.as_str(),
        "registering again keeps the source"
    );
    let new_token = again["agentToken"].as_str().unwrap().to_owned();
    assert_ne!(new_token, old_token);
    send(&app, minimal(&old_token, &steady))
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    for _ in 0..2 {
        send(&app, minimal(&new_token, &steady))
            .await
            .assert_status(StatusCode::NO_CONTENT);
    }

    let by_user = Request::put(format!("{API}/sources/{id}/driverState"))
        .header("authorization", common::basic("administrator", "platespin"))
        .body(json_body(json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "installed"})))
        .unwrap();
    send(&app, by_user).await.assert_status(StatusCode::OK);
    let source = app.get_json(&format!("{API}/sources/{id}")).await;
    assert_eq!(source["controllerService"], "installed", "{source}");
    send(&app, minimal(&new_token, &steady))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let source = app.get_json(&format!("{API}/sources/{id}")).await;
    assert_eq!(
        source["controllerService"], "running",
        "the agent's report was not stored as a change: {source}"
    );
}

/// A steady report's time is kept apart from its source's row
/// (`migrations/0008_add_source_reports.sql`), and shows wherever the source is read: its own
/// answer, the list, the Workloads search, each with the search index's path and without. A
/// report that changes something later shows its own time, and a deleted source leaves no time
/// behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_reports_time_shows_wherever_its_source_is_read() {
    use psserver::db::sources::{Search, search};
    use psserver::domain::paging::Page;

    let (app, state, _dir) = test_app().await;
    let (id, token) = register_agent(&app, "steady-times").await;
    let steady = json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "running"});
    let minimal = |body: &Value| {
        Request::put(format!("{API}/sources/{id}/driverState"))
            .header("authorization", format!("Bearer {token}"))
            .header("prefer", "return=minimal")
            .body(json_body(body.clone()))
            .unwrap()
    };
    let times = |source: &Value| {
        let time = |name: &str| {
            source[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: {source}"))
                .to_owned()
        };
        (time("updatedAt"), time("lastReportAt"))
    };
    send(&app, minimal(&steady))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let (_, changed_at) = times(&app.get_json(&format!("{API}/sources/{id}")).await);
    for _ in 0..3 {
        send(&app, minimal(&steady))
            .await
            .assert_status(StatusCode::NO_CONTENT);
    }
    let source = app.get_json(&format!("{API}/sources/{id}")).await;
    let (updated, reported) = times(&source);
    assert!(
        reported > changed_at,
        "the steady reports' time: {reported} after {changed_at}"
    );
    assert_eq!(
        updated, reported,
        "a steady report updates the source: {source}"
    );

    let list = app.get_json(&format!("{API}/sources")).await;
    let listed = list["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap();
    assert_eq!(times(listed), (updated.clone(), reported.clone()), "{list}");
    let mut r = state.db.reader().await.unwrap();
    for text in [None, Some("steady-t"), Some("st")] {
        let query = Search {
            text: text.map(str::to_owned),
            ..Search::default()
        };
        let (found, _) = search(
            &mut r,
            &query,
            Page {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
        let found = found.iter().find(|s| s.id.to_string() == id).unwrap();
        assert_eq!(
            psserver::db::ts(found.updated_at),
            updated,
            "search {text:?}"
        );
        assert_eq!(
            found.last_report_at.map(psserver::db::ts),
            Some(reported.clone()),
            "search {text:?}"
        );
    }
    drop(r);

    let change = json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "installed"});
    send(&app, minimal(&change))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let (updated_after, reported_after) =
        times(&app.get_json(&format!("{API}/sources/{id}")).await);
    assert!(
        reported_after > reported && updated_after > updated,
        "the change's time shows"
    );

    let pool = common::own_connection(&state).await;
    let kept = "SELECT COUNT(*) FROM source_reports WHERE source_id = ?";
    let count = || {
        sqlx::query_scalar::<_, i64>(kept)
            .bind(&id)
            .fetch_one(&pool)
    };
    assert_eq!(count().await.unwrap(), 1, "the steady time is kept apart");
    app.call("DELETE", &format!("{API}/sources/{id}"), None)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    assert_eq!(
        count().await.unwrap(),
        0,
        "a deleted source left its time behind"
    );
}
