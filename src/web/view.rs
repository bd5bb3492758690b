//! Small view models shared by the pages: times, sizes, labels and status badges.

use chrono::{DateTime, Utc};

use crate::domain::model::{Operation, TaskKind, TaskState, Warning, WarningCode};
use crate::domain::replication::{MigrationType, OperationStatus, OperationType};

/// A time as the pages show it: machine-readable in `datetime`, readable in the text, in the
/// server's time zone as the product shows its times (platespin-product.md 3.2), with UTC on
/// hover (`utc`, the element's title).
#[derive(Debug, Clone)]
pub struct Time {
    pub iso: String,
    pub text: String,
    pub utc: String,
}

impl Time {
    pub fn new(t: DateTime<Utc>) -> Self {
        Self::in_zone(t, *t.with_timezone(&chrono::Local).offset())
    }

    /// `t` shown at `offset` from UTC: "2026-12-04 14:50:28 UTC+01:00", or "... UTC" at UTC.
    pub fn in_zone(t: DateTime<Utc>, offset: chrono::FixedOffset) -> Self {
        let utc = t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        let text = if offset.local_minus_utc() == 0 {
            utc.clone()
        } else {
            t.with_timezone(&offset)
                .format("%Y-%m-%d %H:%M:%S UTC%:z")
                .to_string()
        };
        Self {
            iso: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            text,
            utc,
        }
    }

    pub fn opt(t: Option<DateTime<Utc>>) -> Option<Self> {
        t.map(Self::new)
    }
}

/// The server's time zone as the pages name it: its name when known (`TZ`, `/etc/timezone`)
/// and its offset now, e.g. "Europe/Berlin (UTC+01:00)", or "UTC".
pub fn time_zone() -> String {
    static NAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let name = NAME.get_or_init(|| {
        std::env::var("TZ")
            .ok()
            .map(|tz| tz.trim_start_matches(':').to_owned())
            .or_else(|| std::fs::read_to_string("/etc/timezone").ok())
            .map(|n| n.trim().to_owned())
            .filter(|n| is_zone_name(n))
    });
    let now = chrono::Local::now();
    let at = if now.offset().local_minus_utc() == 0 {
        "UTC".to_owned()
    } else {
        format!("UTC{}", now.format("%:z"))
    };
    match name.as_deref() {
        Some(n) if n != "UTC" && n != "Etc/UTC" => format!("{n} ({at})"),
        _ => at,
    }
}

/// A zone name such as "Europe/Berlin" (not a path to a file).
fn is_zone_name(n: &str) -> bool {
    !n.starts_with('/') && n.split('/').all(|p| !p.is_empty() && p != "..")
}

/// "1.4 KiB (1,433 bytes)".
pub fn size(bytes: u64) -> String {
    let exact = thousands(bytes);
    if bytes < 1024 {
        return format!("{exact} bytes");
    }
    let units = ["KiB", "MiB", "GiB"];
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({exact} bytes)", units[unit])
}

/// 12345 → "12,345".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A badge: a CSS class for its colour and a text (and an icon character) that say the same
/// without colour.
#[derive(Debug, Clone)]
pub struct Badge {
    pub class: &'static str,
    pub icon: &'static str,
    pub text: String,
    pub title: String,
}

impl Badge {
    pub fn warning(w: &Warning) -> Self {
        match w.code {
            WarningCode::RebootRequired => Self {
                class: "badge-warn",
                icon: "⟳",
                text: "Reboot pending".to_owned(),
                title: w.message.clone(),
            },
            WarningCode::ServerSyncRequired => Self {
                class: "badge-warn",
                icon: "⚠",
                text: "Server-sync required".to_owned(),
                title: w.message.clone(),
            },
            WarningCode::NoDriverPackage => Self {
                class: "badge-warn",
                icon: "⚠",
                text: "No driver package".to_owned(),
                title: w.message.clone(),
            },
        }
    }

    pub fn operation(status: OperationStatus) -> Self {
        let (class, icon) = match status {
            OperationStatus::Queued => ("badge-muted", "…"),
            OperationStatus::Running => ("badge-info", "▶"),
            OperationStatus::Succeeded => ("badge-ok", "✓"),
            OperationStatus::SucceededWithWarnings => ("badge-warn", "⚠"),
            OperationStatus::Failed => ("badge-error", "✗"),
            OperationStatus::Aborted => ("badge-muted", "■"),
        };
        Self {
            class,
            icon,
            text: status.label().to_owned(),
            title: String::new(),
        }
    }

    /// A step of an ended operation that never started.
    pub fn not_run() -> Self {
        Self {
            class: "badge-muted",
            icon: "–",
            text: "Not run".to_owned(),
            title: String::new(),
        }
    }

    pub fn task_state(state: TaskState) -> Self {
        let (class, icon, text) = match state {
            TaskState::Active => ("badge-warn", "●", "Active"),
            TaskState::Dismissed => ("badge-muted", "–", "Dismissed"),
            TaskState::Resolved => ("badge-ok", "✓", "Resolved"),
        };
        Self {
            class,
            icon,
            text: text.to_owned(),
            title: String::new(),
        }
    }
}

pub fn task_kind(kind: TaskKind) -> &'static str {
    match kind {
        // The product's name for it (platespin-product.md 2.3); its message says what is required.
        TaskKind::RebootRequired => "Reboot notification",
        TaskKind::MarkTestSuccess => "Mark Test as Success",
        TaskKind::MarkTestFailure => "Mark Test as Failure",
    }
}

/// An operation type in the product's words ("Test Cutover", never "TestCutover").
pub fn command_name(op: OperationType) -> &'static str {
    match op {
        OperationType::Prepare => "Prepare Migration",
        OperationType::Migrate => "Run Migration",
        OperationType::TestCutover => "Test Cutover",
        OperationType::EndTestCutover => "End Test Cutover",
        OperationType::Cutover => "Run Cutover",
    }
}

pub fn migration(m: MigrationType) -> &'static str {
    match m {
        MigrationType::Full => "Full",
        MigrationType::Incremental => "Incremental",
        MigrationType::ServerSync => "Server-sync",
    }
}

/// "Incremental, performed as Server-sync" / "Full" / "" for operations that copy nothing.
pub fn performed_as(op: &Operation) -> String {
    match (op.migration_type, op.performed_as) {
        (Some(m), Some(p)) if m != p => format!("{}, performed as {}", migration(m), migration(p)),
        (Some(m), _) => migration(m).to_owned(),
        (None, _) => String::new(),
    }
}

pub fn transfer_method(method: Option<&str>) -> String {
    match method {
        Some("BlockBasedWithDriver") => {
            "Block-based, with the driver tracking changed blocks".to_owned()
        }
        Some("BlockBasedWithoutDriver") => {
            "Block-based, without a driver (blocks compared by checksum)".to_owned()
        }
        Some(other) => other.to_owned(),
        None => "—".to_owned(),
    }
}

/// Links to the previous and next page of a list, keeping its filters.
#[derive(Debug, Clone, Default)]
pub struct Pager {
    /// "1–50 of 10,000+"
    pub summary: String,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `base` is the list's URL with its filters and a trailing `?` or `&`.
    pub fn new(base: &str, offset: u32, limit: u32, shown: usize, total: u64, more: bool) -> Self {
        let first = u64::from(offset) + 1;
        let last = u64::from(offset) + shown as u64;
        // A short page is the last one, whatever the (capped) count said.
        let full = shown as u64 == u64::from(limit);
        let summary = if shown == 0 {
            if total == 0 {
                "none".to_owned()
            } else {
                format!(
                    "none here; {}{} in all",
                    thousands(total),
                    if more { "+" } else { "" }
                )
            }
        } else if !full {
            format!(
                "{}–{} of {}",
                thousands(first),
                thousands(last),
                thousands(last.max(total))
            )
        } else if more && last >= total {
            // Past the count's cap: more than we counted, how many more we did not count.
            format!(
                "{}–{} of more than {}",
                thousands(first),
                thousands(last),
                thousands(total)
            )
        } else {
            format!(
                "{}–{} of {}{}",
                thousands(first),
                thousands(last),
                thousands(total),
                if more { "+" } else { "" }
            )
        };
        let has_next = full && (more || last < total);
        Self {
            summary,
            prev: (offset > 0).then(|| format!("{base}offset={}", offset.saturating_sub(limit))),
            next: has_next.then(|| format!("{base}offset={}", offset + limit)),
        }
    }
}

/// Percent-encode a query value.
pub fn query_value(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_the_servers_zone_with_utc_beside() {
        let t = DateTime::parse_from_rfc3339("2026-12-04T13:50:28Z")
            .unwrap()
            .with_timezone(&Utc);
        let utc = Time::in_zone(t, chrono::FixedOffset::east_opt(0).unwrap());
        assert_eq!(utc.text, "2026-12-04 13:50:28 UTC");
        assert_eq!(utc.utc, "2026-12-04 13:50:28 UTC");
        let berlin = Time::in_zone(t, chrono::FixedOffset::east_opt(3600).unwrap());
        assert_eq!(berlin.text, "2026-12-04 14:50:28 UTC+01:00");
        assert_eq!(berlin.utc, "2026-12-04 13:50:28 UTC");
        assert_eq!(berlin.iso, "2026-12-04T13:50:28Z");
        let new_york = Time::in_zone(t, chrono::FixedOffset::west_opt(5 * 3600).unwrap());
        assert_eq!(new_york.text, "2026-12-04 08:50:28 UTC-05:00");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(size(12), "12 bytes");
        assert_eq!(size(2048), "2.0 KiB (2,048 bytes)");
        assert_eq!(size(5 * 1024 * 1024), "5.0 MiB (5,242,880 bytes)");
    }

    #[test]
    fn pager_links() {
        let p = Pager::new("/migrate/tasks?", 0, 50, 50, 120, false);
        assert_eq!(p.summary, "1–50 of 120");
        assert_eq!(p.prev, None);
        assert_eq!(p.next.as_deref(), Some("/migrate/tasks?offset=50"));
        let p = Pager::new("/migrate/tasks?", 100, 50, 20, 120, false);
        assert_eq!(p.next, None);
        assert_eq!(p.prev.as_deref(), Some("/migrate/tasks?offset=50"));
        let p = Pager::new("/x?", 9900, 50, 50, 10_000, true);
        assert_eq!(p.summary, "9,901–9,950 of 10,000+");
        assert!(p.next.is_some());
        let p = Pager::new("/x?", 50_000, 50, 50, 10_000, true);
        assert_eq!(p.summary, "50,001–50,050 of more than 10,000");
        assert!(p.next.is_some());
        let p = Pager::new("/x?", 99_990, 50, 11, 10_000, true);
        assert_eq!(p.summary, "99,991–100,001 of 100,001");
        assert!(p.next.is_none());
        let p = Pager::new("/x?", 0, 50, 50, 50, false);
        assert!(p.next.is_none(), "exactly one full page");
    }
}
