//! The Workloads page's search (`db::sources::search`): any part of a host name or IP address, in
//! any case. A text of three characters or more goes through the trigram index
//! (`migrations/0007_add_sources_search.sql`), a shorter one through a scan; both must find what
//! a plain "contains, ignoring case" finds, in the page's order, and the index must follow every
//! way a source is added, renamed, removed or cleared.

use crate::common;

use common::{AppExt, test_app};
use psserver::db::sources::{Search, Show, Sort, search};
use psserver::domain::paging::Page;
use serde_json::json;

/// Register an agent's machine (a second registration of the same machine renames it).
async fn register(app: &psserver::App, machine: &str, host: &str, ip: &str) -> String {
    let reply = app
        .post_json(
            &format!("{}/sources?operation=Register", common::API),
            json!({"hostName": host, "osFamily": "windows", "platform": "windows-x64",
                   "ipAddress": ip, "machineId": machine}),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.text());
    reply.json()["id"].as_str().unwrap().to_owned()
}

/// The ids `text` finds, in `sort`'s order (the first 100).
async fn found(state: &psserver::AppState, text: &str, sort: Sort) -> (Vec<String>, u64) {
    let mut r = state.db.reader().await.unwrap();
    let query = Search {
        text: Some(text.to_owned()),
        show: Show::All,
        sort,
        descending: false,
    };
    let page = Page {
        offset: 0,
        limit: 100,
    };
    let (sources, count) = search(&mut r, &query, page).await.unwrap();
    let ids = sources.iter().map(|s| s.id.to_string()).collect();
    (ids, count.count)
}

/// What "contains, ignoring case" finds among `sources` (id, host, ip, in the order added).
fn expected(sources: &[(String, String, String)], text: &str, sort: Sort) -> Vec<String> {
    let needle = text.to_lowercase();
    let mut hits: Vec<&(String, String, String)> = sources
        .iter()
        .filter(|(_, host, ip)| {
            host.to_lowercase().contains(&needle) || ip.to_lowercase().contains(&needle)
        })
        .collect();
    if sort == Sort::Name {
        // Stable: equal names keep the order added, as the page's order does.
        hits.sort_by_key(|(_, host, _)| host.to_lowercase());
    }
    hits.into_iter().map(|(id, ..)| id.clone()).collect()
}

#[tokio::test]
async fn a_search_finds_any_part_of_a_host_name_or_address_in_any_case() {
    let (app, state, _dir) = test_app().await;
    let mut sources = Vec::new();
    for (machine, host, ip) in [
        ("m1", "WIN-APP01", "10.0.1.5"),
        ("m2", "win-db02", "10.0.2.17"),
        ("m3", "LNX-WEB03", "192.168.10.3"),
        ("m4", "app-gateway", "10.0.10.1"),
        ("m5", "Web-App-Old", "172.16.0.100"),
        ("m6", "db_backup", "10.0.1.50"),
    ] {
        let id = register(&app, machine, host, ip).await;
        sources.push((id, host.to_owned(), ip.to_owned()));
    }
    let texts = [
        "app",
        "APP",
        "App0",
        "ap",
        "a",
        "-db",
        "DB0",
        "web",
        "10.0.1",
        "0.1",
        ".10.",
        "%",
        "_",
        "b_b",
        "db_",
        "192.168.10.3",
        "win-app01",
        "nothing",
        "zz",
        "pp-",
        "1.5",
    ];
    for text in texts {
        for sort in [Sort::Added, Sort::Name] {
            let (ids, count) = found(&state, text, sort).await;
            let want = expected(&sources, text, sort);
            assert_eq!(ids, want, "{text:?} sorted {sort:?}");
            assert_eq!(count, want.len() as u64, "{text:?}: the count");
        }
    }
}

#[tokio::test]
async fn the_search_follows_registrations_renames_removals_and_resets() {
    let (app, state, _dir) = test_app().await;
    let first = register(&app, "machine-a", "FINDME-01", "10.9.0.1").await;
    let other = register(&app, "machine-b", "keeper-02", "10.9.0.2").await;
    assert_eq!(
        found(&state, "findme", Sort::Added).await.0,
        vec![first.clone()]
    );

    // Renamed by a second registration of the same machine: found by its new name only.
    let renamed = register(&app, "machine-a", "renamed-01", "10.9.0.99").await;
    assert_eq!(renamed, first);
    assert!(found(&state, "findme", Sort::Added).await.0.is_empty());
    assert_eq!(
        found(&state, "RENAMED", Sort::Added).await.0,
        vec![first.clone()]
    );
    assert_eq!(
        found(&state, "0.99", Sort::Added).await.0,
        vec![first.clone()]
    );

    // Removed: gone from the search. The last added is removed, so that the next source added
    // takes its rowid: the removed one's name must not find the newcomer.
    let gone = register(&app, "machine-g", "temp-gone-09", "10.9.0.9").await;
    for id in [&gone, &first] {
        let removed = app
            .call("DELETE", &format!("{}/sources/{id}", common::API), None)
            .await;
        assert!(removed.status.is_success(), "{}", removed.text());
    }
    assert!(found(&state, "renamed", Sort::Added).await.0.is_empty());
    assert!(found(&state, "temp-gone", Sort::Added).await.0.is_empty());
    let next = register(&app, "machine-c", "newcomer-03", "10.9.0.3").await;
    assert!(found(&state, "temp-gone", Sort::Added).await.0.is_empty());
    assert!(found(&state, "0.9.0.9", Sort::Added).await.0.is_empty());
    assert_eq!(found(&state, "newcomer", Sort::Added).await.0, vec![next]);
    assert_eq!(found(&state, "keeper", Sort::Added).await.0, vec![other]);

    // A reset of the sources empties the search with them; what comes after is found alone.
    let reset = app
        .call("POST", "/_emu/state/reset?scope=sources", None)
        .await;
    assert!(reset.status.is_success(), "{}", reset.text());
    for text in ["keeper", "newcomer", "10.9.0"] {
        assert!(
            found(&state, text, Sort::Added).await.0.is_empty(),
            "{text}"
        );
    }
    let after = register(&app, "machine-d", "after-reset-04", "10.9.0.4").await;
    assert_eq!(
        found(&state, "10.9.0", Sort::Added).await.0,
        vec![after.clone()]
    );
    assert_eq!(
        found(&state, "keeper", Sort::Name).await.0,
        Vec::<String>::new()
    );
    assert_eq!(found(&state, "after", Sort::Name).await.0, vec![after]);
}

/// Past `SORTED_MAX` matches, a search sorted by name scans in the name's order instead of
/// sorting what the index found: the page must be the same either way.
#[tokio::test]
async fn a_search_with_many_matches_sorted_by_name_pages_as_with_few() {
    let (app, state, _dir) = test_app().await;
    let mut sources = Vec::new();
    for i in 0..2_050 {
        // Names out of the order added, so that sorting by name means something.
        let host = format!("fleet-{:04}", (i * 7919) % 2_050);
        let ip = format!("10.{}.{}.{}", i / 65_536, i / 256 % 256, i % 256);
        let id = register(&app, &format!("fleet-machine-{i}"), &host, &ip).await;
        sources.push((id, host, ip));
    }
    for text in ["fleet", "fleet-00", "FLEET-2", "eet-1"] {
        let (ids, count) = found(&state, text, Sort::Name).await;
        let want = expected(&sources, text, Sort::Name);
        assert_eq!(count, want.len() as u64, "{text:?}: the count");
        assert_eq!(ids, want[..want.len().min(100)].to_vec(), "{text:?}");
    }
}
