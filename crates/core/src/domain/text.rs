//! Names people give (host names, display names, tags): what they may hold. A name must read as
//! what it is: no control characters, and none of the invisible or direction-changing ones that
//! make a name look blank or like another (issue 20 D4: U+202E, U+200B, U+00AD, U+FEFF).

/// Characters that draw nothing or reorder what is drawn: Unicode's format characters (the
/// soft hyphen, zero-width spaces and joiners, bidirectional marks, embeddings, overrides and
/// isolates, invisible operators, the byte-order mark, interlinear annotation marks) and the
/// fillers that render blank.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E007F}'
    )
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
