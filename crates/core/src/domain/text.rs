//! Names people give (host names, display names, tags): what they may hold. A name must read as
//! what it is: no control characters, and none of the invisible or direction-changing ones that
//! make a name look blank or like another (issue 20 D4: U+202E, U+200B, U+00AD, U+FEFF).

/// Characters that draw nothing or reorder what is drawn: Unicode's format characters (the
/// soft hyphen, zero-width spaces and joiners, bidirectional marks, embeddings, overrides and
/// isolates, invisible operators, the byte-order mark, interlinear annotation marks) and the
/// fillers that render blank. Inclusive ranges; [`name_pattern`] writes them into the OpenAPI
/// document.
const INVISIBLE: [(char, char); 16] = [
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E007F}'),
];

/// Unicode's control characters (`char::is_control`: Cc), for [`name_pattern`].
const CONTROLS: [(char, char); 2] = [('\u{0000}', '\u{001F}'), ('\u{007F}', '\u{009F}')];

/// Whether `c` is one of the invisible characters above.
pub fn is_invisible(c: char) -> bool {
    INVISIBLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// The characters `char::is_whitespace` takes (Unicode's White_Space), which a name's
/// surrounding blanks are trimmed of.
const WHITESPACE: [(char, char); 10] = [
    ('\u{0009}', '\u{000D}'),
    (' ', ' '),
    ('\u{0085}', '\u{0085}'),
    ('\u{00A0}', '\u{00A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
];

/// The OpenAPI pattern of a name of 1 to `max` (at least 2) characters: exactly the texts
/// [`check_name`] takes. Its classes hold the characters themselves, not escapes, so that every
/// regular-expression engine (ECMA's without its `u` flag, Python's, Rust's) reads the same
/// code points.
pub fn name_pattern(max: usize) -> String {
    let class = |ranges: &[(char, char)]| {
        let mut out = String::new();
        for &(lo, hi) in ranges {
            out.push(lo);
            if hi != lo {
                out.push('-');
                out.push(hi);
            }
        }
        out
    };
    let blank = class(&WHITESPACE);
    let forbidden = class(&INVISIBLE) + &class(&CONTROLS);
    format!(
        "^[{blank}]*[^{forbidden}{blank}](?:[^{forbidden}]{{0,{inner}}}[^{forbidden}{blank}])?[{blank}]*$",
        inner = max.saturating_sub(2)
    )
}

/// OpenAPI schemas of names, for `#[schema(schema_with = ...)]`: a string [`name_pattern`]
/// describes, nullable where the member may be null.
#[cfg(feature = "openapi")]
pub mod schema {
    use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, SchemaType, Type};

    fn name(max: usize, nullable: bool) -> Object {
        let kind = if nullable {
            SchemaType::from_iter([Type::String, Type::Null])
        } else {
            SchemaType::Type(Type::String)
        };
        ObjectBuilder::new()
            .schema_type(kind)
            .pattern(Some(super::name_pattern(max)))
            .description(Some(format!(
                "1 to {max} characters once surrounding blanks are dropped, without control or \
                 invisible characters"
            )))
            .build()
    }

    pub fn name_255() -> Object {
        name(255, false)
    }
    pub fn name_255_or_null() -> Object {
        name(255, true)
    }
    pub fn name_256() -> Object {
        name(256, false)
    }
    pub fn name_128() -> Object {
        name(128, false)
    }

    /// A transformation's tags: at most 20 names of 1 to 64 characters, or null.
    pub fn tags_or_null() -> utoipa::openapi::schema::Array {
        ArrayBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            .items(name(64, false))
            .max_items(Some(20))
            .description(Some("At most 20 tags; null or left out for none"))
            .build()
    }
}

/// A name of 1 to `max` characters, surrounding blanks dropped, without control or invisible
/// characters; the reason when it is not one.
pub fn check_name(text: &str, max: usize) -> Result<&str, String> {
    let name = text.trim();
    if name.is_empty() {
        return Err(format!("must be 1 to {max} characters"));
    }
    if name.chars().count() > max {
        return Err(format!(
            "must be 1 to {max} characters, not {}",
            name.chars().count()
        ));
    }
    if let Some(c) = name.chars().find(|&c| c.is_control() || is_invisible(c)) {
        return Err(format!(
            "must be 1 to {max} characters without control or invisible ones (U+{:04X} is one)",
            c as u32
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI pattern takes exactly the names `check_name` takes (issue 20 D2): every
    /// boundary character (blanks, controls, invisible ones) at the ends and inside, and lengths
    /// around the limit.
    #[test]
    fn the_name_pattern_agrees_with_check_name() {
        let pattern = regex::Regex::new(&name_pattern(5)).expect("a valid pattern");
        let mut probes: Vec<char> = vec!['a', 'Z', '0', '.', '-', '^', ']', '\\', 'é', '中', '🙂'];
        for &(lo, hi) in INVISIBLE.iter().chain(&CONTROLS).chain(&WHITESPACE) {
            for c in [lo, hi] {
                probes.push(c);
                for near in [u32::from(c).wrapping_sub(1), u32::from(c) + 1] {
                    probes.extend(char::from_u32(near));
                }
            }
        }
        let mut texts = vec![String::new()];
        for &c in &probes {
            for text in [
                format!("{c}"),
                format!("ab{c}"),
                format!("{c}ab"),
                format!("a{c}b"),
                format!(" a{c}"),
                format!("{c}{c}{c}{c}{c}"),
                format!("abcd{c}"),
                format!("abcde{c}"),
            ] {
                texts.push(text);
            }
        }
        for text in texts {
            assert_eq!(
                pattern.is_match(&text),
                check_name(&text, 5).is_ok(),
                "{:?}",
                text
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn the_name_pattern_agrees_with_check_name_on_any_text(text in "\\PC{0,8}|[\\s\\x00-\\x1f\\u{200b}-\\u{200f}a-c]{0,8}") {
            let pattern = regex::Regex::new(&name_pattern(6)).expect("a valid pattern");
            proptest::prop_assert_eq!(pattern.is_match(&text), check_name(&text, 6).is_ok(), "{:?}", text);
        }
    }

    #[test]
    fn names_that_read_as_what_they_are() {
        assert_eq!(check_name("  web-01 ", 255), Ok("web-01"));
        assert_eq!(check_name("Büro-Server 2", 255), Ok("Büro-Server 2"));
        assert_eq!(check_name("サーバー", 255), Ok("サーバー"));
        for bad in [
            "",
            "   ",
            "web\u{7}01",
            "web\n01",
            "web\u{202E}10-bew",
            "web\u{200B}01",
            "web\u{00AD}01",
            "\u{FEFF}",
            "\u{FEFF}\u{FEFF}",
            "\u{2066}web\u{2069}",
            "\u{3164}",
            "web\u{E0041}",
        ] {
            assert!(check_name(bad, 255).is_err(), "{bad:?}");
        }
        let err = check_name("a\u{202E}b", 255).unwrap_err();
        assert!(err.contains("U+202E"), "{err}");
        assert!(check_name(&"x".repeat(255), 255).is_ok());
        assert!(check_name(&"x".repeat(256), 255).is_err());
    }

    #[test]
    fn every_invisible_range_is_refused_and_its_neighbours_kept() {
        for c in [
            '\u{200B}', '\u{200F}', '\u{202A}', '\u{2060}', '\u{206F}', '\u{FE0F}',
        ] {
            assert!(is_invisible(c), "{:04X}", c as u32);
        }
        for c in ['\u{200A}', '\u{2010}', '\u{2070}', 'a', 'é', '-', ' '] {
            assert!(!is_invisible(c), "{:04X}", c as u32);
        }
    }
}
