//! `/migrate/tasks`: what needs an operator, newest first; filters by state and workload; Dismiss.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::confirm::{self, Confirm};
use super::dashboard::TaskItem;
use super::view::{Pager, query_value};
use super::{Html, Layout, WebError, WebResult, WebUser, csrf, page_id};
use crate::db::pages;
use crate::domain::model::TaskState;
use crate::domain::paging::Page;
use crate::error::AppError;
use crate::service::tasks;
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct TasksQuery {
    state: Option<String>,
    workload: Option<String>,
    offset: Option<String>,
}

/// The list's filters, read from the query string. Default: the active tasks of every workload.
struct Filters {
    /// "active", "dismissed", "resolved" or "all".
    state_param: String,
    state: Option<TaskState>,
    workload: Option<uuid::Uuid>,
    offset: u32,
}

fn bad(message: String) -> WebError {
    AppError::bad_request("InvalidParameter", message).into()
}

impl Filters {
    fn parse(q: &TasksQuery) -> WebResult<Self> {
        let state_param = q
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("active");
        let state = match state_param {
            "all" => None,
            s => Some(
                s.parse::<TaskState>()
                    .map_err(|e| bad(format!("state: {e} or all")))?,
            ),
        };
        let workload = q
            .workload
            .as_deref()
            .filter(|w| !w.is_empty())
            .map(|w| {
                uuid::Uuid::parse_str(w).map_err(|_| bad("workload: not a workload id".to_owned()))
            })
            .transpose()?;
        let offset = q
            .offset
            .as_deref()
            .filter(|o| !o.is_empty())
            .map(|o| {
                o.parse::<u32>()
                    .map_err(|_| bad("offset: not a number".to_owned()))
            })
            .transpose()?
            .unwrap_or(0);
        Ok(Self {
            state_param: state_param.to_owned(),
            state,
            workload,
            offset,
        })
    }

    /// The query string of these filters, ending so that `offset=` can follow.
    fn query(&self) -> String {
        let mut q = format!("state={}&", query_value(&self.state_param));
        if let Some(w) = self.workload {
            q.push_str(&format!("workload={w}&"));
        }
        q
    }
}

pub struct FilterOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct TasksView {
    pub rows: Vec<TaskItem>,
    pub pager: Pager,
    pub states: Vec<FilterOption>,
    pub workloads: Vec<FilterOption>,
    pub live_url: String,
    /// Where Dismiss comes back to.
    pub back: String,
}

async fn load(state: &AppState, f: &Filters) -> WebResult<TasksView> {
    let page = Page {
        offset: f.offset,
        limit: PAGE_SIZE,
    };
    let (rows, total) =
        pages::tasks(&mut state.db.reader().await?, f.state, f.workload, page).await?;
    let query = f.query();
    let pager = Pager::new(
        &format!("/migrate/tasks?{query}"),
        f.offset,
        PAGE_SIZE,
        rows.len(),
        total.count,
        total.more,
    );
    let states = [
        ("active", "Active"),
        ("all", "All"),
        ("dismissed", "Dismissed"),
        ("resolved", "Resolved"),
    ]
    .into_iter()
    .map(|(value, label)| FilterOption {
        value: value.to_owned(),
        label: label.to_owned(),
        selected: value == f.state_param,
    })
    .collect();
    let mut workloads = vec![FilterOption {
        value: String::new(),
        label: "All workloads".to_owned(),
        selected: f.workload.is_none(),
    }];
    workloads.extend(
        pages::workload_names(&mut state.db.reader().await?)
            .await?
            .into_iter()
            .map(|(id, host)| FilterOption {
                selected: Some(id) == f.workload,
                value: id.to_string(),
                label: host,
            }),
    );
    Ok(TasksView {
        rows: rows.into_iter().map(TaskItem::new).collect(),
        pager,
        states,
        workloads,
        live_url: format!("/migrate/live/tasks?{query}offset={}", f.offset),
        back: format!("/migrate/tasks?{query}offset={}", f.offset),
    })
}

#[derive(Template)]
#[template(path = "pages/tasks.html")]
struct TasksPage {
    layout: Layout,
    v: TasksView,
}

#[derive(Template)]
#[template(path = "partials/task_list.html")]
struct TasksLive {
    layout: Layout,
    v: TasksView,
}

pub async fn page(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Query(q): Query<TasksQuery>,
) -> WebResult<Html<impl Template>> {
    let f = Filters::parse(&q)?;
    Ok(Html(TasksPage {
        layout: Layout::new("Tasks", "tasks", &caller),
        v: load(&state, &f).await?,
    }))
}

pub async fn live(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Query(q): Query<TasksQuery>,
) -> WebResult<Html<impl Template>> {
    let f = Filters::parse(&q)?;
    Ok(Html(TasksLive {
        layout: Layout::new("Tasks", "tasks", &caller),
        v: load(&state, &f).await?,
    }))
}

#[derive(Debug, Deserialize)]
pub struct DismissForm {
    csrf: Option<String>,
    back: Option<String>,
    confirmed: Option<String>,
}

/// A place on our own pages to return to; anything else goes to the Tasks page.
pub(super) fn back_to(back: Option<&str>) -> String {
    match back {
        Some(b)
            if b.starts_with("/migrate/")
                && !b.starts_with("//")
                && !b.contains(['\\', '\r', '\n']) =>
        {
            b.to_owned()
        }
        _ => "/migrate/tasks".to_owned(),
    }
}

/// Execute a Mark Test as Success / Failure task: record the result and end the test cutover
/// (SPEC 9 Tasks), through the same use case as the API's `?operation=Execute`.
pub async fn execute(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<axum::Form<DismissForm>, FormRejection>,
) -> WebResult<Redirect> {
    let form = csrf::accept(state.config.serves_tls(), &headers, &caller.user, form)?;
    let id = page_id(&id, "task")?;
    let op = tasks::execute(&state, &caller, id).await?;
    tracing::info!(task = %id, operation = %op.id, by = %caller.user, "task executed from the Tasks page");
    Ok(Redirect::to(&back_to(form.back.as_deref())))
}

pub async fn dismiss(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<axum::Form<DismissForm>, FormRejection>,
) -> WebResult<Response> {
    let form = csrf::accept(state.config.serves_tls(), &headers, &caller.user, form)?;
    let id = page_id(&id, "task")?;
    // An active task asks first; any other goes on to the use case, which says why not.
    let row = pages::task(&mut state.db.reader().await?, id).await?;
    if row.task.state == TaskState::Active && !confirm::confirmed(form.confirmed.as_deref()) {
        let item = TaskItem::new(row);
        let back = back_to(form.back.as_deref());
        return Ok(confirm::page(
            &caller,
            Confirm {
                title: format!("Dismiss the {} of {}?", item.kind.to_lowercase(), item.host),
                what: format!(
                    "The task leaves the active tasks for good: {} Dismissing it does not do what it asks.",
                    item.message
                ),
                action: format!("/migrate/tasks/{id}/dismiss"),
                button: "Dismiss".to_owned(),
                hidden: vec![("back".to_owned(), back.clone())],
                back,
                nav: "tasks",
            },
        ));
    }
    let task = tasks::dismiss(&state.db, &caller, id).await?;
    tracing::info!(task = %task.id, by = %caller.user, "task dismissed from the Tasks page");
    Ok(Redirect::to(&back_to(form.back.as_deref())).into_response())
}

impl csrf::Posted for DismissForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}
