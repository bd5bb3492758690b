//! Cross-site request forgery protection for the pages' forms.
//!
//! The browser sends Basic credentials with every request to the server, including a form that
//! another site posts here, so credentials alone do not show that the operator meant it. A form
//! post must carry a token only our pages know: HMAC-SHA256, under a secret drawn when the
//! process starts, of the signed-in user. Browsers that say where a request comes from
//! (`Sec-Fetch-Site`, `Origin`) must also say it comes from this site.

use std::sync::OnceLock;

use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::AppError;

type HmacSha256 = Hmac<Sha256>;

/// The name of the hidden form field that carries the token.
pub const FIELD: &str = "csrf";

fn secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(|| {
        // Two v4 UUIDs: 244 bits from the operating system's random source.
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key
    })
}

fn mac(user: &str) -> HmacSha256 {
    // A key of any length is accepted by HMAC; this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(b"psserver-csrf\0");
    mac.update(user.to_ascii_lowercase().as_bytes());
    mac
}

/// The token the pages put in the forms of `user`.
pub fn token(user: &str) -> String {
    hex::encode(mac(user).finalize().into_bytes())
}

fn refused(why: &str) -> AppError {
    AppError::Forbidden(format!(
        "cross-site request refused: {why}. Reload the page and submit the form again."
    ))
}

/// Check a form post: same-site headers where the browser sends them, and the token. `tls`: the
/// server speaks HTTPS, so a same-site `Origin` is `https://` (issue 20 D5: the scheme counts,
/// as the host does).
pub fn check(
    tls: bool,
    headers: &HeaderMap,
    user: &str,
    given: Option<&str>,
) -> Result<(), AppError> {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
    };
    // Fetch metadata (sent by every current browser): only our own pages, or the user typing.
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Err(refused("the form was posted from another site"));
    }
    if let Some(origin) = header(ORIGIN.as_str()) {
        let host = header(HOST.as_str()).unwrap_or("");
        let scheme = if tls { "https" } else { "http" };
        let (origin_scheme, origin_host) = origin.split_once("://").unwrap_or(("", ""));
        if origin == "null"
            || origin_host.is_empty()
            || !origin_scheme.eq_ignore_ascii_case(scheme)
            || !origin_host.eq_ignore_ascii_case(host)
        {
            return Err(refused("the form was posted from another origin"));
        }
    }
    let given = given
        .filter(|t| !t.is_empty())
        .ok_or_else(|| refused("the form has no token"))?;
    let given = hex::decode(given).map_err(|_| refused("the form's token is not valid"))?;
    // Constant-time comparison.
    mac(user)
        .verify_slice(&given)
        .map_err(|_| refused("the form's token is not valid for this user"))
}

/// A form posted from one of our pages: the token it carries.
pub trait Posted {
    fn csrf(&self) -> Option<&str>;
}

/// A posted form, read and checked: one that cannot be read is a 400 that says why; one without
/// the user's token, or from another site, is refused as [`check`] says.
pub fn accept<T: Posted>(
    tls: bool,
    headers: &HeaderMap,
    user: &str,
    form: Result<axum::Form<T>, axum::extract::rejection::FormRejection>,
) -> Result<T, AppError> {
    let axum::Form(form) = form.map_err(|e| {
        AppError::bad_request(
            "InvalidForm",
            format!("the form could not be read: {}", e.body_text()),
        )
    })?;
    check(tls, headers, user, form.csrf())?;
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn tokens_are_per_user_and_checked() {
        let t = token("administrator");
        assert_eq!(t, token("Administrator"));
        assert_ne!(t, token("operator"));
        let same = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(check(false, &same, "administrator", Some(&t)).is_ok());
        assert!(
            check(false, &HeaderMap::new(), "administrator", Some(&t)).is_ok(),
            "old clients send neither header"
        );
        assert!(check(false, &same, "operator", Some(&t)).is_err());
        assert!(check(false, &same, "administrator", None).is_err());
        assert!(check(false, &same, "administrator", Some("zz")).is_err());
        let cross = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(check(false, &cross, "administrator", Some(&t)).is_err());
        let other_origin = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ]);
        assert!(check(false, &other_origin, "administrator", Some(&t)).is_err());
        let same_site = headers(&[("host", "127.0.0.1:8080"), ("sec-fetch-site", "same-site")]);
        assert!(check(false, &same_site, "administrator", Some(&t)).is_err());
        let null = headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]);
        assert!(check(false, &null, "administrator", Some(&t)).is_err());
        // The scheme counts as the host does: an http page cannot post to the https server.
        let downgraded = headers(&[
            ("host", "127.0.0.1:8443"),
            ("origin", "http://127.0.0.1:8443"),
        ]);
        assert!(check(true, &downgraded, "administrator", Some(&t)).is_err());
        let secure = headers(&[
            ("host", "127.0.0.1:8443"),
            ("origin", "https://127.0.0.1:8443"),
        ]);
        assert!(check(true, &secure, "administrator", Some(&t)).is_ok());
        assert!(check(false, &secure, "administrator", Some(&t)).is_err());
    }
}
