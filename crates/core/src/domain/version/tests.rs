use super::*;
use proptest::prelude::*;

#[test]
fn parses_and_prints_valid_versions() {
    for (text, parts) in [
        ("8.0.0.11", [8, 0, 0, 11]),
        ("0.0.0.0", [0, 0, 0, 0]),
        ("65535.65535.65535.65535", [65535; 4]),
        ("2019.8.0.1", [2019, 8, 0, 1]),
    ] {
        let v: DriverVersion = text.parse().unwrap();
        assert_eq!(v.parts(), parts, "{text}");
        assert_eq!(v.to_string(), text);
        assert_eq!(&*v.text(), text);
    }
}

#[test]
fn leading_zeros_are_numbers_and_print_canonically() {
    let v: DriverVersion = "08.00.0.011".parse().unwrap();
    assert_eq!(v, DriverVersion::new(8, 0, 0, 11));
    assert_eq!(v.to_string(), "8.0.0.11");
}

#[test]
fn rejects_everything_else() {
    let cases: &[(&str, VersionError)] = &[
        ("", VersionError::Empty),
        ("8.0", VersionError::PartCount(2)),
        ("8", VersionError::PartCount(1)),
        ("8.0.0.1.2", VersionError::PartCount(5)),
        ("8..0.1", VersionError::EmptyPart),
        ("8.0.0.", VersionError::EmptyPart),
        (".8.0.0", VersionError::EmptyPart),
        ("v8.0.0.1", VersionError::NotANumber("v8".into())),
        ("8.0.0.-1", VersionError::NotANumber("-1".into())),
        ("8.0.0.+1", VersionError::NotANumber("+1".into())),
        ("8.0.0. 1", VersionError::NotANumber(" 1".into())),
        ("8.0.0.1 ", VersionError::NotANumber("1 ".into())),
        ("8.0.0.1a", VersionError::NotANumber("1a".into())),
        ("8.0.0.١", VersionError::NotANumber("١".into())), // Arabic-Indic digit one
        ("８.0.0.1", VersionError::NotANumber("８".into())), // full-width digit eight
        ("8.0.0.65536", VersionError::Overflow("65536".into())),
        (
            "8.0.0.99999999999999999999",
            VersionError::Overflow("99999999999999999999".into()),
        ),
        ("8,0,0,11", VersionError::PartCount(1)),
    ];
    for (text, expected) in cases {
        assert_eq!(
            text.parse::<DriverVersion>().as_ref(),
            Err(expected),
            "{text:?}"
        );
    }
}

#[test]
fn orders_numerically_not_textually() {
    let v = |s: &str| s.parse::<DriverVersion>().unwrap();
    assert!(v("8.0.0.11") < v("8.0.0.12"));
    assert!(v("8.0.0.12") < v("8.0.1.0"));
    assert!(v("8.0.0.9") < v("8.0.0.10"));
    assert!(v("9.0.0.0") > v("8.65535.65535.65535"));
}

#[test]
fn serde_round_trip_and_errors_name_the_text() {
    let v: DriverVersion = serde_json::from_str("\"8.0.0.12\"").unwrap();
    assert_eq!(serde_json::to_string(&v).unwrap(), "\"8.0.0.12\"");
    let err = serde_json::from_str::<DriverVersion>("\"8.0\"").unwrap_err();
    assert!(err.to_string().contains("\"8.0\""), "{err}");
}

proptest! {
    #[test]
    fn display_then_parse_is_identity(parts in any::<[u16; 4]>()) {
        let v = DriverVersion(parts);
        prop_assert_eq!(v.to_string().parse::<DriverVersion>(), Ok(v));
    }

    #[test]
    fn ordering_is_the_ordering_of_the_parts(a in any::<[u16; 4]>(), b in any::<[u16; 4]>()) {
        let (va, vb) = (DriverVersion(a), DriverVersion(b));
        prop_assert_eq!(va.cmp(&vb), a.cmp(&b));
        // total and antisymmetric
        prop_assert_eq!(va.cmp(&vb), vb.cmp(&va).reverse());
        // the SQL sort key orders the same way
        prop_assert_eq!(va.sort_key().cmp(&vb.sort_key()), va.cmp(&vb));
    }

    #[test]
    fn ordering_is_transitive(a in any::<[u16; 4]>(), b in any::<[u16; 4]>(), c in any::<[u16; 4]>()) {
        let mut vs = [DriverVersion(a), DriverVersion(b), DriverVersion(c)];
        vs.sort();
        prop_assert!(vs[0] <= vs[1] && vs[1] <= vs[2] && vs[0] <= vs[2]);
    }

    /// The one-pass parser answers exactly what the plain one (split, check, `u16::from_str`)
    /// answers, on texts made mostly of digits and dots.
    #[test]
    fn parses_like_the_plain_parser(s in "[0-9.]{0,12}|[0-9]{1,6}(\\.[0-9+ a-]{0,6}){0,5}") {
        prop_assert_eq!(s.parse::<DriverVersion>(), plain_parse(&s));
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,24}") {
        let _ = s.parse::<DriverVersion>();
    }
}

/// The parser as first written: the oracle for [`parses_like_the_plain_parser`].
fn plain_parse(text: &str) -> Result<DriverVersion, VersionError> {
    if text.is_empty() {
        return Err(VersionError::Empty);
    }
    let pieces: Vec<&str> = text.split('.').collect();
    if pieces.len() != 4 {
        return Err(VersionError::PartCount(pieces.len()));
    }
    let mut parts = [0u16; 4];
    for (slot, piece) in parts.iter_mut().zip(pieces) {
        if piece.is_empty() {
            return Err(VersionError::EmptyPart);
        }
        if !piece.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VersionError::NotANumber(piece.to_owned()));
        }
        *slot = piece
            .parse()
            .map_err(|_| VersionError::Overflow(piece.to_owned()))?;
    }
    Ok(DriverVersion(parts))
}

/// The OpenAPI document's pattern takes exactly what the parser takes (issue 20 D2: a part above
/// 65535 was allowed by the pattern and refused by the server).
#[test]
fn the_openapi_pattern_agrees_with_the_parser() {
    let pattern = regex::Regex::new(super::PATTERN).expect("a valid pattern");
    let parts = [
        "0",
        "00",
        "7",
        "9999",
        "09999",
        "10000",
        "59999",
        "60000",
        "64999",
        "65000",
        "65499",
        "65500",
        "65529",
        "65530",
        "65535",
        "065535",
        "0000065535",
        "65536",
        "65540",
        "65599",
        "65600",
        "66000",
        "70000",
        "99999",
        "100000",
        "",
        "+1",
        "1a",
        "١",
    ];
    for part in parts {
        for text in [format!("8.0.0.{part}"), format!("{part}.1.2.3")] {
            assert_eq!(
                pattern.is_match(&text),
                text.parse::<DriverVersion>().is_ok(),
                "{text}"
            );
        }
    }
}

proptest::proptest! {
    #[test]
    fn the_openapi_pattern_agrees_with_the_parser_on_any_digits(
        parts in proptest::collection::vec("[0-9]{1,7}", 4)
    ) {
        let text = parts.join(".");
        let pattern = regex::Regex::new(super::PATTERN).expect("a valid pattern");
        proptest::prop_assert_eq!(pattern.is_match(&text), text.parse::<DriverVersion>().is_ok(), "{}", text);
    }
}
