//! A full reset replaces the database's content with a fresh database's in one step (issue 21):
//! everything but the sample packages goes, the file shrinks instead of keeping the old rows'
//! pages, the file stays a WAL database whose kept counts start at zero, and the server (and any
//! other connection) goes on reading and writing it.

use crate::common;

use axum::http::StatusCode;
use common::{API, AppExt, register_agent, test_app};
use serde_json::json;

#[tokio::test]
async fn a_full_reset_swaps_in_a_fresh_database_and_shrinks_the_file() {
    let (app, state, _dir) = test_app().await;
    let packages_before =
        app.get_json(&format!("{API}/driverPackages")).await["totalCount"].clone();
    assert_ne!(packages_before, json!(0), "the sample packages are indexed");
    app.post_json(
        &format!("{API}/sources"),
        json!({"hostName": "before-reset", "osFamily": "windows", "platform": "windows-x64", "ipAddress": "10.0.0.5"}),
    )
    .await
    .assert_status(StatusCode::CREATED);
    // Bulk rows, as a long-running lab gathers them (a few MB of events).
    let pool = common::own_connection(&state).await;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
         INSERT INTO events (id, kind, source_id, message, created_at)
         SELECT printf('bulk-%d', i), 'DriverInstalled', NULL, printf('%0200d', i), '2026-01-01T00:00:00Z' FROM n",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    let file = state.config.data_dir.join("psserver.db");
    let size_before = std::fs::metadata(&file).unwrap().len();
    assert!(size_before > 4_000_000, "{size_before}");

    let reply = app.call("POST", "/_emu/state/reset", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    for list in ["sources", "events", "tasks"] {
        assert_eq!(
            app.get_json(&format!("{API}/{list}")).await["totalCount"],
            0,
            "{list}"
        );
    }
    assert_eq!(
        app.get_json(&format!("{API}/driverPackages")).await["totalCount"],
        packages_before,
        "the sample packages stay"
    );
    // The connection opened before the reset reads the fresh content too.
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(events, 0);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    // Cut off by a checkpoint in the background, soon after the answer.
    let mut size_after = size_before;
    for _ in 0..100 {
        size_after = std::fs::metadata(&file).unwrap().len();
        if size_after < size_before / 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        size_after < size_before / 4,
        "the old pages are cut off: {size_before} -> {size_after}"
    );
    assert!(
        !state.config.data_dir.join("psserver.db.fresh").exists(),
        "the fresh database is removed once copied"
    );

    // Writes go on, counted from zero.
    app.post_json(
        &format!("{API}/sources"),
        json!({"hostName": "after-reset", "osFamily": "windows", "platform": "windows-x64", "ipAddress": "10.0.0.6"}),
    )
    .await
    .assert_status(StatusCode::CREATED);
    let list = app.get_json(&format!("{API}/sources")).await;
    assert_eq!(list["totalCount"], 1);
    assert_eq!(list["sources"][0]["hostName"], "after-reset");
    let kept: i64 = sqlx::query_scalar("SELECT SUM(n) FROM row_counts WHERE tbl = 'sources'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, 1);
}

/// Agents' steady reports are written on a connection of their own (`db::steady::direct`),
/// with statements prepared before the reset: after it they store on the fresh database, and
/// a report for a source the reset removed stores nothing.
#[tokio::test]
async fn steady_reports_after_a_full_reset_land_in_the_fresh_database() {
    let (app, _state, _dir) = test_app().await;
    let steady = |id: &str, token: &str| {
        axum::http::Request::put(format!("{API}/sources/{id}/driverState"))
            .header("authorization", format!("Bearer {token}"))
            .header("prefer", "return=minimal")
            .body(common::json_body(json!({})))
            .unwrap()
    };
    let (old_id, old_token) = register_agent(&app, "before-reset").await;
    app.send(steady(&old_id, &old_token))
        .await
        .assert_status(StatusCode::NO_CONTENT);

    app.call("POST", "/_emu/state/reset", None)
        .await
        .assert_status(StatusCode::OK);
    // The removed source: not stored (as for any unknown source, the token is refused).
    app.send(steady(&old_id, &old_token))
        .await
        .assert_status(StatusCode::UNAUTHORIZED);

    let (id, token) = register_agent(&app, "after-reset").await;
    assert!(
        app.get_json(&format!("{API}/sources/{id}")).await["lastReportAt"].is_null(),
        "no report yet"
    );
    app.send(steady(&id, &token))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let source = app.get_json(&format!("{API}/sources/{id}")).await;
    assert!(source["lastReportAt"].is_string(), "{source}");
    assert_eq!(
        app.get_json(&format!("{API}/sources")).await["totalCount"],
        json!(1)
    );
}

/// The steady reports' own connection knows the rowids of sources it verified
/// (`db::steady::known`); after a full reset those rowids belong to other sources. An old
/// agent's steady report is then checked again (its source is gone), and writes nothing on the
/// new source that took its rowid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_report_from_before_a_reset_writes_nothing_after_it() {
    let (app, _state, _dir) = test_app().await;
    let steady = json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "running"});
    let minimal = |id: &str, token: &str| {
        axum::http::Request::put(format!("{API}/sources/{id}/driverState"))
            .header("authorization", format!("Bearer {token}"))
            .header("prefer", "return=minimal")
            .body(common::json_body(steady.clone()))
            .unwrap()
    };
    let (old_id, old_token) = register_agent(&app, "before-reset").await;
    for _ in 0..3 {
        common::send(&app, minimal(&old_id, &old_token))
            .await
            .assert_status(StatusCode::NO_CONTENT);
    }
    app.call("POST", "/_emu/state/reset", None)
        .await
        .assert_status(StatusCode::OK);
    let (new_id, new_token) = register_agent(&app, "after-reset").await;
    common::send(&app, minimal(&new_id, &new_token))
        .await
        .assert_status(StatusCode::NO_CONTENT);
    let reported = app.get_json(&format!("{API}/sources/{new_id}")).await["lastReportAt"].clone();

    let stale = common::send(&app, minimal(&old_id, &old_token)).await;
    assert!(
        stale.status.is_client_error(),
        "a report for a source gone with the reset: {} {}",
        stale.status,
        stale.text()
    );
    let source = app.get_json(&format!("{API}/sources/{new_id}")).await;
    assert_eq!(
        source["lastReportAt"], reported,
        "the old report wrote on another source: {source}"
    );
}
