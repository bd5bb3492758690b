//! Driver versions (SPEC 3.1): four dot-separated unsigned integers, ordered numerically part by part.
//!
//! Each part is a `u16`, as in a Windows file version (`VS_FIXEDFILEINFO` holds four 16-bit parts),
//! which is where the block-based transfer drivers' versions come from.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A block-based transfer driver version such as `8.0.0.11`.
///
/// The derived ordering compares the parts left to right, numerically, which is exactly the
/// product's ordering (`8.0.0.11` < `8.0.0.12` < `8.0.1.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DriverVersion([u16; 4]);

/// Why a text is not a driver version. The message names what is wrong, not where it came from:
/// callers add the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("is empty; expected four numbers such as 8.0.0.11")]
    Empty,
    #[error("has {0} parts; expected four numbers separated by dots, such as 8.0.0.11")]
    PartCount(usize),
    #[error("has an empty part; expected four numbers separated by dots, such as 8.0.0.11")]
    EmptyPart,
    #[error("has a part that is not a plain decimal number ({0:?})")]
    NotANumber(String),
    #[error("has a part larger than 65535 ({0})")]
    Overflow(String),
}

impl DriverVersion {
    pub const fn new(a: u16, b: u16, c: u16, d: u16) -> Self {
        Self([a, b, c, d])
    }

    pub const fn parts(self) -> [u16; 4] {
        self.0
    }

    /// The version's text, written without an allocation (every report stores its versions as
    /// text).
    pub fn text(self) -> VersionText {
        let mut text = VersionText {
            bytes: [0; VersionText::MAX],
            len: 0,
        };
        let mut digits = itoa::Buffer::new();
        for (i, part) in self.0.into_iter().enumerate() {
            if i > 0 {
                text.push(b".");
            }
            text.push(digits.format(part).as_bytes());
        }
        text
    }

    /// A text that sorts like the version (five zero-padded digits a part), for SQL `ORDER BY`.
    pub fn sort_key(self) -> String {
        let [a, b, c, d] = self.0;
        format!("{a:05}.{b:05}.{c:05}.{d:05}")
    }
}

impl FromStr for DriverVersion {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // One pass over the bytes: every download parses the version in its URL. A '.' is ASCII,
        // so the pieces between dots are whole UTF-8 text.
        if text.is_empty() {
            return Err(VersionError::Empty);
        }
        let bytes = text.as_bytes();
        let count = bytes.iter().filter(|&&b| b == b'.').count() + 1;
        if count != 4 {
            return Err(VersionError::PartCount(count));
        }
        let mut parts = [0u16; 4];
        let mut start = 0;
        for slot in &mut parts {
            // A plain loop to the next dot: `str::split` searches with memchr, which costs more
            // than it saves on parts of a few digits.
            let len = bytes[start..]
                .iter()
                .position(|&b| b == b'.')
                .unwrap_or(bytes.len() - start);
            *slot = parse_part(&text[start..start + len])?;
            start += len + 1;
        }
        Ok(Self(parts))
    }
}

/// One part: ASCII digits only. `u16::from_str` would accept a leading '+', and we refuse signs,
/// spaces and non-ASCII digits alike.
fn parse_part(piece: &str) -> Result<u16, VersionError> {
    if piece.is_empty() {
        return Err(VersionError::EmptyPart);
    }
    if !piece.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VersionError::NotANumber(piece.to_owned()));
    }
    piece.bytes().try_fold(0u16, |n, digit| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u16::from(digit - b'0')))
            .ok_or_else(|| VersionError::Overflow(piece.to_owned()))
    })
}

/// A version's text on the stack ([`DriverVersion::text`]).
pub struct VersionText {
    bytes: [u8; VersionText::MAX],
    len: usize,
}

impl VersionText {
    /// Four parts of at most five digits, and three dots.
    const MAX: usize = 4 * 5 + 3;

    fn push(&mut self, piece: &[u8]) {
        self.bytes[self.len..self.len + piece.len()].copy_from_slice(piece);
        self.len += piece.len();
    }
}

impl std::ops::Deref for VersionText {
    type Target = str;

    fn deref(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).expect("digits and dots are ASCII")
    }
}

impl fmt::Display for DriverVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every report formats its versions: itoa is a fraction of `write!`'s machinery.
        f.write_str(&self.text())
    }
}

impl Serialize for DriverVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One part as the parser takes it: decimal digits, leading zeros allowed, of value at most
/// 65535 (four digits after the zeros, or five up to 65535).
#[cfg(any(feature = "openapi", test))]
macro_rules! part {
    () => {
        "0*(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
    };
}

/// The OpenAPI document's pattern: exactly the texts [`DriverVersion::from_str`] takes.
#[cfg(any(feature = "openapi", test))]
const PATTERN: &str = concat!(
    "^",
    part!(),
    "\\.",
    part!(),
    "\\.",
    part!(),
    "\\.",
    part!(),
    "$"
);

/// In the OpenAPI document: a string of four dot-separated numbers.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for DriverVersion {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(PATTERN))
            .description(Some(
                "A driver version: four dot-separated numbers (each at most 65535), ordered part by part",
            ))
            .examples(["8.0.0.11"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for DriverVersion {}

impl<'de> Deserialize<'de> for DriverVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse()
            .map_err(|e| serde::de::Error::custom(format!("driver version {text:?} {e}")))
    }
}

#[cfg(test)]
mod tests;
