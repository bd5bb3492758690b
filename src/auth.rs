//! Sign-in: HTTP Basic and NTLM (the real server's Windows sign-in, [`ntlm`]), roles (SPEC 6),
//! and agent tokens.
//!
//! Basic passwords are compared by their SHA-256 so that the comparison takes the same time
//! whatever the guess. NTLM proves a password without sending it, so the password itself is kept
//! to check the proof with.

pub mod ntlm;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read, run operations, dismiss tasks, add sources, report driver states.
    Operator,
    /// Everything, including uploads and deletions.
    Administrator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    pub role: Role,
}

struct User {
    name: &'static str,
    password_sha256: [u8; 32],
    /// For NTLM, whose proof is computed from the password.
    password: String,
    role: Role,
}

pub struct Users {
    users: Vec<User>,
    /// `--ntlm-domain`: the domain NTLM sign-ins must name; `None` ignores the domain.
    ntlm_domain: Option<String>,
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl Users {
    pub fn from_config(config: &Config) -> Self {
        let mut users = vec![User {
            name: "administrator",
            password_sha256: digest(&config.admin_password),
            password: config.admin_password.clone(),
            role: Role::Administrator,
        }];
        if let Some(pw) = &config.operator_password {
            users.push(User {
                name: "operator",
                password_sha256: digest(pw),
                password: pw.clone(),
                role: Role::Operator,
            });
        }
        Self {
            users,
            ntlm_domain: config.ntlm_domain.clone(),
        }
    }

    /// The account an NTLM sign-in names (without case, as Windows compares), and its password.
    fn ntlm_account(&self, name: &str) -> Option<(Caller, &str)> {
        self.users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(name))
            .map(|u| {
                let caller = Caller {
                    user: u.name.to_owned(),
                    role: u.role,
                };
                (caller, u.password.as_str())
            })
    }

    /// Check a user name and password. User names compare without case, as Windows does.
    pub fn check(&self, name: &str, password: &str) -> Option<Caller> {
        let given = digest(password);
        self.users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(name) && u.password_sha256 == given)
            .map(|u| Caller {
                user: u.name.to_owned(),
                role: u.role,
            })
    }
}

/// What an `Authorization` header holds.
pub enum Credentials {
    Basic {
        user: String,
        password: String,
    },
    Bearer(String),
    /// An NTLM message, decoded: `NTLM <base64>`, or `Negotiate <base64>` holding a bare NTLM
    /// message (as Windows clients send when the server does not speak Kerberos).
    Ntlm(Vec<u8>),
}

/// The schemes a 401 offers, each its own `WWW-Authenticate` field: NTLM first, as a Windows
/// server lists it, then Basic for scripts. Clients that can (curl `--anyauth`, browsers,
/// PowerShell, .NET) pick NTLM.
pub const CHALLENGES: [&str; 2] = [
    "NTLM",
    r#"Basic realm="PlateSpin Migrate", charset="UTF-8""#,
];

/// Add the sign-in offer to a 401 for `error`: an NTLM handshake's CHALLENGE alone, or every
/// scheme for a request that did not sign in.
pub fn add_challenges(error: &AppError, headers: &mut axum::http::HeaderMap) {
    use axum::http::HeaderValue;
    use axum::http::header::WWW_AUTHENTICATE;
    match error {
        AppError::NtlmChallenge(challenge) => {
            if let Ok(value) = HeaderValue::from_str(&format!("NTLM {challenge}")) {
                headers.insert(WWW_AUTHENTICATE, value);
            }
        }
        AppError::Unauthorized | AppError::SignInRefused(_) => {
            for offer in CHALLENGES {
                headers.append(WWW_AUTHENTICATE, HeaderValue::from_static(offer));
            }
        }
        _ => {}
    }
}

pub fn credentials(parts: &Parts) -> Result<Option<Credentials>, AppError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || AppError::bad_request("BadAuthorization", "the Authorization header is malformed");
    let value = value.to_str().map_err(|_| bad())?;
    // A scheme alone (`NTLM`) is a malformed NTLM token, refused with a 401 below.
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (user, password) = decoded.split_once(':').ok_or_else(bad)?;
        // Accept DOMAIN\user as the real server does; the emulator has one domain.
        let user = user.rsplit('\\').next().unwrap_or(user);
        Ok(Some(Credentials::Basic {
            user: user.to_owned(),
            password: password.to_owned(),
        }))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Some(Credentials::Bearer(rest.trim().to_owned())))
    } else if scheme.eq_ignore_ascii_case("ntlm") || scheme.eq_ignore_ascii_case("negotiate") {
        ntlm_token(rest.trim()).map(|token| Some(Credentials::Ntlm(token)))
    } else {
        Err(AppError::bad_request(
            "BadAuthorization",
            format!("unsupported authorization scheme {scheme:?}; use NTLM or Basic"),
        ))
    }
}

/// An NTLM token's bytes. Every refusal is a 401, as a Windows server answers a bad handshake.
fn ntlm_token(text: &str) -> Result<Vec<u8>, AppError> {
    let refused = |why: &str| AppError::SignInRefused(why.to_owned());
    if text.len() > ntlm::MAX_TOKEN_CHARS {
        return Err(refused("the NTLM token is too long"));
    }
    let token = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| refused("the NTLM token is not base64"))?;
    if !token.starts_with(b"NTLMSSP\0") {
        return Err(refused(
            "only NTLM is spoken here: Negotiate must carry a bare NTLM message (no Kerberos or SPNEGO)",
        ));
    }
    Ok(token)
}

/// The signed-in user: from Basic credentials, from an NTLM handshake on this connection, or
/// the user this connection signed in as with NTLM before.
pub fn caller(parts: &Parts, users: &Users) -> Result<Caller, AppError> {
    let slot = parts.extensions.get::<Arc<ntlm::Slot>>();
    match credentials(parts)? {
        Some(Credentials::Basic { user, password }) => {
            users.check(&user, &password).ok_or(AppError::Unauthorized)
        }
        Some(Credentials::Ntlm(token)) => {
            let Some(slot) = slot else {
                return Err(AppError::SignInRefused(
                    "NTLM needs a connection to sign in on".into(),
                ));
            };
            let step = slot.step(
                &token,
                users,
                users.ntlm_domain.as_deref(),
                std::time::Instant::now(),
            );
            match step.map_err(AppError::SignInRefused)? {
                ntlm::Step::Challenge(challenge) => Err(AppError::NtlmChallenge(challenge)),
                ntlm::Step::SignedIn(caller) => Ok(caller),
            }
        }
        Some(Credentials::Bearer(_)) => Err(AppError::Unauthorized),
        None => slot
            .and_then(|slot| slot.signed_in())
            .ok_or(AppError::Unauthorized),
    }
}

/// Any signed-in user (operator or administrator).
pub struct Operator(pub Caller);

/// An administrator.
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for Operator {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        caller(parts, &state.users).map(Operator)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let caller = caller(parts, &state.users)?;
        if caller.role == Role::Administrator {
            Ok(Admin(caller))
        } else {
            Err(AppError::Forbidden(format!(
                "user {} may not do this: administrators only",
                caller.user
            )))
        }
    }
}

/// A new agent token: 256 random bits (two v4 UUIDs' worth), shown to the agent once.
pub fn new_agent_token() -> String {
    format!(
        "psa_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The SHA-256 of an agent token in lower-case hex: what is stored of it.
pub fn token_sha256(token: &str) -> TokenSha256 {
    // Into a buffer (`hex::encode` collects one char at a time; this runs on every report).
    // 32 bytes are always 64 digits, so the encoding cannot fail.
    let mut text = [0u8; 64];
    let _ = hex::encode_to_slice(Sha256::digest(token.as_bytes()), &mut text);
    TokenSha256(text)
}

/// A token's hash as [`token_sha256`] writes it: 64 hex digits, held in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSha256([u8; 64]);

impl std::ops::Deref for TokenSha256 {
    type Target = str;

    fn deref(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_roles() {
        let mut config = Config::for_data_dir("/tmp/x", "/tmp/y");
        config.operator_password = Some("op".into());
        let users = Users::from_config(&config);
        assert_eq!(
            users.check("administrator", "platespin").map(|c| c.role),
            Some(Role::Administrator)
        );
        assert_eq!(
            users.check("Administrator", "platespin").map(|c| c.role),
            Some(Role::Administrator)
        );
        assert_eq!(
            users.check("operator", "op").map(|c| c.role),
            Some(Role::Operator)
        );
        assert!(users.check("operator", "platespin").is_none());
        assert!(users.check("nobody", "platespin").is_none());
        let users = Users::from_config(&Config::for_data_dir("/tmp/x", "/tmp/y"));
        assert!(users.check("operator", "").is_none());
    }

    #[test]
    fn tokens_are_unique_and_hashed() {
        let (a, b) = (new_agent_token(), new_agent_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(token_sha256(&a).len(), 64);
        // Stored hashes from before must still match: the SHA-256 of "abc", in lower-case hex.
        let abc = token_sha256("abc");
        assert_eq!(
            &*abc,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
