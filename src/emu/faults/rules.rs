//! Fault rules: what a client sends, how it is checked, and how a request meets the rules in
//! force (path patterns, seeded draws, expiry and hit limits).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppError, Result};

/// At most this many rules at once: memory stays bounded whatever a script does.
pub const MAX_RULES: usize = 256;
const MAX_DELAY_MS: u64 = 600_000;
const MAX_EXPIRY_SECONDS: f64 = 7.0 * 86_400.0;
const MAX_PATTERN: usize = 1024;
const MAX_MESSAGE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Answer `status` with the standard error body.
    #[default]
    Error,
    /// Wait `delayMs`, then pass the request on.
    Delay,
    /// Close the connection without a response.
    Drop,
    /// Pass the request on, but end the response body with an error after `truncateAfterBytes`.
    Truncate,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Delay => "delay",
            Self::Drop => "drop",
            Self::Truncate => "truncate",
        }
    }
}

/// A fault rule as a client sends it: only `path` is required.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSpec {
    /// `GET`, `POST`, ...; left out (or `*`): any method.
    #[schema(examples("GET"))]
    pub method: Option<String>,
    /// The request path; `*` stands for any run of characters, `/` included. Required.
    #[schema(examples("/MigrateApi/2019.8/sources*"), required = true)]
    pub path: Option<String>,
    /// 0 to 1; default 1.
    #[schema(minimum = 0, maximum = 1)]
    pub probability: Option<f64>,
    /// Default `error`.
    pub action: Option<Action>,
    /// `error` only: the status to answer, 400-599; default 503.
    #[schema(minimum = 400, maximum = 599)]
    pub status: Option<u16>,
    /// `error` only: the body's `code`; default the status's name (`ServiceUnavailable`).
    #[schema(pattern = "^[A-Za-z0-9_.]{1,64}$")]
    pub error_code: Option<String>,
    /// `error` only: the body's `message`.
    #[schema(max_length = 1024)]
    pub message: Option<String>,
    /// Wait this long before the action (at most 600000); `delay` needs it.
    #[schema(minimum = 0, maximum = 600000)]
    pub delay_ms: Option<u64>,
    /// `truncate` only (and needed there): the bytes of the body sent before it fails.
    pub truncate_after_bytes: Option<u64>,
    /// The rule disappears after this long (at most 7 days).
    #[schema(exclusive_minimum = 0, maximum = 604800)]
    pub expires_in_seconds: Option<f64>,
    /// The rule stops firing after this many hits.
    #[schema(minimum = 1)]
    pub times: Option<u64>,
    /// The seed of the rule's generator: the same seed gives the same sequence of hits.
    pub seed: Option<u64>,
}

/// A fault rule as the list shows it: what it does, and how often it matched and fired.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleView {
    pub id: Uuid,
    /// None: any method.
    pub method: Option<String>,
    pub path: String,
    pub probability: f64,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub delay_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncate_after_bytes: Option<u64>,
    pub times: Option<u64>,
    /// The generator's seed: given, or chosen at random and shown so a run can be repeated.
    pub seed: u64,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Requests that matched the method and path while the rule was active.
    pub matched: u64,
    /// Faults injected.
    pub hits: u64,
    /// False once `times` faults were injected.
    pub active: bool,
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::bad_request("InvalidFault", message)
}

/// `Service Unavailable` → `ServiceUnavailable`: the code an injected error carries by default.
fn default_code(status: StatusCode) -> String {
    status.canonical_reason().map_or_else(
        || "InjectedFault".to_owned(),
        |r| r.chars().filter(char::is_ascii_alphanumeric).collect(),
    )
}

impl RuleSpec {
    /// Check a rule and fill in its defaults.
    pub fn validate(self) -> Result<RuleView> {
        let path = self.path.ok_or_else(|| {
            invalid("path is required: a path pattern such as /MigrateApi/2019.8/sources*")
        })?;
        if !path.starts_with('/') && !path.starts_with('*') {
            return Err(invalid(format!(
                "path {:?} must start with / (or *)",
                crate::api::extract::truncate(&path)
            )));
        }
        if path.len() > MAX_PATTERN {
            return Err(invalid(format!(
                "path is longer than {MAX_PATTERN} characters"
            )));
        }
        if path.starts_with("/_emu") || path.starts_with("/metrics") {
            return Err(invalid(
                "faults never apply to the control plane (/_emu) or /metrics",
            ));
        }
        let method = match self.method.as_deref().map(str::trim) {
            None | Some("" | "*") => None,
            Some(m) => {
                let upper = m.to_ascii_uppercase();
                if upper.len() > 20 || Method::from_bytes(upper.as_bytes()).is_err() {
                    return Err(invalid(format!(
                        "method {:?} is not an HTTP method",
                        crate::api::extract::truncate(m)
                    )));
                }
                Some(upper)
            }
        };
        let probability = self.probability.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&probability) {
            return Err(invalid("probability must be between 0 and 1"));
        }
        let action = self.action.unwrap_or_default();
        let only_for = |given: bool, field: &str, wanted: Action| {
            if given && action != wanted {
                Err(invalid(format!(
                    "{field} applies only to action {:?}, not {:?}",
                    wanted.as_str(),
                    action.as_str()
                )))
            } else {
                Ok(())
            }
        };
        only_for(self.status.is_some(), "status", Action::Error)?;
        only_for(self.error_code.is_some(), "errorCode", Action::Error)?;
        only_for(self.message.is_some(), "message", Action::Error)?;
        only_for(
            self.truncate_after_bytes.is_some(),
            "truncateAfterBytes",
            Action::Truncate,
        )?;
        let (mut status, mut error_code) = (None, None);
        if action == Action::Error {
            let code = self.status.unwrap_or(503);
            let s = StatusCode::from_u16(code)
                .ok()
                .filter(|s| s.is_client_error() || s.is_server_error())
                .ok_or_else(|| {
                    invalid(format!("status {code} is not an error status (400-599)"))
                })?;
            status = Some(code);
            let text = self.error_code.unwrap_or_else(|| default_code(s));
            if text.is_empty()
                || text.len() > 64
                || !text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                return Err(invalid(
                    "errorCode must be 1 to 64 letters, digits, dots or underscores",
                ));
            }
            error_code = Some(text);
        }
        if self.message.as_ref().is_some_and(|m| m.len() > MAX_MESSAGE) {
            return Err(invalid(format!(
                "message is longer than {MAX_MESSAGE} characters"
            )));
        }
        let delay_ms = self.delay_ms.unwrap_or(0);
        if delay_ms > MAX_DELAY_MS {
            return Err(invalid(format!("delayMs must be at most {MAX_DELAY_MS}")));
        }
        if action == Action::Delay && delay_ms == 0 {
            return Err(invalid("action \"delay\" needs delayMs greater than 0"));
        }
        if action == Action::Truncate && self.truncate_after_bytes.is_none() {
            return Err(invalid(
                "action \"truncate\" needs truncateAfterBytes: how many bytes of the body to send",
            ));
        }
        let now = Utc::now();
        let expires_at = match self.expires_in_seconds {
            None => None,
            Some(s) if s > 0.0 && s <= MAX_EXPIRY_SECONDS => {
                Some(now + chrono::Duration::milliseconds((s * 1000.0) as i64))
            }
            Some(_) => {
                return Err(invalid(format!(
                    "expiresInSeconds must be greater than 0 and at most {MAX_EXPIRY_SECONDS}"
                )));
            }
        };
        if self.times == Some(0) {
            return Err(invalid("times must be at least 1"));
        }
        Ok(RuleView {
            id: Uuid::new_v4(),
            method,
            path,
            probability,
            action,
            status,
            error_code,
            message: self.message,
            delay_ms,
            truncate_after_bytes: self.truncate_after_bytes,
            times: self.times,
            seed: self.seed.unwrap_or_else(|| Uuid::new_v4().as_u64_pair().0),
            created_at: now,
            expires_at,
            matched: 0,
            hits: 0,
            active: true,
        })
    }
}

/// Does `path` match `pattern`, where `*` stands for any run of characters (`/` included)?
/// Linear in practice: on a mismatch only the last star backtracks.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), path.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// SplitMix64 (Steele, Lea and Flood, 2014): tiny, fast and fully determined by its seed, which
/// is all a reproducible fault sequence needs.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Rule {
    view: RuleView,
    expires: Option<Instant>,
    rng: SplitMix64,
}

/// What to do to one request.
#[derive(Debug, Clone)]
pub struct Fault {
    pub rule: Uuid,
    pub action: Action,
    pub delay: Duration,
    pub status: StatusCode,
    pub error_code: String,
    pub message: Option<String>,
    pub truncate_after: u64,
}

/// The rules in force.
#[derive(Default)]
pub struct Faults {
    rules: Mutex<Vec<Rule>>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Rule>> {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drop expired rules (they are gone for good).
    fn purge(rules: &mut Vec<Rule>, now: Instant) {
        rules.retain(|r| r.expires.is_none_or(|e| now < e));
    }

    pub fn add(&self, view: RuleView) -> Result<RuleView> {
        let now = Instant::now();
        let expires = view
            .expires_at
            .and_then(|at| (at - view.created_at).to_std().ok())
            .map(|d| now + d);
        let mut rules = self.lock();
        Self::purge(&mut rules, now);
        if rules.len() >= MAX_RULES {
            // Make room from rules that are used up before refusing.
            rules.retain(|r| r.view.active);
        }
        if rules.len() >= MAX_RULES {
            return Err(AppError::conflict(
                "TooManyFaults",
                format!("there are already {MAX_RULES} fault rules; remove some first"),
            ));
        }
        rules.push(Rule {
            rng: SplitMix64::new(view.seed),
            view: view.clone(),
            expires,
        });
        Ok(view)
    }

    pub fn list(&self) -> Vec<RuleView> {
        let mut rules = self.lock();
        Self::purge(&mut rules, Instant::now());
        rules.iter().map(|r| r.view.clone()).collect()
    }

    pub fn remove(&self, id: Uuid) -> Option<RuleView> {
        let mut rules = self.lock();
        let at = rules.iter().position(|r| r.view.id == id)?;
        Some(rules.remove(at).view)
    }

    pub fn clear(&self) -> usize {
        let mut rules = self.lock();
        let n = rules.len();
        rules.clear();
        n
    }

    /// Decide the fate of one request: the first active rule that matches and draws a hit.
    pub fn decide(&self, method: &Method, path: &str) -> Option<Fault> {
        let mut rules = self.lock();
        if rules.is_empty() {
            return None;
        }
        Self::purge(&mut rules, Instant::now());
        for rule in rules.iter_mut() {
            let v = &mut rule.view;
            if !v.active
                || v.method.as_deref().is_some_and(|m| m != method.as_str())
                || !glob_match(&v.path, path)
            {
                continue;
            }
            v.matched += 1;
            if rule.rng.next_f64() >= v.probability {
                continue;
            }
            v.hits += 1;
            if v.times.is_some_and(|t| v.hits >= t) {
                v.active = false;
            }
            let status = v
                .status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return Some(Fault {
                rule: v.id,
                action: v.action,
                delay: Duration::from_millis(v.delay_ms),
                status,
                error_code: v.error_code.clone().unwrap_or_default(),
                message: v.message.clone(),
                truncate_after: v.truncate_after_bytes.unwrap_or(0),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_runs_of_any_characters() {
        let cases = [
            (
                "/MigrateApi/2019.8/sources*",
                "/MigrateApi/2019.8/sources",
                true,
            ),
            (
                "/MigrateApi/2019.8/sources*",
                "/MigrateApi/2019.8/sources/x/y",
                true,
            ),
            (
                "/MigrateApi/2019.8/sources*",
                "/MigrateApi/2019.8/source",
                false,
            ),
            ("/MigrateApi/*/sources", "/MigrateApi/2019.5/sources", true),
            (
                "*/content",
                "/MigrateApi/2019.8/driverPackages/abc/content",
                true,
            ),
            (
                "*/content",
                "/MigrateApi/2019.8/driverPackages/abc/contents",
                false,
            ),
            ("/a*b*c", "/aXXbYYbZc", true),
            ("/a*b*c", "/aXXbYYbZ", false),
            ("*", "/anything", true),
            ("/exact", "/exact", true),
            ("/exact", "/exact/", false),
            ("/**", "/", true),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(glob_match(pattern, path), want, "{pattern} ~ {path}");
        }
    }

    #[test]
    fn a_seed_fixes_the_sequence() {
        let draw = |seed| {
            let mut r = SplitMix64::new(seed);
            (0..100).map(|_| r.next_f64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
        assert!(draw(7).iter().all(|x| (0.0..1.0).contains(x)));
        // The published first output of SplitMix64 seeded with 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn rules_are_checked() {
        let bad = [
            RuleSpec::default(),
            RuleSpec {
                path: Some("sources".into()),
                ..RuleSpec::default()
            },
            RuleSpec {
                path: Some("/_emu/faults".into()),
                ..RuleSpec::default()
            },
            RuleSpec {
                path: Some("/x".into()),
                probability: Some(1.5),
                ..RuleSpec::default()
            },
            RuleSpec {
                path: Some("/x".into()),
                status: Some(200),
                ..RuleSpec::default()
            },
            RuleSpec {
                path: Some("/x".into()),
                action: Some(Action::Delay),
                ..RuleSpec::default()
            },
            RuleSpec {
                path: Some("/x".into()),
                action: Some(Action::Truncate),
                ..RuleSpec::default()
            },
            RuleSpec {
                path: Some("/x".into()),
                action: Some(Action::Drop),
                status: Some(500),
                ..RuleSpec::default()
            },
            RuleSpec {
                path: Some("/x".into()),
                method: Some("GE T".into()),
                ..RuleSpec::default()
            },
            RuleSpec {
                path: Some("/x".into()),
                expires_in_seconds: Some(0.0),
                ..RuleSpec::default()
            },
            RuleSpec {
                path: Some("/x".into()),
                times: Some(0),
                ..RuleSpec::default()
            },
        ];
        for spec in bad {
            let text = format!("{spec:?}");
            let err = spec.validate().expect_err(&text);
            assert_eq!(err.code(), "InvalidFault", "{text}");
        }
        let ok = RuleSpec {
            path: Some("/x*".into()),
            method: Some("get".into()),
            ..RuleSpec::default()
        }
        .validate()
        .expect("valid");
        assert_eq!(ok.method.as_deref(), Some("GET"));
        assert_eq!(ok.status, Some(503));
        assert_eq!(ok.error_code.as_deref(), Some("ServiceUnavailable"));
    }

    #[test]
    fn times_end_a_rule_and_expiry_removes_it() {
        let faults = Faults::default();
        let rule = RuleSpec {
            path: Some("/x".into()),
            times: Some(2),
            ..RuleSpec::default()
        }
        .validate()
        .expect("valid");
        faults.add(rule).expect("added");
        let hits = (0..4)
            .filter(|_| faults.decide(&Method::GET, "/x").is_some())
            .count();
        assert_eq!(hits, 2);
        let listed = faults.list();
        assert_eq!((listed[0].hits, listed[0].active), (2, false));
        let mut expiring = RuleSpec {
            path: Some("/y".into()),
            expires_in_seconds: Some(60.0),
            ..RuleSpec::default()
        }
        .validate()
        .expect("valid");
        // Pretend it was made a minute ago.
        expiring.created_at += chrono::Duration::seconds(60);
        faults.add(expiring).expect("added");
        assert!(faults.decide(&Method::GET, "/y").is_none());
        assert_eq!(faults.list().len(), 1);
    }
}
