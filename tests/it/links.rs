//! Links are absolute, built from the request's scheme and `Host`, as the product's documented
//! answers show them (`https://10.10.10.143/MigrateApi/2019.8/...`, e.g.
//! https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-create-transformation.html).

use crate::common;

use axum::body::Body;
use axum::http::StatusCode;
use common::{API, admin, send, test_app};
use serde_json::Value;

async fn root_with_host(app: &psserver::App, host: Option<&str>) -> Value {
    let mut request = admin("GET", API);
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let reply = send(app, request.body(Body::empty()).unwrap()).await;
    reply.assert_status(StatusCode::OK);
    reply.json()
}

fn hrefs(body: &Value) -> Vec<String> {
    body["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["href"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn links_are_absolute_on_the_host_the_client_named() {
    let (app, _, _dir) = test_app().await;
    for host in ["10.10.10.143", "migrate.example.com:8443", "[::1]:8080"] {
        let root = root_with_host(&app, Some(host)).await;
        let prefix = format!("http://{host}{API}");
        for href in hrefs(&root) {
            assert!(href.starts_with(&prefix), "{host}: {href}");
        }
    }
    // The alias base keeps its own version in its links.
    let mut request = admin("GET", "/MigrateApi/2019.5/sources");
    request = request.header("host", "10.10.10.143");
    let reply = send(&app, request.body(Body::empty()).unwrap()).await;
    assert!(
        hrefs(&reply.json())[0].starts_with("http://10.10.10.143/MigrateApi/2019.5/sources"),
        "{}",
        reply.json()
    );
}

#[tokio::test]
async fn a_host_that_is_not_a_plain_host_gives_relative_links() {
    let (app, _, _dir) = test_app().await;
    // Never a link built from text that could end or redirect a URL.
    for host in ["evil.example/steal?", "a b", "x@y", "a#b"] {
        let root = root_with_host(&app, Some(host)).await;
        for href in hrefs(&root) {
            assert!(href.starts_with(API), "{host:?}: {href}");
        }
    }
    let root = root_with_host(&app, None).await;
    assert!(hrefs(&root)[0].starts_with(API));
}
