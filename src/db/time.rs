//! Times as the database stores them: RFC 3339 UTC text with microseconds
//! (`2026-12-05T08:05:02.123456Z`), which sorts like the time.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};

use crate::error::{AppError, Result};

/// The stored text of `t`.
pub fn ts(t: DateTime<Utc>) -> String {
    match Stored::of(t) {
        Some(text) => text.as_str().to_owned(),
        None => t.to_rfc3339_opts(SecondsFormat::Micros, true),
    }
}

/// [`ts`] with no allocation for the years 0 to 9999 (every agent's report stores its time).
pub fn ts_text(t: DateTime<Utc>) -> TsText {
    TsText(match Stored::of(t) {
        Some(text) => Text::InPlace(text),
        None => Text::Formatted(ts(t)),
    })
}

/// The stored text of a time, from [`ts_text`].
#[derive(Debug, Clone)]
pub struct TsText(Text);

#[derive(Debug, Clone)]
enum Text {
    InPlace(Stored),
    Formatted(String),
}

impl std::ops::Deref for TsText {
    type Target = str;

    fn deref(&self) -> &str {
        match &self.0 {
            Text::InPlace(text) => text.as_str(),
            Text::Formatted(text) => text,
        }
    }
}

/// Read back a stored time; a bad one is a corrupt row, not a client error.
pub fn parse_ts(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| AppError::internal(format!("corrupt time {text:?} in the database: {e}")))
}

/// The text of a time written digit by digit, as chrono writes it (its general formatting costs
/// several times more). Only for the years 0 to 9999 and no leap second: chrono writes the others.
#[derive(Debug, Clone, Copy)]
struct Stored([u8; Stored::LEN]);

impl Stored {
    const LEN: usize = "2026-12-05T08:05:02.123456Z".len();

    fn of(t: DateTime<Utc>) -> Option<Self> {
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let nanos = Some(t.nanosecond()).filter(|n| *n < 1_000_000_000)?;
        let mut text = *b"0000-00-00T00:00:00.000000Z";
        digits(&mut text[0..4], year);
        digits(&mut text[5..7], t.month());
        digits(&mut text[8..10], t.day());
        digits(&mut text[11..13], t.hour());
        digits(&mut text[14..16], t.minute());
        digits(&mut text[17..19], t.second());
        digits(&mut text[20..26], nanos / 1000);
        Some(Self(text))
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("digits and ASCII punctuation")
    }
}

/// Write `n` into `into`, zero-padded to its length (`n` has no more digits than that).
fn digits(into: &mut [u8], mut n: u32) {
    for place in into.iter_mut().rev() {
        *place = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn chrono_text(t: DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    #[test]
    fn the_text_is_chronos_across_the_years() {
        // A prime step in seconds and nanoseconds: every field takes many values.
        let (first, last) = (
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
        );
        let step = chrono::Duration::seconds(7_919_993) + chrono::Duration::nanoseconds(104_729);
        let mut t = first;
        let mut checked = 0;
        while t <= last {
            assert_eq!(ts(t), chrono_text(t));
            assert_eq!(&*ts_text(t), chrono_text(t));
            t += step;
            checked += 1;
        }
        assert!(checked > 30_000, "{checked}");
        let end = last + chrono::Duration::nanoseconds(999_999_999);
        assert_eq!(ts(end), "9999-12-31T23:59:59.999999Z");
    }

    #[test]
    fn years_beyond_four_digits_are_written_by_chrono() {
        for t in [
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 15, 12, 30, 0).unwrap(),
        ] {
            assert_eq!(ts(t), chrono_text(t));
            assert_eq!(&*ts_text(t), chrono_text(t));
        }
    }

    #[test]
    fn a_stored_time_reads_back_to_the_microsecond() {
        let t = Utc.with_ymd_and_hms(2026, 12, 5, 8, 5, 2).unwrap()
            + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(ts(t), "2026-12-05T08:05:02.123456Z");
        let back = parse_ts(&ts(t)).unwrap();
        assert_eq!(back, t - chrono::Duration::nanoseconds(789));
    }
}
