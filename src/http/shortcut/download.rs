//! Package downloads before the router: `GET {base}/driverPackages/{id}/content` and
//! `GET {base}/driverPackages/{platform}/{version}/content`.

use axum::body::Body;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::{Base, Route, captures};
use crate::api;
use crate::domain::platform::Platform;
use crate::domain::version::DriverVersion;
use crate::state::AppState;

/// A download, its parameters parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Download {
    ById(Uuid),
    ByVersion(Platform, DriverVersion),
}

impl Download {
    pub fn route(self) -> Route {
        match self {
            Self::ById(_) => Route::ById,
            Self::ByVersion(..) => Route::ByVersion,
        }
    }

    /// The download a path asks for, and under which base; `None` for a path the router answers.
    pub fn parse(path: &str) -> Option<(Base, Self)> {
        let (base, rest) = Base::split(path)?;
        Some((base, Self::parse_under(rest)?))
    }

    /// The download a path asks for, its base cut off.
    pub(super) fn parse_under(rest: &str) -> Option<Self> {
        if let Some([id]) = captures(Route::ById.segments(), rest) {
            return Some(Self::ById(id.parse().ok()?));
        }
        let [platform, version] = captures(Route::ByVersion.segments(), rest)?;
        Some(Self::ByVersion(
            platform.parse().ok()?,
            version.parse().ok()?,
        ))
    }

    /// The answer, from the same code as the router's route for it.
    pub(super) async fn answer(self, state: &AppState, request: Request<Body>) -> Response {
        let (parts, _) = request.into_parts();
        let (method, headers) = (&parts.method, &parts.headers);
        match self {
            Self::ById(id) => api::packages::download_by_id(state, id, method, headers).await,
            Self::ByVersion(platform, version) => {
                api::packages::download_by_version(state, platform, version, method, headers).await
            }
        }
        .into_response()
    }
}
