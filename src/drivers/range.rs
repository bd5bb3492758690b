//! Conditional and range requests for package downloads (RFC 9110 §13 and §14), as a pure
//! function of the request's headers and the file's facts.
//!
//! Written here rather than taken from a crate: the common range parsers fold "malformed" and
//! "unsatisfiable" into one error, but RFC 9110 needs them apart (ignore the first, 416 the second).

use chrono::{DateTime, Utc};

/// What the request's headers ask of a representation.
#[derive(Debug, Default, Clone, Copy)]
pub struct Conditions<'a> {
    pub is_get: bool,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
    pub range: Option<&'a str>,
    pub if_range: Option<&'a str>,
}

/// The representation: its strong entity tag (with quotes), length and, if it has a trustworthy
/// one, its modification time. Without a time, the date conditions (If-Modified-Since, a date in
/// If-Range) cannot hold and are ignored (RFC 9110 §13.1.3, §13.1.5).
#[derive(Debug, Clone, Copy)]
pub struct Representation<'a> {
    pub etag: &'a str,
    pub len: u64,
    pub last_modified: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// 304: the client's copy is current.
    NotModified,
    /// 200 with the whole file.
    Full,
    /// 206 with bytes `start..=end`.
    Partial { start: u64, end: u64 },
    /// 416: no byte of the file is in the range.
    Unsatisfiable,
}

pub fn plan(c: Conditions<'_>, r: Representation<'_>) -> Plan {
    // §13.2.2 step 3 and 4: If-None-Match, or If-Modified-Since when there is none.
    if let Some(inm) = c.if_none_match {
        if none_match_matches(inm, r.etag) {
            return Plan::NotModified;
        }
    } else if let Some(ims) = c.if_modified_since.and_then(parse_http_date)
        && let Some(modified) = r.last_modified
        && modified.timestamp() <= ims.timestamp()
    {
        return Plan::NotModified;
    }
    // §14.2: range handling is defined for GET only.
    let Some(range) = c.range.filter(|_| c.is_get) else {
        return Plan::Full;
    };
    // §13.1.5: a range request with a stale validator gets the whole representation.
    if let Some(if_range) = c.if_range
        && !if_range_holds(if_range, r)
    {
        return Plan::Full;
    }
    match parse_single_range(range) {
        // Malformed, other units or several ranges: ignoring the field is allowed (§14.2).
        None => Plan::Full,
        Some(spec) => spec.resolve(r.len),
    }
}

/// One `range-spec` of a `bytes=` Range field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `first-last` (`last` None for `first-`)
    FromTo { first: u64, last: Option<u64> },
    /// `-suffix`
    Suffix(u64),
}

impl RangeSpec {
    fn resolve(self, len: u64) -> Plan {
        match self {
            Self::FromTo { first, last } => {
                if first >= len {
                    return Plan::Unsatisfiable;
                }
                let end = last.map_or(len - 1, |l| l.min(len - 1));
                Plan::Partial { start: first, end }
            }
            Self::Suffix(0) => Plan::Unsatisfiable,
            Self::Suffix(n) => {
                if len == 0 {
                    return Plan::Unsatisfiable;
                }
                Plan::Partial {
                    start: len.saturating_sub(n),
                    end: len - 1,
                }
            }
        }
    }
}

/// Parse a Range field that holds exactly one valid byte range; anything else is `None`.
pub fn parse_single_range(field: &str) -> Option<RangeSpec> {
    let (unit, set) = field.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let spec = specs.next()?;
    if specs.next().is_some() {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return Some(RangeSpec::Suffix(digits(last)?));
    }
    // §14.1.1: a range whose last position is before its first is invalid. Compared as written,
    // before the numbers saturate: `99…9-18446744073709551616` is invalid, not `MAX-MAX`.
    if !last.is_empty() && numerically_less(last, first) {
        return None;
    }
    let first = digits(first)?;
    let last = if last.is_empty() {
        None
    } else {
        Some(digits(last)?)
    };
    Some(RangeSpec::FromTo { first, last })
}

/// Whether the decimal number `a` is less than `b`, however long (non-digits compare as text;
/// `digits` refuses them anyway).
fn numerically_less(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    (a.len(), a) < (b.len(), b)
}

/// 1*DIGIT; a number too big for u64 saturates (it is past the end of any file).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

/// If-None-Match uses the weak comparison (§13.1.2).
fn none_match_matches(field: &str, etag: &str) -> bool {
    let ours = etag.trim_start_matches("W/");
    field
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

/// If-Range holds when it is our strong tag, or exactly our Last-Modified date (§13.1.5).
fn if_range_holds(field: &str, r: Representation<'_>) -> bool {
    let field = field.trim();
    if field.starts_with('"') {
        return field == r.etag;
    }
    if field.starts_with("W/") {
        return false;
    }
    match (parse_http_date(field), r.last_modified) {
        (Some(date), Some(modified)) => date.timestamp() == modified.timestamp(),
        _ => false,
    }
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form a server must send.
pub fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const ETAG: &str = "\"abc123\"";

    fn rep(len: u64) -> Representation<'static> {
        Representation {
            etag: ETAG,
            len,
            last_modified: Some(Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()),
        }
    }

    fn get_range(range: &str) -> Conditions<'_> {
        Conditions {
            is_get: true,
            range: Some(range),
            ..Default::default()
        }
    }

    #[test]
    fn ranges_per_rfc_9110() {
        use Plan::*;
        let cases: &[(&str, Plan)] = &[
            ("bytes=0-99", Partial { start: 0, end: 99 }),
            ("bytes=0-0", Partial { start: 0, end: 0 }),
            ("bytes=0-", Partial { start: 0, end: 999 }),
            (
                "bytes=500-",
                Partial {
                    start: 500,
                    end: 999,
                },
            ),
            (
                "bytes=999-",
                Partial {
                    start: 999,
                    end: 999,
                },
            ),
            (
                "bytes=900-5000",
                Partial {
                    start: 900,
                    end: 999,
                },
            ),
            (
                "bytes=-100",
                Partial {
                    start: 900,
                    end: 999,
                },
            ),
            ("bytes=-5000", Partial { start: 0, end: 999 }),
            ("BYTES = 1-2", Partial { start: 1, end: 2 }),
            (
                "bytes=0-18446744073709551616",
                Partial { start: 0, end: 999 },
            ),
            // unsatisfiable: 416
            ("bytes=1000-", Unsatisfiable),
            ("bytes=1000-2000", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=99999999999999999999999-", Unsatisfiable),
            (
                "bytes=18446744073709551616-18446744073709551616",
                Unsatisfiable,
            ),
            (
                "bytes=0099-00100000000000000000000",
                Partial {
                    start: 99,
                    end: 999,
                },
            ),
            // malformed, several ranges or other units: ignored, 200
            ("bytes=5-1", Full),
            ("bytes=", Full),
            ("bytes", Full),
            ("", Full),
            ("bytes=-", Full),
            ("bytes=a-b", Full),
            ("bytes=1-2-3", Full),
            ("bytes=0-1,5-6", Full),
            ("items=0-1", Full),
            ("bytes=+1-2", Full),
            ("bytes=0x10-", Full),
            // last before first, also where both are beyond u64
            ("bytes=99999999999999999999999-18446744073709551616", Full),
            ("bytes=18446744073709551617-18446744073709551616", Full),
            ("bytes=010-9", Full),
        ];
        for (range, expected) in cases {
            assert_eq!(plan(get_range(range), rep(1000)), *expected, "{range:?}");
        }
    }

    #[test]
    fn empty_file_satisfies_no_range() {
        assert_eq!(plan(get_range("bytes=0-"), rep(0)), Plan::Unsatisfiable);
        assert_eq!(plan(get_range("bytes=-1"), rep(0)), Plan::Unsatisfiable);
    }

    #[test]
    fn head_ignores_range() {
        let c = Conditions {
            is_get: false,
            range: Some("bytes=0-1"),
            ..Default::default()
        };
        assert_eq!(plan(c, rep(10)), Plan::Full);
    }

    #[test]
    fn if_none_match() {
        for (field, expected) in [
            (ETAG, Plan::NotModified),
            ("W/\"abc123\"", Plan::NotModified),
            ("\"zzz\", \"abc123\"", Plan::NotModified),
            ("*", Plan::NotModified),
            ("\"zzz\"", Plan::Full),
        ] {
            let c = Conditions {
                is_get: true,
                if_none_match: Some(field),
                ..Default::default()
            };
            assert_eq!(plan(c, rep(10)), expected, "{field}");
        }
    }

    #[test]
    fn if_modified_since_only_without_if_none_match() {
        let later = "Wed, 25 Nov 2026 13:00:00 GMT";
        let earlier = "Wed, 25 Nov 2026 11:00:00 GMT";
        let c = |inm, ims| Conditions {
            is_get: true,
            if_none_match: inm,
            if_modified_since: Some(ims),
            ..Default::default()
        };
        assert_eq!(plan(c(None, later), rep(10)), Plan::NotModified);
        assert_eq!(plan(c(None, earlier), rep(10)), Plan::Full);
        assert_eq!(plan(c(None, "not a date"), rep(10)), Plan::Full);
        // a failed If-None-Match wins over a matching If-Modified-Since (§13.2.2)
        assert_eq!(plan(c(Some("\"old\""), later), rep(10)), Plan::Full);
    }

    #[test]
    fn if_range() {
        let c = |ir| Conditions {
            is_get: true,
            range: Some("bytes=0-1"),
            if_range: Some(ir),
            ..Default::default()
        };
        assert_eq!(plan(c(ETAG), rep(10)), Plan::Partial { start: 0, end: 1 });
        assert_eq!(plan(c("\"stale\""), rep(10)), Plan::Full);
        assert_eq!(plan(c("W/\"abc123\""), rep(10)), Plan::Full);
        assert_eq!(
            plan(c("Wed, 25 Nov 2026 12:00:00 GMT"), rep(10)),
            Plan::Partial { start: 0, end: 1 }
        );
        assert_eq!(
            plan(c("Wed, 25 Nov 2026 12:00:01 GMT"), rep(10)),
            Plan::Full
        );
    }

    #[test]
    fn without_a_time_date_conditions_are_ignored() {
        let undated = Representation {
            last_modified: None,
            ..rep(10)
        };
        let ims = Conditions {
            is_get: true,
            if_modified_since: Some("Fri, 01 Jan 2100 00:00:00 GMT"),
            ..Default::default()
        };
        assert_eq!(plan(ims, undated), Plan::Full);
        let if_range = Conditions {
            is_get: true,
            range: Some("bytes=0-1"),
            if_range: Some("Wed, 25 Nov 2026 12:00:00 GMT"),
            ..Default::default()
        };
        assert_eq!(plan(if_range, undated), Plan::Full);
    }

    #[test]
    fn http_dates_round_trip() {
        let t = rep(1).last_modified.unwrap();
        assert_eq!(http_date(t), "Wed, 25 Nov 2026 12:00:00 GMT");
        assert_eq!(parse_http_date(&http_date(t)), Some(t));
    }

    proptest::proptest! {
        #[test]
        fn a_partial_plan_is_always_inside_the_file(field in "bytes=[0-9]{0,4}-[0-9]{0,4}", len in 0u64..5000) {
            if let Plan::Partial { start, end } = plan(get_range(&field), rep(len)) {
                proptest::prop_assert!(start <= end && end < len);
            }
        }
    }
}
