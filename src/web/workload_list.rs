//! `/migrate/workloads`: the product's Workloads page (platespin-product.md 3.2: Tasks, Online,
//! Workload, Target, Tag, Schedule, Status, Last Replication, Next Replication, Last Test
//! Cutover), with search, filters and sorting; the ticked rows go to `workload_bulk`.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use chrono::Utc;
use serde::Deserialize;

use super::view::{Badge, Pager, Time, query_value};
use super::workloads::{OpItem, online};
use super::{Html, Layout, WebError, WebResult, WebUser};
use crate::db::sources::{self, Search, Show, Sort};
use crate::db::{ReadConn, pages, platforms, replications};
use crate::domain::model::Source;
use crate::domain::paging::Page;
use crate::domain::workload::Workload;
use crate::error::AppError;
use crate::service::settings;
use crate::state::AppState;

pub(super) const PAGE_SIZE: u32 = 50;

/// One row of the Workloads page.
pub struct Row {
    pub id: uuid::Uuid,
    pub host: String,
    pub platform: &'static str,
    pub ip: String,
    pub active_tasks: i64,
    pub online: bool,
    pub target: String,
    pub tag: String,
    pub schedule: &'static str,
    pub status: &'static str,
    pub failed: bool,
    pub badges: Vec<Badge>,
    pub last: Option<OpItem>,
    pub next: Option<Time>,
    pub last_test_cutover: Option<Time>,
    pub installed: String,
    pub running: String,
}

/// The Schedule and Next Replication columns, from the contract's Schedule group.
async fn schedule(r: &mut ReadConn, w: &Workload) -> WebResult<(&'static str, Option<Time>)> {
    let (Some(t), Some(facts)) = (&w.transformation, w.facts) else {
        return Ok(("None", None));
    };
    let schedule = settings::current(r, t).await?.schedule;
    Ok((
        schedule.column(facts),
        Time::opt(schedule.next_replication(facts, Utc::now())),
    ))
}

/// Target platform names by id, read once per page.
type Targets = HashMap<uuid::Uuid, String>;

async fn target(r: &mut ReadConn, w: &Workload, cache: &mut Targets) -> WebResult<String> {
    let Some(t) = &w.transformation else {
        return Ok(String::new());
    };
    let Some(id) = t.platform_id else {
        return Ok("Not set".to_owned());
    };
    if let Some(name) = cache.get(&id) {
        return Ok(name.clone());
    }
    let name = match platforms::find(r, id).await {
        Ok(p) => p.display_name(),
        Err(AppError::NotFound(_)) => "(removed platform)".to_owned(),
        Err(e) => return Err(e.into()),
    };
    cache.insert(id, name.clone());
    Ok(name)
}

async fn row(r: &mut ReadConn, s: Source, targets: &mut Targets) -> WebResult<Row> {
    let w = replications::workload(r, s.id).await?;
    let (schedule, next) = schedule(r, &w).await?;
    let last_test_cutover = match &w.transformation {
        Some(t) => Time::opt(replications::last_test_cutover(r, t.id).await?),
        None => None,
    };
    let version = |v: Option<crate::domain::version::DriverVersion>| {
        v.map_or_else(|| "None".to_owned(), |v| v.to_string())
    };
    Ok(Row {
        id: s.id,
        active_tasks: pages::active_task_count(r, s.id).await?,
        online: online(&s),
        target: target(r, &w, targets).await?,
        tag: w
            .transformation
            .as_ref()
            .and_then(|t| t.tags.as_ref())
            .map(|tags| tags.join(", "))
            .unwrap_or_default(),
        schedule,
        next,
        last_test_cutover,
        status: w.status(),
        failed: w.failed(),
        badges: w.to_act_on(&s).iter().map(Badge::warning).collect(),
        last: w.last_replication.as_ref().map(OpItem::new),
        installed: version(s.driver.installed),
        running: version(s.driver.running),
        platform: s.platform.as_str(),
        ip: s.ip_address,
        host: s.host_name,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    show: Option<String>,
    sort: Option<String>,
    offset: Option<String>,
}

fn bad(message: impl Into<String>) -> WebError {
    AppError::bad_request("InvalidParameter", message).into()
}

/// The choices of the Show and Sort menus: (query value, label, what it selects).
const SHOWS: [(&str, &str, Show); 5] = [
    ("all", "All workloads", Show::All),
    ("failed", "Failed", Show::Failed),
    ("reboot-pending", "Reboot pending", Show::RebootPending),
    ("server-sync", "Server-sync required", Show::ServerSync),
    ("running", "Running", Show::Running),
];
const SORTS: [(&str, &str, Sort, bool); 6] = [
    ("added", "Oldest first", Sort::Added, false),
    ("-added", "Newest first", Sort::Added, true),
    ("name", "Workload, A to Z", Sort::Name, false),
    ("-name", "Workload, Z to A", Sort::Name, true),
    (
        "-last",
        "Last replication, latest first",
        Sort::LastReplication,
        true,
    ),
    (
        "last",
        "Last replication, earliest first",
        Sort::LastReplication,
        false,
    ),
];

/// The page's query, parsed; unknown values are a 400 that names the choices.
struct Parsed {
    search: Search,
    q: String,
    show: &'static str,
    sort: &'static str,
    offset: u32,
}

impl Parsed {
    fn new(q: &ListQuery) -> WebResult<Self> {
        let show_param = q.show.as_deref().filter(|s| !s.is_empty()).unwrap_or("all");
        let (show, _, show_value) =
            SHOWS
                .iter()
                .find(|(v, _, _)| *v == show_param)
                .ok_or_else(|| {
                    bad(format!(
                        "show: one of {}",
                        SHOWS.map(|(v, _, _)| v).join(", ")
                    ))
                })?;
        let sort_param = q
            .sort
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("added");
        let (sort, _, sort_value, descending) = SORTS
            .iter()
            .find(|(v, ..)| *v == sort_param)
            .ok_or_else(|| {
                bad(format!(
                    "sort: one of {}",
                    SORTS.map(|(v, ..)| v).join(", ")
                ))
            })?;
        let offset = q
            .offset
            .as_deref()
            .filter(|o| !o.is_empty())
            .map(|o| o.parse::<u32>().map_err(|_| bad("offset: not a number")))
            .transpose()?
            .unwrap_or(0);
        let text = q.q.as_deref().unwrap_or("").trim();
        if text.chars().count() > 255 {
            return Err(bad("q: at most 255 characters"));
        }
        Ok(Self {
            search: Search {
                text: Some(text.to_owned()).filter(|t| !t.is_empty()),
                show: *show_value,
                sort: *sort_value,
                descending: *descending,
            },
            q: text.to_owned(),
            show,
            sort,
            offset,
        })
    }

    /// The query string of the search, ending so that `offset=` can follow.
    fn query(&self) -> String {
        let mut out = String::new();
        if !self.q.is_empty() {
            out.push_str(&format!("q={}&", query_value(&self.q)));
        }
        if self.show != "all" {
            out.push_str(&format!("show={}&", self.show));
        }
        if self.sort != "added" {
            out.push_str(&format!("sort={}&", query_value(self.sort)));
        }
        out
    }
}

pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub struct ListView {
    pub rows: Vec<Row>,
    pub pager: Pager,
    pub live_url: String,
    pub q: String,
    pub shows: Vec<Choice>,
    pub sorts: Vec<Choice>,
    /// Where the bulk actions come back to.
    pub back: String,
    /// The search narrows the list (the empty list says so, with a way back).
    pub filtered: bool,
}

async fn load_list(state: &AppState, p: &Parsed) -> WebResult<ListView> {
    let mut r = state.db.reader().await?;
    let (list, total) = sources::search(
        &mut r,
        &p.search,
        Page {
            offset: p.offset,
            limit: PAGE_SIZE,
        },
    )
    .await?;
    let mut targets = Targets::new();
    let mut rows = Vec::with_capacity(list.len());
    for s in list {
        rows.push(row(&mut r, s, &mut targets).await?);
    }
    let query = p.query();
    Ok(ListView {
        pager: Pager::new(
            &format!("/migrate/workloads?{query}"),
            p.offset,
            PAGE_SIZE,
            rows.len(),
            total.count,
            total.more,
        ),
        live_url: format!("/migrate/live/workloads?{query}offset={}", p.offset),
        back: format!("/migrate/workloads?{query}offset={}", p.offset),
        q: p.q.clone(),
        shows: SHOWS
            .iter()
            .map(|(value, label, _)| Choice {
                value,
                label,
                selected: *value == p.show,
            })
            .collect(),
        sorts: SORTS
            .iter()
            .map(|(value, label, ..)| Choice {
                value,
                label,
                selected: *value == p.sort,
            })
            .collect(),
        filtered: p.search != Search::default(),
        rows,
    })
}

#[derive(Template)]
#[template(path = "pages/workloads.html")]
struct ListPage {
    layout: Layout,
    v: ListView,
}

#[derive(Template)]
#[template(path = "partials/workload_rows.html")]
struct ListLive {
    v: ListView,
}

pub async fn list(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Query(q): Query<ListQuery>,
) -> WebResult<Html<impl Template>> {
    let p = Parsed::new(&q)?;
    Ok(Html(ListPage {
        layout: Layout::new("Workloads", "workloads", &caller),
        v: load_list(&state, &p).await?,
    }))
}

pub async fn live_list(
    State(state): State<AppState>,
    _: WebUser,
    Query(q): Query<ListQuery>,
) -> WebResult<Html<impl Template>> {
    let p = Parsed::new(&q)?;
    Ok(Html(ListLive {
        v: load_list(&state, &p).await?,
    }))
}
