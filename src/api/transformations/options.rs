//! An operation's options, as the real API sends them in the body of
//! `POST transformations/{id}?operation=<Name>`.

use serde_json::Value;

use crate::domain::replication::{MigrationType, OperationType};
use crate::error::{AppError, Result};
use crate::service::operations::Options;

/// The `type`s an operation's body may name, and the members it reads.
fn accepted(op: OperationType) -> (&'static [&'static str], &'static [&'static str]) {
    match op {
        OperationType::Migrate => (&["MigrateOptions"], &["migrationType"]),
        // The product's documented Prepare sends `{"type": "MigrateOptions", "migrationType":
        // "full"}`; `PrepareOptions` was this emulator's own name and stays accepted.
        OperationType::Prepare => (&["MigrateOptions", "PrepareOptions"], &["migrationType"]),
        OperationType::TestCutover => (
            &["TestCutoverOptions"],
            &["shutdownTarget", "performIncremental"],
        ),
        OperationType::Cutover => (
            &["CutoverOptions"],
            &["shutdownSource", "shutdownTarget", "performIncremental"],
        ),
        // Documented to take a body, whose members are not: none is read.
        OperationType::EndTestCutover => (&["EndTestCutoverOptions"], &[]),
    }
}

/// Read an operation's options as the real API sends them: `{"type": "MigrateOptions",
/// "migrationType": "full"}` and so on; booleans as JSON booleans or the strings "true"/"false";
/// `null` as a member left out. An empty body, or `null` (the document gives the body as an
/// object or null), takes the defaults.
///
/// Answers the options and the names of the members the operation does not read, which are
/// ignored (as the real ASP.NET service ignores them; the caller notes or refuses them). A wrong
/// `type`, or a member it reads with a bad value, is a 400 naming it.
pub fn parse_options(op: OperationType, body: &[u8]) -> Result<(Options, Vec<String>)> {
    let bad = |m: String| AppError::bad_request("InvalidOptions", m);
    let mut options = Options::default();
    let mut ignored = Vec::new();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((options, ignored));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        AppError::bad_request("MalformedJson", format!("the body is not valid JSON: {e}"))
    })?;
    if value.is_null() {
        return Ok((options, ignored));
    }
    let Value::Object(mut fields) = value else {
        return Err(bad("the options must be a JSON object".into()));
    };
    let (types, reads) = accepted(op);
    match fields.remove("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if types.contains(&t.as_str()) => {}
        Some(other) => {
            let expected: Vec<String> = types.iter().map(|t| format!("{t:?}")).collect();
            return Err(bad(format!(
                "type: {op} takes options of type {}, not {}",
                expected.join(" or "),
                crate::api::extract::truncate(&other.to_string())
            )));
        }
    }
    for (key, value) in fields {
        if !reads.contains(&key.as_str()) {
            ignored.push(key);
            continue;
        }
        if value.is_null() {
            continue;
        }
        if key == "migrationType" {
            let text = value
                .as_str()
                .ok_or_else(|| bad("migrationType must be a string".into()))?;
            options.migration_type = Some(
                text.parse::<MigrationType>()
                    .map_err(|e| bad(format!("migrationType: {e}")))?,
            );
            continue;
        }
        let flag = match &value {
            Value::Bool(b) => *b,
            Value::String(s) if s.eq_ignore_ascii_case("true") => true,
            Value::String(s) if s.eq_ignore_ascii_case("false") => false,
            other => {
                return Err(bad(format!(
                    "{key} must be true or false, not {}",
                    crate::api::extract::truncate(&other.to_string())
                )));
            }
        };
        let slot = match key.as_str() {
            "shutdownSource" => &mut options.shutdown_source,
            "shutdownTarget" => &mut options.shutdown_target,
            _ => &mut options.perform_incremental,
        };
        *slot = Some(flag);
    }
    Ok((options, ignored))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(op: OperationType, body: &str) -> (Options, Vec<String>) {
        parse_options(op, body.as_bytes()).unwrap_or_else(|e| panic!("{op} {body}: {e}"))
    }

    #[test]
    fn documented_bodies_are_accepted() {
        // https://cabs.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-prepare-transformation.html
        let (o, ignored) = parse(
            OperationType::Prepare,
            r#"{"type": "MigrateOptions", "migrationType": "full"}"#,
        );
        assert_eq!(o.migration_type, Some(MigrationType::Full));
        assert!(ignored.is_empty());
        assert_eq!(
            parse(OperationType::Prepare, r#"{"type":"PrepareOptions"}"#),
            (Options::default(), vec![])
        );
        // https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-8/migrate-api/api-ex-execute-transformation.html
        for m in ["full", "incremental"] {
            let body = format!(r#"{{"type":"MigrateOptions","migrationType":"{m}"}}"#);
            let (o, ignored) = parse(OperationType::Migrate, &body);
            assert_eq!(o.migration_type, m.parse().ok());
            assert!(ignored.is_empty());
        }
        let (o, ignored) = parse(
            OperationType::TestCutover,
            r#"{"type":"TestCutoverOptions","shutdownTarget":"false","performIncremental":"false"}"#,
        );
        assert_eq!(
            o,
            Options {
                shutdown_target: Some(false),
                perform_incremental: Some(false),
                ..Options::default()
            }
        );
        assert!(ignored.is_empty());
        let (o, ignored) = parse(
            OperationType::Cutover,
            r#"{"type":"CutoverOptions","shutdownTarget":"false","shutdownSource":"false","performIncremental":"true"}"#,
        );
        assert_eq!(
            o,
            Options {
                shutdown_source: Some(false),
                shutdown_target: Some(false),
                perform_incremental: Some(true),
                ..Options::default()
            }
        );
        assert!(ignored.is_empty());
        // EndTestCutover takes a body; its members are not documented, so none is read.
        let (o, ignored) = parse(
            OperationType::EndTestCutover,
            r#"{"type":"EndTestCutoverOptions","testResult":"success"}"#,
        );
        assert_eq!(o, Options::default());
        assert_eq!(ignored, ["testResult"]);
    }

    #[test]
    fn defaults_booleans_and_nulls() {
        for op in OperationType::ALL {
            assert_eq!(parse(op, ""), (Options::default(), vec![]));
            assert_eq!(parse(op, " \n"), (Options::default(), vec![]));
            assert_eq!(parse(op, "{}"), (Options::default(), vec![]));
            assert_eq!(parse(op, r#"{"type":null}"#), (Options::default(), vec![]));
        }
        let (o, _) = parse(
            OperationType::Cutover,
            r#"{"type":"CutoverOptions","shutdownSource":"TRUE","performIncremental":false,"shutdownTarget":null}"#,
        );
        assert_eq!(
            o,
            Options {
                shutdown_source: Some(true),
                perform_incremental: Some(false),
                ..Options::default()
            }
        );
        let (o, _) = parse(OperationType::Migrate, r#"{"migrationType":null}"#);
        assert_eq!(o.migration_type, None);
    }

    #[test]
    fn members_an_operation_does_not_read_are_listed_not_refused() {
        let (o, ignored) = parse(
            OperationType::Migrate,
            r#"{"type":"MigrateOptions","migrationType":"full","colour":1,"shutdownSource":"yes"}"#,
        );
        assert_eq!(o.migration_type, Some(MigrationType::Full));
        assert_eq!(ignored, ["colour", "shutdownSource"]);
        // A test cutover never shuts the source down: its shutdownSource is not read.
        let (o, ignored) = parse(
            OperationType::TestCutover,
            r#"{"shutdownSource":"true","performIncremental":"true"}"#,
        );
        assert_eq!(o.shutdown_source, None);
        assert_eq!(o.perform_incremental, Some(true));
        assert_eq!(ignored, ["shutdownSource"]);
    }

    #[test]
    fn wrong_types_and_bad_values_are_refused_by_name() {
        for (op, body, mentions) in [
            (
                OperationType::Migrate,
                &br#"{"migrationType":"differential"}"#[..],
                "migrationType",
            ),
            (
                OperationType::Migrate,
                br#"{"migrationType":1}"#,
                "migrationType",
            ),
            (
                OperationType::Migrate,
                br#"{"type":"CutoverOptions"}"#,
                "MigrateOptions",
            ),
            (OperationType::Migrate, br#"{"type":7}"#, "type"),
            (
                OperationType::Prepare,
                br#"{"type":"CutoverOptions"}"#,
                "\"MigrateOptions\" or \"PrepareOptions\"",
            ),
            (
                OperationType::Prepare,
                br#"{"type":"MigrateOptions","migrationType":"sideways"}"#,
                "migrationType",
            ),
            (
                OperationType::EndTestCutover,
                br#"{"type":"TestCutoverOptions"}"#,
                "EndTestCutoverOptions",
            ),
            (
                OperationType::Cutover,
                br#"{"shutdownSource":"yes"}"#,
                "shutdownSource",
            ),
            (
                OperationType::TestCutover,
                br#"{"performIncremental":1}"#,
                "performIncremental",
            ),
            (OperationType::Prepare, br#"[1]"#, "object"),
            (OperationType::Prepare, br#"{"#, "JSON"),
        ] {
            let err = parse_options(op, body).unwrap_err();
            assert!(err.to_string().contains(mentions), "{err}");
        }
    }
}
