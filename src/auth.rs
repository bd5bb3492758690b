//! HTTP Basic credentials and roles (SPEC 6), and agent tokens.
//!
//! The real server asks for Windows credentials the same way. Passwords are compared by their
//! SHA-256 so that the comparison takes the same time whatever the guess.

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
    role: Role,
}

pub struct Users(Vec<User>);

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl Users {
    pub fn from_config(config: &Config) -> Self {
        let mut users = vec![User {
            name: "administrator",
            password_sha256: digest(&config.admin_password),
            role: Role::Administrator,
        }];
        if let Some(pw) = &config.operator_password {
            users.push(User {
                name: "operator",
                password_sha256: digest(pw),
                role: Role::Operator,
            });
        }
        Self(users)
    }

    /// Check a user name and password. User names compare without case, as Windows does.
    pub fn check(&self, name: &str, password: &str) -> Option<Caller> {
        let given = digest(password);
        self.0
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
    Basic { user: String, password: String },
    Bearer(String),
}

pub fn credentials(parts: &Parts) -> Result<Option<Credentials>, AppError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || AppError::bad_request("BadAuthorization", "the Authorization header is malformed");
    let value = value.to_str().map_err(|_| bad())?;
    let (scheme, rest) = value.split_once(' ').ok_or_else(bad)?;
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
    } else {
        Err(AppError::bad_request(
            "BadAuthorization",
            format!("unsupported authorization scheme {scheme:?}; use Basic"),
        ))
    }
}

/// The signed-in user, from Basic credentials.
pub fn caller(parts: &Parts, users: &Users) -> Result<Caller, AppError> {
    match credentials(parts)? {
        Some(Credentials::Basic { user, password }) => {
            users.check(&user, &password).ok_or(AppError::Unauthorized)
        }
        _ => Err(AppError::Unauthorized),
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

pub fn token_sha256(token: &str) -> String {
    // Into a buffer (`hex::encode` collects one char at a time; this runs on every report).
    // 32 bytes are always 64 digits, so the encoding cannot fail.
    let mut text = [0u8; 64];
    let _ = hex::encode_to_slice(Sha256::digest(token.as_bytes()), &mut text);
    String::from_utf8_lossy(&text).into_owned()
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
        assert_eq!(
            token_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
