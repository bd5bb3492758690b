//! `/migrate/events`: everything that happened, newest first, filtered by workload and by kind,
//! paged by keyset (`before`, an event's sequence number), so the last page of ten million
//! events costs what the first does.

use askama::Template;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::dashboard::EventItem;
use super::view::query_value;
use super::{Html, Layout, WebError, WebResult, WebUser};
use crate::db::events::kind as k;
use crate::db::{pages, sources};
use crate::error::AppError;
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;

/// The Kind menu: (query value, label, the event kind it selects).
const KINDS: [(&str, &str, Option<&str>); 8] = [
    ("", "All events", None),
    ("failed", "Failures", Some(k::OPERATION_FAILED)),
    (
        "warnings",
        "Completed with warnings",
        Some(k::OPERATION_COMPLETED_WITH_WARNINGS),
    ),
    ("completed", "Completed", Some(k::OPERATION_COMPLETED)),
    ("started", "Started", Some(k::OPERATION_STARTED)),
    ("aborted", "Aborted", Some(k::OPERATION_ABORTED)),
    ("tasks", "Tasks raised", Some(k::TASK_CREATED)),
    ("reboots", "Reboots", Some(k::REBOOT_DETECTED)),
];

#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    workload: Option<String>,
    kind: Option<String>,
    before: Option<String>,
}

fn bad(message: impl Into<String>) -> WebError {
    AppError::bad_request("InvalidParameter", message).into()
}

pub struct KindOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub struct EventsView {
    pub rows: Vec<EventItem>,
    pub kinds: Vec<KindOption>,
    /// The workload filtered on: its id and host name.
    pub workload: Option<(uuid::Uuid, String)>,
    /// The next (older) page, when there is one.
    pub older: Option<String>,
    /// The first page of the same filters, when this is not it.
    pub newest: Option<String>,
}

async fn load(state: &AppState, q: &EventsQuery) -> WebResult<EventsView> {
    let kind_param = q.kind.as_deref().unwrap_or("");
    let (kind_value, _, kind) = KINDS
        .iter()
        .find(|(v, ..)| *v == kind_param)
        .ok_or_else(|| {
            bad(format!(
                "kind: one of {}",
                KINDS
                    .map(|(v, ..)| if v.is_empty() { "(empty)" } else { v })
                    .join(", ")
            ))
        })?;
    let workload = q
        .workload
        .as_deref()
        .filter(|w| !w.is_empty())
        .map(|w| uuid::Uuid::parse_str(w).map_err(|_| bad("workload: not a workload id")))
        .transpose()?;
    let before = q
        .before
        .as_deref()
        .filter(|b| !b.is_empty())
        .map(|b| {
            b.parse::<i64>()
                .ok()
                .filter(|b| *b > 0)
                .ok_or_else(|| bad("before: an event's sequence number (a positive integer)"))
        })
        .transpose()?;
    let mut r = state.db.reader().await?;
    let workload = match workload {
        Some(id) => Some((id, sources::find(&mut r, id).await?.host_name)),
        None => None,
    };
    // One more than a page: whether an older page exists.
    let mut events = pages::events_page(
        &mut r,
        workload.as_ref().map(|w| w.0),
        *kind,
        before,
        PAGE_SIZE + 1,
    )
    .await?;
    let more = events.len() > PAGE_SIZE as usize;
    events.truncate(PAGE_SIZE as usize);
    let mut ids: Vec<uuid::Uuid> = events.iter().filter_map(|(_, e)| e.source_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let hosts = pages::host_names(&mut r, &ids).await?;
    let mut base = String::from("/migrate/events?");
    if let Some((id, _)) = &workload {
        base.push_str(&format!("workload={id}&"));
    }
    if !kind_value.is_empty() {
        base.push_str(&format!("kind={}&", query_value(kind_value)));
    }
    let older = match (more, events.last()) {
        (true, Some((seq, _))) => Some(format!("{base}before={seq}")),
        _ => None,
    };
    Ok(EventsView {
        rows: events
            .into_iter()
            .map(|(_, e)| EventItem::new(e, &hosts))
            .collect(),
        kinds: KINDS
            .iter()
            .map(|(value, label, _)| KindOption {
                value,
                label,
                selected: value == kind_value,
            })
            .collect(),
        workload,
        older,
        newest: before.map(|_| base.trim_end_matches(['&', '?']).to_owned()),
    })
}

#[derive(Template)]
#[template(path = "pages/events.html")]
struct EventsPage {
    layout: Layout,
    v: EventsView,
}

pub async fn page(
    State(state): State<AppState>,
    WebUser(caller): WebUser,
    Query(q): Query<EventsQuery>,
) -> WebResult<Html<impl Template>> {
    Ok(Html(EventsPage {
        layout: Layout::new("Events", "events", &caller),
        v: load(&state, &q).await?,
    }))
}
