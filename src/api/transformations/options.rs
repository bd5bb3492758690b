//! An operation's options, as the real API sends them in the body of
//! `POST transformations/{id}?operation=<Name>`.

use serde_json::Value;

use crate::api::extract::truncate;
use crate::domain::replication::{MigrationType, OperationType};
use crate::error::{AppError, Result};
use crate::service::operations::Options;

/// Read an operation's options as the real API sends them: `{"type": "MigrateOptions",
/// "migrationType": "full"}` and so on; booleans as JSON booleans or the strings "true"/"false".
/// An empty body takes the defaults.
pub fn parse_options(op: OperationType, body: &[u8]) -> Result<Options> {
    let bad = |m: String| AppError::bad_request("InvalidOptions", m);
    let mut options = Options::default();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(options);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        AppError::bad_request("MalformedJson", format!("the body is not valid JSON: {e}"))
    })?;
    let Value::Object(mut fields) = value else {
        return Err(bad("the options must be a JSON object".into()));
    };
    let (expected_type, allowed): (&str, &[&str]) = match op {
        OperationType::Migrate => ("MigrateOptions", &["migrationType"]),
        OperationType::TestCutover => (
            "TestCutoverOptions",
            &["shutdownTarget", "performIncremental"],
        ),
        OperationType::Cutover => (
            "CutoverOptions",
            &["shutdownSource", "shutdownTarget", "performIncremental"],
        ),
        OperationType::Prepare => ("PrepareOptions", &[]),
        OperationType::EndTestCutover => ("EndTestCutoverOptions", &[]),
    };
    match fields.remove("type") {
        None => {}
        Some(Value::String(t)) if t == expected_type => {}
        Some(other) => {
            return Err(bad(format!(
                "{op} takes options of type {expected_type:?}, not {other}"
            )));
        }
    }
    for (key, value) in fields {
        if !allowed.contains(&key.as_str()) {
            return Err(bad(format!(
                "unknown option {:?} for {op}; expected {}",
                truncate(&key),
                if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                }
            )));
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
            other => return Err(bad(format!("{key} must be true or false, not {other}"))),
        };
        let slot = match key.as_str() {
            "shutdownSource" => &mut options.shutdown_source,
            "shutdownTarget" => &mut options.shutdown_target,
            _ => &mut options.perform_incremental,
        };
        *slot = Some(flag);
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_as_the_real_api_sends_them() {
        let o = parse_options(
            OperationType::Migrate,
            br#"{"type":"MigrateOptions","migrationType":"incremental"}"#,
        )
        .unwrap();
        assert_eq!(o.migration_type, Some(MigrationType::Incremental));
        let o = parse_options(OperationType::Migrate, b"").unwrap();
        assert_eq!(o, Options::default());
        let o = parse_options(
            OperationType::Cutover,
            br#"{"type":"CutoverOptions","shutdownSource":"true","performIncremental":false}"#,
        )
        .unwrap();
        assert_eq!(
            o,
            Options {
                shutdown_source: Some(true),
                perform_incremental: Some(false),
                ..Options::default()
            }
        );
        for (op, body, mentions) in [
            (
                OperationType::Migrate,
                &br#"{"migrationType":"differential"}"#[..],
                "migrationType",
            ),
            (
                OperationType::Migrate,
                br#"{"type":"CutoverOptions"}"#,
                "MigrateOptions",
            ),
            (OperationType::Migrate, br#"{"colour":1}"#, "colour"),
            (
                OperationType::Cutover,
                br#"{"shutdownSource":"yes"}"#,
                "shutdownSource",
            ),
            (OperationType::Prepare, br#"[1]"#, "object"),
            (OperationType::Prepare, br#"{"#, "JSON"),
        ] {
            let err = parse_options(op, body).unwrap_err();
            assert!(err.to_string().contains(mentions), "{err}");
        }
    }
}
