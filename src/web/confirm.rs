//! Irreversible actions ask first, without JavaScript: a form posted without `confirmed=yes`
//! answers this page, which repeats the form's fields with `confirmed=yes` beside a button that
//! says what will happen, and a way back.

use askama::Template;
use axum::response::{IntoResponse, Response};

use super::{Html, Layout};
use crate::auth::Caller;

/// What to ask.
pub struct Confirm {
    /// The page's heading, a question: "Run cutover on WIN-APP01?".
    pub title: String,
    /// What will happen, in full.
    pub what: String,
    /// Where the confirmed form posts.
    pub action: String,
    /// The confirming button's label.
    pub button: String,
    /// The fields of the form to post again (the CSRF token is added).
    pub hidden: Vec<(String, String)>,
    /// Where "Cancel" leads.
    pub back: String,
    /// The section of the navigation the question belongs to (workloads, tasks).
    pub nav: &'static str,
}

#[derive(Template)]
#[template(path = "pages/confirm.html")]
struct ConfirmPage {
    layout: Layout,
    c: Confirm,
}

/// Whether a form's `confirmed` field says yes.
pub fn confirmed(field: Option<&str>) -> bool {
    field == Some("yes")
}

pub fn page(caller: &Caller, c: Confirm) -> Response {
    Html(ConfirmPage {
        layout: Layout::new(c.title.clone(), c.nav, caller),
        c,
    })
    .into_response()
}
