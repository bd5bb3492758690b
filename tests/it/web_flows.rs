//! The whole life of a workload from the operator pages alone (issue 19): configure, prepare,
//! replicate, act on the reboot and server-sync steps, test cutover, mark the test, cut over,
//! remove; the confirmations of the irreversible commands; the post-replication cutover; bulk
//! actions; Command Details of a failure; the events page. The product's command names and
//! options come from its documentation (platespin-product.md 3.3):
//! https://microfocus.com/documentation/platespin/platespin-migrate-2020-2/migrate-user/task-cutover.html
//! and https://www.netiq.com/documentation/platespin-migrate-12-2-1/migrate-user/data/task-manual-migration.html

use axum::http::StatusCode;
use scraper::Html;
use serde_json::{Value, json};

use super::web::{add_source, api, attrs, page, post_form, report, text, texts, token, wait_op};
use crate::common::{self, AppExt};
use psserver::App;

/// Post a workload command; answers the reply.
async fn command(app: &App, id: &str, csrf: &str, fields: &[(&str, &str)]) -> common::Reply {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(fields);
    post_form(app, &format!("/migrate/workloads/{id}/operations"), &all).await
}

/// Follow a command's answer to its Command Details, wait for the operation to end, and answer
/// the operation (as the API shows it).
async fn finished(app: &App, reply: &common::Reply) -> Value {
    reply.assert_status(StatusCode::SEE_OTHER);
    let location = reply.header("location").unwrap();
    assert!(location.starts_with("/migrate/commands/"), "{location}");
    wait_op(app, location.rsplit('/').next().unwrap()).await
}

fn actions(html: &Html) -> Vec<String> {
    texts(html, "#actions .btn")
}

#[tokio::test]
async fn a_workload_lives_its_whole_life_on_the_pages() {
    let (app, _state, _dir) = common::test_app().await;
    let id = add_source(&app, "WIN-APP01", "windows", "10.0.0.21").await;
    report(&app, &id, Some("8.0.0.11"), Some("8.0.0.11")).await;
    let uri = format!("/migrate/workloads/{id}");
    let (_, html) = page(&app, &uri).await;
    let csrf = token(&html);

    // Configure and prepare.
    command(&app, &id, &csrf, &[("operation", "Configure")])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let reply = command(&app, &id, &csrf, &[("operation", "Prepare")]).await;
    assert_eq!(finished(&app, &reply).await["status"], "succeeded");

    // Run Migration, as its options page posts it: Full, no post-replication cutover.
    let reply = command(
        &app,
        &id,
        &csrf,
        &[
            ("operation", "Migrate"),
            ("options", "shown"),
            ("migrationType", "full"),
        ],
    )
    .await;
    let op = finished(&app, &reply).await;
    assert_eq!(op["status"], "succeeded");
    assert_eq!(op["operationType"], "Migrate");

    // Test Cutover with its options: the Mark tasks appear, on the workload's page too.
    let (_, form) = page(&app, &format!("{uri}/commands/test-cutover")).await;
    assert_eq!(
        texts(&form, "fieldset label"),
        [
            "Shutdown Target Workload",
            "Perform Incremental Replication"
        ]
    );
    assert!(attrs(&form, "input[type=checkbox][checked]", "name").is_empty());
    let reply = command(
        &app,
        &id,
        &csrf,
        &[
            ("operation", "TestCutover"),
            ("options", "shown"),
            ("performIncremental", "on"),
        ],
    )
    .await;
    let op = finished(&app, &reply).await;
    assert_eq!(op["status"], "succeeded");
    assert_eq!(op["options"]["performIncremental"], true);
    assert_eq!(op["options"]["shutdownTarget"], false);
    let (_, html) = page(&app, &uri).await;
    assert_eq!(text(&html, "#workload-status"), "Test Cutover");
    assert_eq!(
        actions(&html),
        [
            "Run Migration",
            "Mark Test as Success",
            "Mark Test as Failure",
            "Run Cutover",
            "Pause Schedule",
            "Remove Workload"
        ]
    );
    assert!(text(&html, "#next-steps").contains("mark the test as a success or a failure"));

    // Mark Test as Success from the workload's page: the test cutover ends, back on the page.
    let mark = attrs(&html, "#actions form", "action")
        .into_iter()
        .find(|a| a.ends_with("/execute"))
        .unwrap();
    let reply = post_form(&app, &mark, &[("csrf", &csrf), ("back", &uri)]).await;
    reply.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), Some(uri.as_str()));
    let ended = api(
        &app,
        "GET",
        &format!("/operations?sourceId={id}"),
        Value::Null,
    )
    .await;
    let end = &ended["operations"][0];
    assert_eq!(end["operationType"], "EndTestCutover");
    wait_op(&app, end["id"].as_str().unwrap()).await;
    let (_, html) = page(&app, &uri).await;
    assert_eq!(text(&html, "#workload-status"), "Idle");
    assert!(!actions(&html).iter().any(|a| a.starts_with("Mark")));

    // Run Cutover: its page is red and says it cannot be undone; Shutdown Source and Perform
    // Incremental Replication on by default, as documented.
    let (_, form) = page(&app, &format!("{uri}/commands/cutover")).await;
    assert_eq!(
        attrs(&form, "input[type=checkbox][checked]", "name"),
        ["shutdownSource", "performIncremental"]
    );
    assert!(text(&form, ".command-form").contains("cannot be undone"));
    assert_eq!(attrs(&form, "#execute", "class"), ["btn btn-danger-solid"]);
    // A post without the confirmation (a bare form, another tool) asks first and starts nothing.
    let reply = command(&app, &id, &csrf, &[("operation", "Cutover")]).await;
    reply.assert_status(StatusCode::OK);
    let confirm = reply.html();
    assert_eq!(text(&confirm, "h1"), "Run the cutover of WIN-APP01?");
    assert!(text(&confirm, "#confirm-what").contains("shut down the source: yes"));
    let ops = api(
        &app,
        "GET",
        &format!("/operations?sourceId={id}"),
        Value::Null,
    )
    .await;
    assert_ne!(ops["operations"][0]["operationType"], "Cutover");
    // The cutover page's own form carries the confirmation.
    let reply = command(
        &app,
        &id,
        &csrf,
        &[
            ("operation", "Cutover"),
            ("options", "shown"),
            ("shutdownSource", "on"),
            ("confirmed", "yes"),
        ],
    )
    .await;
    let op = finished(&app, &reply).await;
    assert_eq!(op["operationType"], "Cutover");
    assert_eq!(op["options"]["shutdownSource"], true);
    assert_eq!(op["options"]["performIncremental"], false, "left unticked");
    let (_, html) = page(&app, &uri).await;
    assert_eq!(text(&html, "#workload-status"), "Cutover Completed");
    assert_eq!(text(&html, "#schedule"), "None");
    assert_eq!(actions(&html), ["Remove Workload"]);

    // Remove Workload asks first, then goes; the list no longer has it.
    let reply = command(&app, &id, &csrf, &[("operation", "Remove")]).await;
    reply.assert_status(StatusCode::OK);
    assert_eq!(text(&reply.html(), "h1"), "Remove WIN-APP01?");
    page(&app, &uri).await;
    let reply = command(
        &app,
        &id,
        &csrf,
        &[("operation", "Remove"), ("confirmed", "yes")],
    )
    .await;
    reply.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), Some("/migrate/workloads"));
    app.get_as(&uri, common::ADMIN)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    let (_, events) = page(&app, "/migrate/events").await;
    assert!(text(&events, "#event-list").contains("Workload WIN-APP01 removed by administrator"));
}

#[tokio::test]
async fn run_migration_can_cut_over_after_the_replication() {
    let (app, _state, _dir) = common::test_app().await;
    let id = add_source(&app, "sql-02", "linux", "10.0.0.22").await;
    report(&app, &id, Some("8.0.0.11"), Some("8.0.0.11")).await;
    let (_, html) = page(&app, &format!("/migrate/workloads/{id}")).await;
    let csrf = token(&html);
    command(&app, &id, &csrf, &[("operation", "Configure")]).await;
    let reply = command(&app, &id, &csrf, &[("operation", "Prepare")]).await;
    finished(&app, &reply).await;
    let reply = command(
        &app,
        &id,
        &csrf,
        &[
            ("operation", "Migrate"),
            ("options", "shown"),
            ("migrationType", "full"),
            ("runCutover", "on"),
            ("shutdownTarget", "on"),
        ],
    )
    .await;
    let replication = finished(&app, &reply).await;
    assert_eq!(replication["status"], "succeeded");
    // The cutover was queued with the replication's end, as the same user, with its switches.
    let ops = api(
        &app,
        "GET",
        &format!("/operations?sourceId={id}"),
        Value::Null,
    )
    .await;
    let cutover = &ops["operations"][0];
    assert_eq!(cutover["operationType"], "Cutover");
    let cutover = wait_op(&app, cutover["id"].as_str().unwrap()).await;
    assert_eq!(cutover["status"], "succeeded");
    assert_eq!(cutover["options"]["shutdownSource"], false);
    assert_eq!(cutover["options"]["shutdownTarget"], true);
    let (_, details) = page(
        &app,
        &format!("/migrate/commands/{}", cutover["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(text(&details, "#started-by"), "administrator");
    let t = api(
        &app,
        "GET",
        &format!("/transformations?sourceId={id}"),
        Value::Null,
    )
    .await;
    assert_eq!(t["transformations"][0]["currentState"], "CutOver");
    // Asked of anything else than a replication, it is refused.
    let other = add_source(&app, "web-03", "linux", "10.0.0.23").await;
    report(&app, &other, Some("8.0.0.11"), Some("8.0.0.11")).await;
    command(&app, &other, &csrf, &[("operation", "Configure")]).await;
    let reply = command(
        &app,
        &other,
        &csrf,
        &[
            ("operation", "Prepare"),
            ("options", "shown"),
            ("runCutover", "on"),
        ],
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::SEE_OTHER,
        "Prepare reads no cutover switch"
    );
}

#[tokio::test]
async fn a_failure_is_red_counted_and_explained() {
    let (app, _state, _dir) = common::test_app().await;
    let id = add_source(&app, "FS-OLD05", "windows", "10.0.0.55").await;
    // The controller is installed but stopped: the machine is offline, Prepare fails.
    api(
        &app,
        "PUT",
        &format!("/sources/{id}/driverState"),
        json!({"installedVersion": null, "runningVersion": null, "controllerService": "installed"}),
    )
    .await;
    let uri = format!("/migrate/workloads/{id}");
    let (_, html) = page(&app, &uri).await;
    let csrf = token(&html);
    command(&app, &id, &csrf, &[("operation", "Configure")]).await;
    let reply = command(&app, &id, &csrf, &[("operation", "Prepare")]).await;
    let details_uri = reply.header("location").unwrap().to_owned();
    assert_eq!(finished(&app, &reply).await["status"], "failed");

    // The workload's page: the status in red, the error as a next step with its button.
    let (_, html) = page(&app, &uri).await;
    assert_eq!(text(&html, "#workload-status"), "✗ Prepare Failed");
    assert_eq!(
        attrs(&html, "#workload-status", "class"),
        ["status-text failed-text"]
    );
    let failure = text(&html, "#next-steps .step-failure");
    assert!(
        failure.contains("Prepare failed: FS-OLD05 is offline"),
        "{failure}"
    );
    assert_eq!(
        texts(&html, "#next-steps .step-failure button"),
        ["Run prepare again"]
    );
    // The list and the dashboard count it, and the dashboard's count leads to it.
    let (_, list) = page(&app, "/migrate/workloads").await;
    assert_eq!(
        attrs(&list, "tr.row-failed a.host", "href"),
        std::slice::from_ref(&uri)
    );
    let (_, dash) = page(&app, "/migrate/").await;
    let failed = dash
        .select(&scraper::Selector::parse("a.count").unwrap())
        .find(|c| c.text().collect::<String>().contains("Failed"))
        .unwrap();
    assert_eq!(
        failed.value().attr("href"),
        Some("/migrate/workloads?show=failed")
    );
    assert!(failed.text().collect::<String>().contains('1'));
    let (_, shown) = page(&app, "/migrate/workloads?show=failed").await;
    assert_eq!(texts(&shown, "a.host"), ["FS-OLD05"]);

    // Command Details: the step that failed says so, the ones after it did not run; the bar is
    // red; who started it; Re-run.
    let (_, details) = page(&app, &details_uri).await;
    let statuses = texts(&details, "#steps tbody td[data-label=Status]");
    assert_eq!(
        statuses.iter().filter(|s| s.contains("Failed")).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().any(|s| s.contains("Not run")),
        "{statuses:?}"
    );
    assert!(
        !statuses.iter().any(|s| s.contains("Aborted")),
        "{statuses:?}"
    );
    assert_eq!(
        attrs(&details, "progress#progress", "class"),
        ["bar-failed"]
    );
    assert_eq!(text(&details, "#started-by"), "administrator");
    assert_eq!(texts(&details, "#command-actions button"), ["Re-run"]);
    assert!(text(&details, ".alert-error").contains("offline"));

    // The events page: the failure in red, and a filter that shows failures alone.
    let (_, events) = page(&app, "/migrate/events?kind=failed").await;
    assert_eq!(texts(&events, "#event-list li").len(), 1);
    assert_eq!(
        attrs(&events, "#event-list li", "class"),
        ["event tone-failed"]
    );
    let bad = app.call("GET", "/migrate/events?kind=nonsense", None).await;
    bad.assert_status(StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("kind: one of"));
}

#[tokio::test]
async fn the_events_page_pages_by_keyset() {
    let (app, _state, _dir) = common::test_app().await;
    let id = add_source(&app, "web-01", "windows", "10.0.0.5").await;
    // Each changed report is an event or two: well over a page of them.
    for i in 0..40 {
        let v = format!("8.0.0.{}", 11 + i % 2);
        report(&app, &id, Some(&v), Some(&v)).await;
    }
    let total = api(
        &app,
        "GET",
        &format!("/events?sourceId={id}&limit=1"),
        Value::Null,
    )
    .await["totalCount"]
        .as_u64()
        .unwrap();
    assert!(total > 50, "{total}");
    let mut seen = Vec::new();
    let mut next = Some(format!("/migrate/events?workload={id}"));
    while let Some(uri) = next {
        let (_, html) = page(&app, &uri).await;
        seen.extend(texts(&html, "#event-list li"));
        next = attrs(&html, "a[rel=next]", "href").into_iter().next();
    }
    assert_eq!(
        seen.len() as u64,
        total,
        "every event once, across the pages"
    );
    let (_, first) = page(&app, &format!("/migrate/events?workload={id}")).await;
    assert_eq!(text(&first, "h1"), "Events of web-01");
    let bad = app.call("GET", "/migrate/events?before=-3", None).await;
    bad.assert_status(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bulk_actions_on_selected_workloads() {
    let (app, _state, _dir) = common::test_app().await;
    let a = add_source(&app, "app-01", "linux", "10.0.0.31").await;
    let b = add_source(&app, "app-02", "linux", "10.0.0.32").await;
    let c = add_source(&app, "app-03", "linux", "10.0.0.33").await;
    for id in [&a, &b, &c] {
        report(&app, id, Some("8.0.0.11"), Some("8.0.0.11")).await;
    }
    let (_, html) = page(&app, "/migrate/workloads").await;
    let csrf = token(&html);
    for id in [&a, &b] {
        command(&app, id, &csrf, &[("operation", "Configure")]).await;
    }
    // Prepare the two configured ones and the third: the third has no contract and says so.
    let reply = post_form(
        &app,
        "/migrate/workloads/bulk",
        &[
            ("csrf", &csrf),
            ("action", "Prepare"),
            ("ids", &a),
            ("ids", &b),
            ("ids", &c),
        ],
    )
    .await;
    reply.assert_status(StatusCode::OK);
    let result = reply.html();
    assert_eq!(texts(&result, "ul.done li"), ["✓ app-01", "✓ app-02"]);
    assert_eq!(
        texts(&result, "ul.refused li"),
        ["✗ app-03: no migration is configured"]
    );
    for id in [&a, &b] {
        let ops = api(
            &app,
            "GET",
            &format!("/operations?sourceId={id}"),
            Value::Null,
        )
        .await;
        wait_op(&app, ops["operations"][0]["id"].as_str().unwrap()).await;
    }
    // Pause their schedules at once.
    let reply = post_form(
        &app,
        "/migrate/workloads/bulk",
        &[
            ("csrf", &csrf),
            ("action", "PauseSchedule"),
            ("ids", &a),
            ("ids", &b),
        ],
    )
    .await;
    reply.assert_status(StatusCode::OK);
    let (_, list) = page(&app, "/migrate/workloads?sort=name").await;
    assert_eq!(texts(&list, "td.schedule"), ["Paused", "Paused", "None"]);
    // Remove asks first; nothing selected is a clear 400.
    let reply = post_form(
        &app,
        "/migrate/workloads/bulk",
        &[("csrf", &csrf), ("action", "Remove"), ("ids", &c)],
    )
    .await;
    reply.assert_status(StatusCode::OK);
    assert_eq!(text(&reply.html(), "h1"), "Remove 1 workload(s)?");
    let reply = post_form(
        &app,
        "/migrate/workloads/bulk",
        &[
            ("csrf", &csrf),
            ("action", "Remove"),
            ("ids", &c),
            ("confirmed", "yes"),
        ],
    )
    .await;
    assert_eq!(texts(&reply.html(), "ul.done li"), ["✓ app-03"]);
    let (_, list) = page(&app, "/migrate/workloads").await;
    assert_eq!(texts(&list, "a.host"), ["app-01", "app-02"]);
    let reply = post_form(
        &app,
        "/migrate/workloads/bulk",
        &[("csrf", &csrf), ("action", "PauseSchedule")],
    )
    .await;
    reply.assert_status(StatusCode::BAD_REQUEST);
    assert!(text(&reply.html(), ".message").contains("select at least one workload"));
}

#[tokio::test]
async fn pages_and_assets_go_compressed() {
    use axum::body::Body;
    let (app, _state, _dir) = common::test_app().await;
    add_source(&app, "web-01", "windows", "10.0.0.5").await;
    for uri in [
        "/migrate/",
        "/migrate/workloads",
        "/static/app.css",
        "/migrate/live/dashboard",
    ] {
        let plain = app.get_as(uri, common::ADMIN).await;
        plain.assert_status(StatusCode::OK);
        assert_eq!(
            plain.header("content-encoding"),
            None,
            "{uri}: asked for nothing"
        );
        let gzipped = common::send(
            &app,
            common::admin("GET", uri)
                .header("accept-encoding", "gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        gzipped.assert_status(StatusCode::OK);
        assert_eq!(gzipped.header("content-encoding"), Some("gzip"), "{uri}");
        assert_eq!(&gzipped.body[..2], &[0x1f, 0x8b], "{uri}: a gzip stream");
        assert!(
            gzipped.body.len() * 2 < plain.body.len(),
            "{uri}: {} bytes gzipped, {} plain",
            gzipped.body.len(),
            plain.body.len()
        );
    }
}

#[tokio::test]
async fn an_error_page_leads_back_to_where_the_user_came_from() {
    use axum::body::Body;
    let (app, _state, _dir) = common::test_app().await;
    let missing = "/migrate/workloads/00000000-0000-4000-8000-000000000000";
    let ask = |referer: &'static str| {
        common::admin("GET", missing)
            .header("host", "localhost:8080")
            .header("referer", referer)
            .body(Body::empty())
            .unwrap()
    };
    let reply = common::send(&app, ask("http://localhost:8080/migrate/workloads?q=web")).await;
    reply.assert_status(StatusCode::NOT_FOUND);
    let html = reply.html();
    assert_eq!(
        attrs(&html, "#go-back", "href"),
        ["/migrate/workloads?q=web"]
    );
    assert!(text(&html, ".hint").contains("Workloads and Tasks lists"));
    assert_eq!(
        texts(&html, ".error-ways a"),
        [
            "← Back to the page you came from",
            "Dashboard",
            "Workloads",
            "Tasks"
        ]
    );
    // Another site's page, or one of ours under another name, is not linked.
    for referer in [
        "http://evil.example/migrate/workloads",
        "http://localhost:8080.evil.example/migrate/",
        "http://localhost:8080//evil.example/",
    ] {
        let html = common::send(&app, ask(referer)).await.html();
        assert!(attrs(&html, "#go-back", "href").is_empty(), "{referer}");
        assert_eq!(texts(&html, ".error-ways a").len(), 3, "{referer}");
    }
}
