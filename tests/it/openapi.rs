//! The OpenAPI document (SPEC 4): in sync with the routes, structurally valid OpenAPI 3.1,
//! matching the committed snapshot, served without credentials, and describing what the handlers
//! really answer.

use crate::common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{API, admin, json_body, send, test_app};
use psserver::api::{self, openapi};
use serde_json::{Value, json};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

fn document() -> Value {
    serde_json::to_value(openapi::document()).unwrap()
}

/// Every (path, method) the router serves, as the document writes paths.
fn served() -> BTreeSet<(String, String)> {
    let mut served = BTreeSet::new();
    let mounts = [(api::BASE, api::ROUTES), ("/_emu", psserver::emu::ROUTES)];
    for (base, routes) in mounts {
        for (path, methods) in routes {
            let full = if *path == "/" {
                base.to_owned()
            } else {
                format!("{base}{path}")
            };
            for m in *methods {
                served.insert((full.clone(), (*m).to_owned()));
            }
        }
    }
    served
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if METHODS.contains(&method.as_str()) {
                documented.insert((path.clone(), method.clone()));
            }
        }
    }
    documented
}

/// A concrete path for a route: a well-formed id, platform and version in its parameters.
fn concrete(path: &str) -> String {
    path.replace("{id}", "00000000-0000-4000-8000-000000000000")
        .replace("{platform}", "windows-x64")
        .replace("{version}", "8.0.0.11")
}

/// The router's own "nothing here" answers: the API's fallback, the app's fallback, a 405.
fn is_unrouted(reply: &common::Reply) -> bool {
    if reply.status == StatusCode::METHOD_NOT_ALLOWED {
        return true;
    }
    if reply.status != StatusCode::NOT_FOUND {
        return false;
    }
    let message = serde_json::from_slice::<Value>(&reply.body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_default();
    message.starts_with("no API resource at") || message.starts_with("nothing at")
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_a_route() {
    let served = served();
    let documented = documented(&document());
    let undocumented: Vec<_> = served.difference(&documented).collect();
    // Paths outside both tables (such as `/metrics`) are checked by probing the router below.
    let unserved: Vec<_> = documented
        .difference(&served)
        .filter(|(path, _)| path.starts_with(api::BASE) || path.starts_with("/_emu"))
        .collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "routes without a #[utoipa::path] in api::openapi: {undocumented:?}\n\
         documented operations with no route: {unserved:?}"
    );
}

#[tokio::test]
async fn every_documented_operation_answers_and_other_methods_are_refused() {
    let (app, _, _dir) = test_app().await;
    let doc = document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        // The alias serves the same operations.
        let mut paths = vec![concrete(path)];
        if let Some(rest) = path.strip_prefix(api::BASE) {
            paths.push(concrete(&format!("{}{rest}", api::BASE_ALIAS)));
        }
        for uri in paths {
            for method in METHODS {
                let request = admin(&method.to_uppercase(), &uri)
                    .body(Body::empty())
                    .unwrap();
                let reply = send(&app, request).await;
                if item.get(method).is_some() {
                    assert!(
                        !is_unrouted(&reply),
                        "{method} {uri} is documented but not routed: {} {}",
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                    );
                } else {
                    assert_eq!(
                        reply.status,
                        StatusCode::METHOD_NOT_ALLOWED,
                        "{method} {uri} answers but is not documented"
                    );
                }
            }
        }
    }
}

/// Routes the SPEC names that may be added outside the route tables (fault injection, metrics):
/// once they answer, they must be documented too.
#[tokio::test]
async fn routes_the_spec_names_are_documented_once_served() {
    let (app, _, _dir) = test_app().await;
    let documented = documented(&document());
    for path in ["/_emu/faults", "/_emu/faults/{id}", "/metrics"] {
        for method in METHODS {
            let request = admin(&method.to_uppercase(), &concrete(path))
                .body(Body::empty())
                .unwrap();
            let reply = send(&app, request).await;
            if !is_unrouted(&reply) {
                assert!(
                    documented.contains(&(path.to_owned(), method.to_owned())),
                    "{method} {path} answers {} but is not in the OpenAPI document (api::openapi)",
                    reply.status
                );
            }
        }
    }
}

/// Resolve a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// Every `$ref` anywhere in `value`, with where it is.
fn refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push((at.to_owned(), v.as_str().unwrap_or("").to_owned()));
                } else {
                    refs(v, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refs(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_document_is_valid_openapi_3_1() {
    let doc = document();
    let mut errors = Vec::new();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let mut all_refs = Vec::new();
    refs(&doc, "", &mut all_refs);
    assert!(!all_refs.is_empty());
    for (at, reference) in &all_refs {
        if !reference.starts_with("#/components/") || resolve(&doc, reference).is_none() {
            errors.push(format!("{at}: $ref {reference} does not resolve"));
        }
    }

    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with('/') {
            errors.push(format!("{path}: a path must start with /"));
        }
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let operations = item.as_object().unwrap();
        if operations.is_empty() {
            errors.push(format!("{path}: no operations"));
        }
        for (method, op) in operations {
            let at = format!("{method} {path}");
            if !METHODS.contains(&method.as_str()) {
                errors.push(format!("{at}: unexpected key {method}"));
                continue;
            }
            match op["operationId"].as_str() {
                Some(id) if operation_ids.insert(id.to_owned()) => {}
                other => errors.push(format!("{at}: operationId {other:?} missing or repeated")),
            }
            if op["summary"].as_str().is_none_or(str::is_empty) {
                errors.push(format!("{at}: no summary"));
            }
            for tag in op["tags"].as_array().into_iter().flatten() {
                if !tags.contains(tag.as_str().unwrap_or("")) {
                    errors.push(format!("{at}: tag {tag} is not declared"));
                }
            }
            let responses = op["responses"].as_object();
            if responses.is_none_or(|r| r.is_empty()) {
                errors.push(format!("{at}: no responses"));
            }
            for (status, response) in responses.into_iter().flatten() {
                let valid_status = status.len() == 3
                    && status.parse::<u16>().is_ok_and(|s| (100..600).contains(&s));
                if !valid_status {
                    errors.push(format!("{at}: response status {status}"));
                }
                let response = match response.get("$ref").and_then(Value::as_str) {
                    Some(r) => resolve(&doc, r).unwrap_or(&Value::Null),
                    None => response,
                };
                if !response["description"].is_string() {
                    errors.push(format!("{at}: response {status} has no description"));
                }
            }
            // Path parameters: exactly those of the template, each required.
            let mut declared = BTreeSet::new();
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut seen = BTreeSet::new();
            for p in &params {
                let (name, location) = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
                if !["path", "query", "header", "cookie"].contains(&location) {
                    errors.push(format!("{at}: parameter {name} in {location}"));
                }
                if !seen.insert((name.to_owned(), location.to_owned())) {
                    errors.push(format!("{at}: parameter {name} in {location} twice"));
                }
                if p.get("schema").is_none() {
                    errors.push(format!("{at}: parameter {name} has no schema"));
                }
                if location == "path" {
                    declared.insert(name.to_owned());
                    if p["required"] != json!(true) {
                        errors.push(format!("{at}: path parameter {name} must be required"));
                    }
                }
            }
            let templated: BTreeSet<String> = templated.iter().map(|s| (*s).to_owned()).collect();
            if declared != templated {
                errors.push(format!(
                    "{at}: path parameters {declared:?}, template has {templated:?}"
                ));
            }
            for requirement in op["security"].as_array().into_iter().flatten() {
                for scheme in requirement.as_object().unwrap().keys() {
                    if !schemes.contains_key(scheme) {
                        errors.push(format!("{at}: security scheme {scheme} is not declared"));
                    }
                }
            }
            if let Some(body) = op.get("requestBody")
                && body["content"].as_object().is_none_or(|c| c.is_empty())
            {
                errors.push(format!("{at}: a request body without content"));
            }
        }
    }

    // Object schemas: what they require, they describe.
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let mut stack = vec![schema];
        while let Some(s) = stack.pop() {
            if let (Some(required), Some(props)) =
                (s["required"].as_array(), s["properties"].as_object())
            {
                for r in required {
                    if !props.contains_key(r.as_str().unwrap()) {
                        errors.push(format!(
                            "schema {name}: requires {r} but has no such property"
                        ));
                    }
                }
            }
            for key in ["oneOf", "allOf", "anyOf"] {
                stack.extend(s[key].as_array().into_iter().flatten());
            }
            stack.extend(
                s["properties"]
                    .as_object()
                    .into_iter()
                    .flat_map(|p| p.values()),
            );
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn the_document_matches_its_snapshot() {
    let mut doc = document();
    // The crate's version changes with releases, not with the API.
    doc["info"]["version"] = json!("[version]");
    insta::assert_json_snapshot!("openapi", doc);
}

#[tokio::test]
async fn the_document_and_the_docs_page_are_served_without_credentials() {
    let (app, _, _dir) = test_app().await;
    let expected = document();
    for base in [api::BASE, api::BASE_ALIAS] {
        let reply = send(
            &app,
            Request::get(format!("{base}/openapi.json"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.json(), expected);
    }
    let page = format!("{API}/docs");
    let reply = send(&app, Request::get(&page).body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let html = scraper::Html::parse_document(&String::from_utf8(reply.body).unwrap());
    let scripts: Vec<String> = html
        .select(&scraper::Selector::parse("script[src]").unwrap())
        .map(|s| s.value().attr("src").unwrap().to_owned())
        .collect();
    assert!(!scripts.is_empty(), "the page loads its script");
    for src in scripts {
        assert!(!src.contains("//"), "vendored, not from elsewhere: {src}");
        // Relative to the page: `{base}/docs` resolves `docs/x.js` to `{base}/docs/x.js`.
        let url = format!("{API}/{src}");
        let reply = send(&app, Request::get(&url).body(Body::empty()).unwrap()).await;
        assert_eq!(reply.status, StatusCode::OK, "{url}");
        assert!(
            reply
                .header("content-type")
                .unwrap()
                .starts_with("text/javascript")
        );
        let script = String::from_utf8(reply.body).unwrap();
        assert!(
            script.contains("openapi.json"),
            "the script reads the document"
        );
    }
}

/// Check a value against a schema of the document, in the subset utoipa writes: `$ref`, `type`
/// (one or a list), `enum`, `properties`, `required`, `items`, `oneOf`/`allOf`. Stricter than
/// JSON Schema in one way: an object may carry only the properties its schema names, so a field
/// added to a view without its documentation fails here.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    check_part(doc, schema, value, at, errors, true);
}

fn check_part(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
    closed: bool,
) {
    if let Some(r) = schema["$ref"].as_str() {
        return check_part(doc, resolve(doc, r).unwrap(), value, at, errors, closed);
    }
    // The parts of an `allOf` (a flattened struct) each name some of the properties.
    for s in schema["allOf"].as_array().into_iter().flatten() {
        check_part(doc, s, value, at, errors, false);
    }
    if let Some(alternatives) = schema["oneOf"].as_array() {
        let fits = alternatives.iter().any(|s| {
            let mut e = Vec::new();
            check(doc, s, value, at, &mut e);
            e.is_empty()
        });
        if !fits {
            errors.push(format!("{at}: {value} fits none of {}", schema["oneOf"]));
        }
    }
    if let Some(types) = match &schema["type"] {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    } {
        let fits = types.iter().any(|t| match *t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        if !fits {
            errors.push(format!("{at}: {value} is not {types:?}"));
            return;
        }
    }
    if let Some(values) = schema["enum"].as_array()
        && !values.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {values:?}"));
    }
    if let Some(items) = value.as_array()
        && let Some(item_schema) = schema.get("items")
    {
        for (i, item) in items.iter().enumerate() {
            check(doc, item_schema, item, &format!("{at}[{i}]"), errors);
        }
    }
    if let Some(object) = value.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            if !object.contains_key(r.as_str().unwrap()) {
                errors.push(format!("{at}: required {r} is missing"));
            }
        }
        let props = schema["properties"].as_object();
        for (k, v) in object {
            if let Some(s) = props.and_then(|p| p.get(k)) {
                check(doc, s, v, &format!("{at}.{k}"), errors);
            }
        }
        if closed && let Some(known) = known_properties(doc, schema) {
            for k in object.keys().filter(|k| !known.contains(*k)) {
                errors.push(format!("{at}: {k} is not documented"));
            }
        }
    }
}

/// The properties an object schema names, with those of its `allOf` parts; `None` for a free
/// object (no properties named).
fn known_properties(doc: &Value, schema: &Value) -> Option<BTreeSet<String>> {
    if let Some(r) = schema["$ref"].as_str() {
        return known_properties(doc, resolve(doc, r)?);
    }
    let mut known: Option<BTreeSet<String>> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect());
    for part in schema["allOf"].as_array().into_iter().flatten() {
        if let Some(more) = known_properties(doc, part) {
            known.get_or_insert_with(BTreeSet::new).extend(more);
        }
    }
    known
}

/// The documented JSON schema of a response: the operation of the path template that matches
/// `uri`, its response for `status`.
fn response_schema<'a>(
    doc: &'a Value,
    method: &str,
    uri: &str,
    status: u16,
) -> Result<&'a Value, String> {
    let path = uri.split('?').next().unwrap();
    let segments: Vec<&str> = path.split('/').collect();
    let template = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            ts.len() == segments.len()
                && ts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t.starts_with('{') || t == s)
        })
        // A literal segment wins over a parameter (`driverPackages/latest` over `{id}`).
        .min_by_key(|t| t.matches('{').count())
        .ok_or_else(|| format!("{method} {uri}: no documented path"))?;
    let response = doc["paths"][template][method]["responses"]
        .get(status.to_string())
        .ok_or_else(|| format!("{method} {uri}: status {status} is not documented"))?;
    let response = match response["$ref"].as_str() {
        Some(r) => resolve(doc, r).unwrap(),
        None => response,
    };
    Ok(&response["content"]["application/json"]["schema"])
}

#[tokio::test]
async fn real_answers_fit_the_documented_schemas() {
    let (app, _, _dir) = test_app().await;
    let doc = document();
    let mut errors = Vec::new();
    let mut call = async |method: &str, uri: &str, body: Option<Value>| -> Value {
        let request = admin(method, uri)
            .body(body.map_or_else(Body::empty, json_body))
            .unwrap();
        let reply = send(&app, request).await;
        let value: Value = if reply.body.is_empty() {
            Value::Null
        } else {
            reply.json()
        };
        match response_schema(&doc, &method.to_lowercase(), uri, reply.status.as_u16()) {
            Ok(schema) if schema.is_null() => {}
            Ok(schema) => check(
                &doc,
                schema,
                &value,
                &format!("{method} {uri} {}", reply.status),
                &mut errors,
            ),
            Err(e) => errors.push(e),
        }
        value
    };

    let b = API;
    call("GET", b, None).await;
    let windows = call(
        "POST",
        &format!("{b}/sources"),
        Some(json!({"hostName": "web01", "osFamily": "windows", "ipAddress": "10.0.0.21"})),
    )
    .await;
    let id = windows["id"].as_str().unwrap().to_owned();
    call("POST", &format!("{b}/sources?operation=Register"), Some(json!({"hostName": "db01", "osFamily": "linux", "ipAddress": "10.0.0.22", "machineId": "m-1"}))).await;
    call("PUT", &format!("{b}/sources/{id}/driverState"), Some(json!({"installedVersion": "8.0.0.12", "runningVersion": "8.0.0.11", "controllerService": "running"}))).await;
    call("GET", &format!("{b}/sources?limit=1"), None).await;
    call("GET", &format!("{b}/sources/{id}"), None).await;
    let tasks = call("GET", &format!("{b}/tasks?sourceId={id}"), None).await;
    let task = tasks["tasks"][0]["id"].as_str().unwrap().to_owned();
    call("GET", &format!("{b}/tasks/{task}"), None).await;
    call("GET", &format!("{b}/events?limit=2"), None).await;
    call("POST", &format!("{b}/sources/{id}?operation=Reboot"), None).await;
    call("POST", &format!("{b}/tasks/{task}?operation=Dismiss"), None).await;

    call("GET", &format!("{b}/driverPackages/platforms"), None).await;
    // A target platform, from the product's documented request, and its PreDiscovery.
    let added = call(
        "POST",
        &format!("{b}/platforms"),
        Some(json!({"username": "username@accountname.onmicrosoft.com", "password": "p", "type": "AddPlatformAzureCloud", "azureCloudName": "AzureCloud", "locationName": "centralus", "subscriptionId": "s", "applicationId": "a"})),
    )
    .await;
    call("GET", added["operation"]["href"].as_str().unwrap(), None).await;
    let platform = added["resource"]["href"].as_str().unwrap().to_owned();
    call("GET", &platform, None).await;
    call("GET", &format!("{b}/platforms"), None).await;
    call(
        "POST",
        &format!("{b}/platforms"),
        Some(json!({"type": "AddPlatformVMware"})),
    )
    .await;
    let packages = call(
        "GET",
        &format!("{b}/driverPackages?platform=windows-x64"),
        None,
    )
    .await;
    let package = packages["driverPackages"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    call("GET", &format!("{b}/driverPackages/{package}"), None).await;
    call("GET", &format!("{b}/driverPackages/latest"), None).await;
    call(
        "GET",
        &format!("{b}/driverPackages/latest?platform=linux-x64"),
        None,
    )
    .await;
    call(
        "POST",
        &format!("{b}/driverPackages?operation=Rescan"),
        None,
    )
    .await;

    let t = call(
        "POST",
        &format!("{b}/transformations"),
        Some(json!({"sourceId": id})),
    )
    .await;
    let t = t["id"].as_str().unwrap().to_owned();
    let accepted = call(
        "POST",
        &format!("{b}/transformations/{t}?operation=Prepare"),
        None,
    )
    .await;
    let op = accepted["operation"]["href"].as_str().unwrap().to_owned();
    call("GET", &op, None).await;
    call("GET", &format!("{b}/operations?transformationId={t}"), None).await;
    call("GET", &format!("{b}/transformations/{t}"), None).await;
    call("GET", &format!("{b}/transformations"), None).await;
    // The setting groups (issue 17); a PUT answers 200, or 409 while Prepare still runs.
    for group in [
        "storage",
        "networking",
        "schedule",
        "targetSettings",
        "replicationSettings",
        "validationResults",
    ] {
        call("GET", &format!("{b}/transformations/{t}/{group}"), None).await;
    }
    call(
        "PUT",
        &format!("{b}/transformations/{t}/schedule"),
        Some(json!({"state": "Paused", "fullReplicationStart": "2030-01-01T00:00:00Z"})),
    )
    .await;
    call(
        "PUT",
        &format!("{b}/transformations/{t}/networking"),
        Some(json!({"nics": [{"dhcp": false, "ipAddress": "10.0.1.5", "subnetMask": "255.255.255.0"}]})),
    )
    .await;
    call(
        "PUT",
        &format!("{b}/transformations/{t}/targetSettings"),
        Some(json!({"cpuCount": 0})),
    )
    .await;

    // Errors.
    call("GET", &format!("{b}/sources/not-an-id"), None).await;
    call(
        "GET",
        &format!("{b}/sources/00000000-0000-4000-8000-000000000000"),
        None,
    )
    .await;
    call(
        "POST",
        &format!("{b}/transformations/{t}?operation=Cutover"),
        None,
    )
    .await;
    call(
        "PUT",
        &format!("{b}/sources/{id}/driverState"),
        Some(json!({"installedVersion": "8.0"})),
    )
    .await;

    // The control plane.
    for uri in [
        "/_emu/health",
        "/_emu/ready",
        "/_emu/info",
        "/_emu/settings",
        "/_emu/requests?limit=3",
    ] {
        call("GET", uri, None).await;
    }
    call("GET", &format!("{b}/nothingHere"), None)
        .await
        .is_object()
        .then_some(())
        .unwrap();
    call("GET", "/_emu/requests/unimplemented", None).await;
    call(
        "PUT",
        "/_emu/settings",
        Some(json!({"transition": {"mode": "afterPolls", "polls": 2}})),
    )
    .await;
    call("POST", "/_emu/state/reset?scope=tasks", None).await;
    call("POST", "/_emu/state/reset", None).await;
    let rule = call(
        "POST",
        "/_emu/faults",
        Some(json!({"path": "/nowhere*", "status": 500, "message": "m", "expiresInSeconds": 60})),
    )
    .await;
    call(
        "POST",
        "/_emu/faults",
        Some(json!({"path": "/x", "action": "truncate", "truncateAfterBytes": 1, "times": 1})),
    )
    .await;
    call(
        "POST",
        "/_emu/faults",
        Some(json!({"path": "/x", "probability": 2})),
    )
    .await;
    call("GET", "/_emu/faults", None).await;
    call(
        "DELETE",
        &format!("/_emu/faults/{}", rule["id"].as_str().unwrap()),
        None,
    )
    .await;
    call("DELETE", "/_emu/faults", None).await;

    // The unknown API path above is not documented; everything else must fit.
    errors.retain(|e| !e.contains("/nothingHere"));
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
