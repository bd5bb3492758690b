//! `GET /metrics`: Prometheus metrics on the main listener, for administrators (SPEC 6).
//!
//! Served in the OpenMetrics text format, which Prometheus scrapes natively. Requests are
//! labelled by route template (`/MigrateApi/2019.8/sources/{id}`, from axum's `MatchedPath`),
//! never by the path a client sent, and methods outside the standard ones count as `OTHER`, so
//! the number of series, and the memory they take, stays bounded whatever clients send.
//! Gauges of the database (tasks by state, operations by status) are read at scrape time.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::api::openapi::{Forbidden, Unauthorized};
use crate::emu::ControlPlaneAdmin;
use crate::emu::faults::Action;
use crate::error::{AppError, Result};
use crate::state::AppState;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Seconds: from a millisecond status poll to a slow download's first byte.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoredLabel {
    stored: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    /// The two series of `downloads` (full, partial), found once: every download counts.
    downloads_by_kind: [Counter; 2],
    bytes_sent: Counter,
    operations_active: Gauge,
    package_cache_bytes: Gauge,
    operations: Family<StatusLabel, Gauge>,
    tasks: Family<StateLabel, Gauge>,
    faults: Family<ActionLabel, Counter>,
    /// The two series of `poll_answers` (hit, miss), found once: every status poll counts.
    polls_by_result: [Counter; 2],
    /// The two series of `driver_state_reports` (together, alone), found once: every report
    /// counts.
    reports_by_way: [Counter; 2],
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("psserver");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route template and status",
            requests.clone(),
        );
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to the response's head, by method and route template",
            latency.clone(),
        );
        let downloads = Family::<KindLabel, Counter>::default();
        registry.register(
            "driver_downloads",
            "Driver package downloads started (kind full or partial)",
            downloads.clone(),
        );
        let bytes_sent = Counter::default();
        registry.register(
            "driver_download_bytes_sent",
            "Bytes of driver packages streamed to clients",
            bytes_sent.clone(),
        );
        let operations_active = Gauge::default();
        registry.register(
            "operations_active",
            "Operations queued or running in this process",
            operations_active.clone(),
        );
        let package_cache_bytes = Gauge::default();
        registry.register(
            "package_cache_bytes",
            "Bytes of driver packages kept in memory for downloads (--package-cache-mb)",
            package_cache_bytes.clone(),
        );
        let operations = Family::<StatusLabel, Gauge>::default();
        registry.register(
            "operations",
            "Operations in the database by status",
            operations.clone(),
        );
        let tasks = Family::<StateLabel, Gauge>::default();
        registry.register("tasks", "Tasks in the database by state", tasks.clone());
        let faults = Family::<ActionLabel, Counter>::default();
        registry.register(
            "faults_injected",
            "Faults injected by /_emu/faults rules, by action",
            faults.clone(),
        );
        let polls = Family::<ResultLabel, Counter>::default();
        registry.register(
            "poll_answers",
            "Answers to GET sources/{id} and operations/{id}: from memory (hit) or read (miss)",
            polls.clone(),
        );
        let reports = Family::<StoredLabel, Counter>::default();
        registry.register(
            "driver_state_reports",
            "Driver-state reports stored: steady ones together with the others waiting \
             (together), the rest in a transaction each (alone)",
            reports.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            downloads_by_kind: ["full", "partial"]
                .map(|kind| downloads.get_or_create(&KindLabel { kind }).clone()),
            bytes_sent,
            operations_active,
            package_cache_bytes,
            operations,
            tasks,
            faults,
            polls_by_result: ["hit", "miss"]
                .map(|result| polls.get_or_create(&ResultLabel { result }).clone()),
            reports_by_way: ["together", "alone"]
                .map(|stored| reports.get_or_create(&StoredLabel { stored }).clone()),
        }
    }

    /// A driver-state report stored, together with others (a steady one) or alone.
    pub fn report_stored(&self, together: bool) {
        let [with_others, alone] = &self.reports_by_way;
        if together { with_others } else { alone }.inc();
    }

    /// A status poll answered from memory (`hit`) or read from the database (`miss`).
    pub fn poll_answered(&self, from_memory: bool) {
        let [hit, miss] = &self.polls_by_result;
        if from_memory { hit } else { miss }.inc();
    }

    fn observe(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        self.series(method, route, status).observe(seconds);
    }

    /// The counter and the histogram of requests with these labels.
    fn series(&self, method: &'static str, route: &str, status: u16) -> Series {
        let latency = self
            .latency
            .get_or_create(&RouteLabels {
                method,
                route: route.to_owned(),
            })
            .clone();
        let count = self
            .requests
            .get_or_create(&RequestLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .clone();
        Series {
            method,
            status,
            count,
            latency,
        }
    }

    /// A download begins (a GET with a body, whole or a range).
    pub fn download_started(&self, partial: bool) {
        let [full, part] = &self.downloads_by_kind;
        if partial { part } else { full }.inc();
    }

    /// The counter a download stream adds its bytes to as it sends them.
    pub fn bytes_sent(&self) -> Counter {
        self.bytes_sent.clone()
    }

    pub fn fault_injected(&self, action: Action) {
        self.faults
            .get_or_create(&ActionLabel {
                action: action.as_str(),
            })
            .inc();
    }

    /// The exposition, with the gauges set from `counts`.
    pub fn render(&self, counts: &Counts) -> Result<String, std::fmt::Error> {
        self.operations_active.set(counts.operations_active);
        self.package_cache_bytes.set(counts.package_cache_bytes);
        for (state, n) in &counts.tasks {
            self.tasks.get_or_create(&StateLabel { state }).set(*n);
        }
        for (status, n) in &counts.operations {
            self.operations
                .get_or_create(&StatusLabel { status })
                .set(*n);
        }
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// What the gauges show, read at scrape time.
#[derive(Debug, Default)]
pub struct Counts {
    pub operations_active: i64,
    pub package_cache_bytes: i64,
    pub tasks: Vec<(&'static str, i64)>,
    pub operations: Vec<(&'static str, i64)>,
}

const TASK_STATES: [&str; 3] = ["active", "dismissed", "resolved"];
const OPERATION_STATUSES: [&str; 6] = [
    "queued",
    "running",
    "succeeded",
    "succeededWithWarnings",
    "failed",
    "aborted",
];

/// Every known value, zero when the database has none, so a series drops to 0 rather than
/// keeping its last value.
fn complete(known: &[&'static str], counted: &[(String, i64)]) -> Vec<(&'static str, i64)> {
    known
        .iter()
        .map(|k| {
            let n = counted.iter().find(|(s, _)| s == k).map_or(0, |(_, n)| *n);
            (*k, n)
        })
        .collect()
}

/// A method as a label: the standard ones by name, anything else as `OTHER`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|m| *m == method.as_str())
        .unwrap_or("OTHER")
}

/// The route a request is counted under: its template, as axum's router matched it or as the
/// app found it before the router (`crate::App`).
pub enum RouteName {
    Matched(MatchedPath),
    Template(Arc<str>),
}

/// The route template; requests that no route matched (the fallbacks) share one label.
fn route_label(route: Option<&RouteName>) -> &str {
    match route {
        Some(RouteName::Matched(matched)) => matched.as_str(),
        Some(RouteName::Template(template)) => template,
        None => "unmatched",
    }
}

/// One series of requests (a method, a route, a status): its counter and its latency histogram,
/// handles onto the values in the families.
struct Series {
    method: &'static str,
    status: u16,
    count: Counter,
    latency: Histogram,
}

impl Series {
    fn observe(&self, seconds: f64) {
        self.count.inc();
        self.latency.observe(seconds);
    }
}

/// The series of one route's requests, found in their families once: a family finds a series by
/// hashing its labels (SipHash over the route's text) and takes a lock, which every request
/// would otherwise pay. Each route's middleware keeps one of these.
#[derive(Default)]
pub struct RouteSeries {
    /// The route's label, and its series by method and status (a handful).
    found: std::sync::Mutex<Option<(String, Vec<Series>)>>,
}

/// A route answers with few statuses; more than this are looked up each time instead of kept.
const SERIES_PER_ROUTE: usize = 32;

impl RouteSeries {
    fn observe(
        &self,
        metrics: &Metrics,
        method: &'static str,
        route: &str,
        status: u16,
        seconds: f64,
    ) {
        let mut found = self
            .found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (label, series) = found.get_or_insert_with(|| (route.to_owned(), Vec::new()));
        if label != route {
            // Not the route this was made for (one middleware serving several templates): the
            // families answer, as they always can.
            drop(found);
            metrics.observe(method, route, status, seconds);
            return;
        }
        if let Some(known) = series
            .iter()
            .find(|s| s.status == status && s.method == method)
        {
            known.observe(seconds);
            return;
        }
        let new = metrics.series(method, route, status);
        new.observe(seconds);
        if series.len() < SERIES_PER_ROUTE {
            series.push(new);
        }
    }
}

/// A request being counted by route and status and timed to its response's head. Taken by
/// `crate::per_request` before the request runs.
pub struct Pending {
    started: Instant,
    method: &'static str,
    route: Option<RouteName>,
}

impl Pending {
    /// A request counted under `template`, or else the route the router matched.
    pub fn begin(request: &Request, template: Option<&Arc<str>>) -> Self {
        let route = match template {
            Some(template) => Some(RouteName::Template(Arc::clone(template))),
            None => request
                .extensions()
                .get::<MatchedPath>()
                .cloned()
                .map(RouteName::Matched),
        };
        Self {
            started: Instant::now(),
            method: method_label(request.method()),
            route,
        }
    }

    /// Counts the answer in its route's series; returns how long it took.
    pub fn finish(
        self,
        metrics: &Metrics,
        series: &RouteSeries,
        response: &Response,
    ) -> std::time::Duration {
        let took = self.started.elapsed();
        series.observe(
            metrics,
            self.method,
            route_label(self.route.as_ref()),
            response.status().as_u16(),
            took.as_secs_f64(),
        );
        took
    }
}

/// Prometheus metrics
///
/// In the OpenMetrics text format: requests by method, route template and status, latency
/// histograms, driver downloads and bytes sent, operations and tasks.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "emulator",
    security(("basicAuth" = [])),
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    ),
)]
pub async fn scrape(State(state): State<AppState>, _: ControlPlaneAdmin) -> Result<Response> {
    let mut r = state.db.reader().await?;
    let tasks = crate::db::tasks::count_by_state(&mut r).await?;
    let operations = crate::db::replications::count_by_status(&mut r).await?;
    drop(r);
    let active = state
        .running_operations
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .len();
    let counts = Counts {
        operations_active: i64::try_from(active).unwrap_or(i64::MAX),
        package_cache_bytes: i64::try_from(state.store.kept_bytes()).unwrap_or(i64::MAX),
        tasks: complete(&TASK_STATES, &tasks),
        operations: complete(&OPERATION_STATUSES, &operations),
    };
    let text = state.metrics.render(&counts).map_err(AppError::internal)?;
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_counters_histograms_and_gauges() {
        let m = Metrics::new();
        let series = RouteSeries::default();
        let route = "/MigrateApi/2019.8/sources/{id}";
        series.observe(&m, "GET", route, 200, 0.003);
        series.observe(&m, "GET", route, 200, 0.2);
        series.observe(&m, "GET", route, 404, 0.001);
        series.observe(&m, "POST", route, 404, 0.001);
        // A template other than the one the series were kept for still counts.
        series.observe(&m, "GET", "/MigrateApi/2019.8/sources", 200, 0.001);
        m.download_started(false);
        m.bytes_sent().inc_by(1234);
        let text = m
            .render(&Counts {
                operations_active: 2,
                package_cache_bytes: 4096,
                tasks: complete(&TASK_STATES, &[("active".into(), 3)]),
                operations: Vec::new(),
            })
            .expect("render");
        for line in [
            r#"psserver_http_requests_total{method="GET",route="/MigrateApi/2019.8/sources/{id}",status="200"} 2"#,
            r#"psserver_http_requests_total{method="GET",route="/MigrateApi/2019.8/sources/{id}",status="404"} 1"#,
            r#"psserver_http_requests_total{method="POST",route="/MigrateApi/2019.8/sources/{id}",status="404"} 1"#,
            r#"psserver_http_requests_total{method="GET",route="/MigrateApi/2019.8/sources",status="200"} 1"#,
            r#"psserver_http_request_duration_seconds_count{method="GET",route="/MigrateApi/2019.8/sources/{id}"} 3"#,
            r#"psserver_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/MigrateApi/2019.8/sources/{id}"} 2"#,
            r#"psserver_driver_downloads_total{kind="full"} 1"#,
            "psserver_driver_download_bytes_sent_total 1234",
            "psserver_operations_active 2",
            "psserver_package_cache_bytes 4096",
            r#"psserver_tasks{state="active"} 3"#,
            r#"psserver_tasks{state="resolved"} 0"#,
            "# EOF",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
    }

    #[test]
    fn labels_stay_bounded() {
        assert_eq!(method_label(&Method::GET), "GET");
        let odd = Method::from_bytes(b"FROBNICATE").expect("method");
        assert_eq!(method_label(&odd), "OTHER");
        assert_eq!(route_label(None), "unmatched");
    }
}
