//! Keyset paging and kept counts (issue 21): following `next` (or `prev`) links visits every row
//! exactly once while rows are added; `totalCount` and the dashboard's numbers are the counts
//! kept by triggers, which must match `COUNT(*)` after any mix of writes.

use crate::common;

use axum::http::{Request, StatusCode};
use common::{API, AppExt, json_body, send, test_app};
use serde_json::{Value, json};
use std::collections::HashSet;

async fn add_source(app: &psserver::App, host: &str) -> String {
    let reply = app
        .post_json(
            &format!("{API}/sources"),
            json!({"hostName": host, "osFamily": "windows", "platform": "windows-x64", "ipAddress": "10.0.0.5"}),
        )
        .await;
    reply.assert_status(StatusCode::CREATED);
    reply.json()["id"].as_str().unwrap().to_owned()
}

/// The path and query of an absolute link, to send it through the router.
fn path_of(href: &str) -> String {
    let at = href.find("/MigrateApi/").expect("an API link");
    href[at..].to_owned()
}

fn link(list: &Value, rel: &str) -> Option<String> {
    list["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == rel)
        .map(|l| path_of(l["href"].as_str().unwrap()))
}

fn ids(list: &Value, plural: &str) -> Vec<String> {
    list[plural]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Follow `rel` links from `first` to the end: the ids seen, in order. `between` runs after
/// each page (it adds rows).
async fn walk(
    app: &psserver::App,
    first: &str,
    plural: &str,
    rel: &str,
    mut between: impl AsyncFnMut(usize),
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next = Some(first.to_owned());
    let mut pages = 0;
    while let Some(uri) = next {
        let list = app.get_json(&uri).await;
        seen.extend(ids(&list, plural));
        next = link(&list, rel);
        pages += 1;
        assert!(pages < 100, "the links never end");
        between(pages).await;
    }
    seen
}

fn assert_once(seen: &[String]) {
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a row came twice: {seen:?}");
}

#[tokio::test]
async fn next_links_visit_every_row_once_while_rows_are_added() {
    let (app, _state, _dir) = test_app().await;
    let mut before = Vec::new();
    for i in 0..23 {
        before.push(add_source(&app, &format!("page-{i}")).await);
    }
    let events_before = ids(
        &app.get_json(&format!("{API}/events?limit=500")).await,
        "events",
    );
    assert!(events_before.len() >= 23, "{}", events_before.len());

    // Sources, oldest first: a source added while paging comes at the end, and is seen once.
    let mut added = Vec::new();
    let seen = walk(
        &app,
        &format!("{API}/sources?limit=5"),
        "sources",
        "next",
        async |page| {
            if page <= 3 {
                added.push(add_source(&app, &format!("late-{page}")).await);
            }
        },
    )
    .await;
    assert_once(&seen);
    let expected: Vec<String> = before.iter().chain(&added).cloned().collect();
    assert_eq!(seen, expected, "every source, in order, once");

    // Events, newest first: events written while paging are newer than the page, so the links
    // neither repeat nor skip the ones that were there.
    let seen = walk(
        &app,
        &format!("{API}/events?limit=4"),
        "events",
        "next",
        async |page| {
            add_source(&app, &format!("during-events-{page}")).await;
        },
    )
    .await;
    assert_once(&seen);
    // The first page was read after the late sources' events were written.
    let all_then: Vec<String> = events_before.clone();
    for id in &all_then {
        assert!(seen.contains(id), "event {id} skipped");
    }

    // Back from the last page by `prev`: the same rows, in reverse page order, once.
    let list = app.get_json(&format!("{API}/sources?limit=5")).await;
    let total = list["totalCount"].as_u64().unwrap();
    let mut last = format!("{API}/sources?limit=5");
    while let Some(next) = link(&app.get_json(&last).await, "next") {
        last = next;
    }
    let back = walk(&app, &last, "sources", "prev", async |_| {}).await;
    assert_once(&back);
    assert_eq!(back.len() as u64, total);
}

#[tokio::test]
async fn an_offset_is_still_accepted_and_its_links_go_by_key() {
    let (app, _state, _dir) = test_app().await;
    let mut all = Vec::new();
    for i in 0..7 {
        all.push(add_source(&app, &format!("offset-{i}")).await);
    }
    let list = app
        .get_json(&format!("{API}/sources?offset=2&limit=3"))
        .await;
    assert_eq!(ids(&list, "sources"), all[2..5].to_vec());
    assert_eq!(list["totalCount"], 7);
    let next = link(&list, "next").unwrap();
    assert!(next.contains("after="), "{next}");
    assert_eq!(
        ids(&app.get_json(&next).await, "sources"),
        all[5..7].to_vec()
    );
    let prev = link(&list, "prev").unwrap();
    assert!(prev.contains("before="), "{prev}");
    assert_eq!(
        ids(&app.get_json(&prev).await, "sources"),
        all[0..2].to_vec()
    );

    for bad in [
        "sources?offset=1&after=3",
        "events?after=3&before=9",
        "tasks?after=abc",
        "events?before=1&limit=0",
    ] {
        let reply = app.get_as(&format!("{API}/{bad}"), common::ADMIN).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.text()
        );
    }
}

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

/// After adds, registrations, reports (events, reboot tasks, a resolved task), a dismissal and a
/// deletion (whose tasks go by cascade), every kept count equals `COUNT(*)`.
#[tokio::test]
async fn kept_counts_match_count_star_after_any_writes() {
    let (app, state, _dir) = test_app().await;
    let mut agents = Vec::new();
    for i in 0..6 {
        let reg = app
            .post_json(
                &format!("{API}/sources?operation=Register"),
                json!({"hostName": format!("count-{i}"), "osFamily": if i % 2 == 0 { "windows" } else { "linux" },
                       "platform": if i % 2 == 0 { "windows-x64" } else { "linux-x64" },
                       "ipAddress": "10.0.0.6", "machineId": format!("count-{i}")}),
            )
            .await
            .json();
        agents.push((
            reg["id"].as_str().unwrap().to_owned(),
            reg["agentToken"].as_str().unwrap().to_owned(),
        ));
    }
    add_source(&app, "count-api").await;
    let pending = json!({"installedVersion": "8.0.0.11", "runningVersion": null, "controllerService": "running"});
    let running = json!({"installedVersion": "8.0.0.11", "runningVersion": "8.0.0.11", "controllerService": "running"});
    for (i, (id, token)) in agents.iter().enumerate() {
        // On Linux the installed driver runs at once: no reboot, no task.
        let body = if i % 2 == 0 { &pending } else { &running };
        let reply = report(&app, id, token, body.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }
    // One reboots (its task resolves, server-sync becomes required), one's task is dismissed,
    // one source is deleted with its task.
    let (id, token) = &agents[0];
    assert_eq!(
        report(&app, id, token, running.clone()).await.status,
        StatusCode::OK
    );
    let tasks = app
        .get_json(&format!(
            "{API}/tasks?sourceId={}&state=active",
            agents[2].0
        ))
        .await;
    let task = tasks["tasks"][0]["id"].as_str().unwrap().to_owned();
    app.post_json(&format!("{API}/tasks/{task}?operation=Dismiss"), json!({}))
        .await
        .assert_status(StatusCode::OK);
    app.call("DELETE", &format!("{API}/sources/{}", agents[4].0), None)
        .await
        .assert_status(StatusCode::NO_CONTENT);

    let pool = common::own_connection(&state).await;
    let count = |sql: String| {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&pool)
                .await
                .unwrap();
            n
        }
    };
    let total = |uri: String| {
        let app = &app;
        async move { app.get_json(&uri).await["totalCount"].as_i64().unwrap() }
    };
    assert_eq!(
        total(format!("{API}/sources")).await,
        count("SELECT COUNT(*) FROM sources".to_owned()).await
    );
    assert_eq!(
        total(format!("{API}/events")).await,
        count("SELECT COUNT(*) FROM events".to_owned()).await
    );
    assert_eq!(
        total(format!("{API}/events?kind=DriverInstalled")).await,
        count("SELECT COUNT(*) FROM events WHERE kind = 'DriverInstalled'".to_owned()).await
    );
    assert_eq!(
        total(format!("{API}/tasks")).await,
        count("SELECT COUNT(*) FROM tasks".to_owned()).await
    );
    for (filter, sql) in [
        ("state=active", "state = 'active'"),
        ("state=resolved", "state = 'resolved'"),
        ("state=dismissed", "state = 'dismissed'"),
        (
            "kind=RebootRequired&state=active",
            "kind = 'RebootRequired' AND state = 'active'",
        ),
    ] {
        assert_eq!(
            total(format!("{API}/tasks?{filter}")).await,
            count(format!("SELECT COUNT(*) FROM tasks WHERE {sql}")).await,
            "{filter}"
        );
    }
    // Every kept row, against a count of the table.
    let kept: Vec<(String, String, String, i64)> =
        sqlx::query_as("SELECT tbl, a, b, n FROM row_counts WHERE n != 0 ORDER BY 1, 2, 3")
            .fetch_all(&pool)
            .await
            .unwrap();
    let counted: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT * FROM (
           SELECT 'events', kind, '', COUNT(*) FROM events GROUP BY kind
           UNION ALL SELECT 'sources',
             CASE WHEN os_family = 'windows' AND installed_version IS NOT running_version THEN '1' ELSE '0' END,
             CASE WHEN server_sync_required = 1 THEN '1' ELSE '0' END, COUNT(*) FROM sources GROUP BY 2, 3
           UNION ALL SELECT 'tasks', state, kind, COUNT(*) FROM tasks GROUP BY state, kind)
         ORDER BY 1, 2, 3",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(kept, counted);
    // The dashboard's workloads, active tasks and pending reboots come from there too.
    let reboot: i64 = sqlx::query_scalar(
        "SELECT SUM(os_family = 'windows' AND installed_version IS NOT running_version) FROM sources",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(reboot >= 1, "the scenario has a pending reboot");
    let mut r = state.db.reader().await.unwrap();
    let c = psserver::db::pages::counts(&mut r).await.unwrap();
    assert_eq!(
        (c.workloads, c.active_tasks, c.reboot_pending),
        (
            count("SELECT COUNT(*) FROM sources".to_owned()).await,
            count("SELECT COUNT(*) FROM tasks WHERE state = 'active'".to_owned()).await,
            reboot
        )
    );
}
