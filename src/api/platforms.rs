//! Target platforms (SPEC 9): what a transformation migrates to. `POST platforms` takes the
//! product's documented body (`"type": "AddPlatformAzureCloud"` and its members) and answers
//! 202 with the PreDiscovery operation to poll, as the product's walkthrough shows
//! (https://www.microfocus.com/documentation/platespin/platespin-migrate-2019-5/migrate-api/api-ex-add-azure-platform.html).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::extract::{Json, Path, Query, parse_id};
use super::openapi::{
    Accepted, BadRequest, Conflict, Forbidden, NotFound, PlatformList, Unauthorized,
    UnsupportedMediaType,
};
use super::{ApiBase, Link, Paging, list_body};
use crate::auth::{Admin, Operator};
use crate::db::platforms;
use crate::domain::replication::OperationStatus;
use crate::domain::target_platform::{
    AddPlatformRequest, AzureCloudName, InvalidPlatform, PlatformOperation, PlatformOperationType,
    PlatformState, PlatformType, SubOperation, TargetPlatform,
};
use crate::error::{AppError, Result};
use crate::service::platforms as use_case;
use crate::state::AppState;

/// A target platform. Its password is never answered (nor kept).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformView {
    id: Uuid,
    #[schema(examples("Azure centralus"))]
    display_name: String,
    #[serde(rename = "type")]
    platform_type: PlatformType,
    azure_cloud_name: AzureCloudName,
    /// Azure's short region name.
    #[schema(examples("centralus"))]
    location_name: String,
    subscription_id: String,
    application_id: String,
    #[schema(examples("username@accountname.onmicrosoft.com"))]
    username: String,
    /// `Discovering` until its PreDiscovery operation ends, then `Discovered` (or
    /// `DiscoveryFailed`).
    current_state: PlatformState,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// `self`, `lastOperation` (its PreDiscovery) and `operation-Remove` (`DEL` on the same URL,
    /// as the product's links name `DELETE`).
    links: Vec<Link>,
}

impl PlatformView {
    fn new(base: &ApiBase, p: TargetPlatform, last_operation: Option<Uuid>) -> Self {
        let href = format!("{}/platforms/{}", base.0, p.id);
        let mut links = vec![Link::new(&href, "self", &["GET"])];
        if let Some(op) = last_operation {
            links.push(Link::new(
                format!("{}/operations/{op}", base.0),
                "lastOperation",
                &["GET"],
            ));
        }
        links.push(Link::new(&href, "operation-Remove", &["DEL"]));
        Self {
            display_name: p.display_name(),
            id: p.id,
            platform_type: p.platform_type,
            azure_cloud_name: p.azure_cloud_name,
            location_name: p.location_name,
            subscription_id: p.subscription_id,
            application_id: p.application_id,
            username: p.username,
            current_state: p.state,
            created_at: p.created_at,
            updated_at: p.updated_at,
            links,
        }
    }
}

async fn view(state: &AppState, base: &ApiBase, p: TargetPlatform) -> Result<PlatformView> {
    let last = platforms::last_operation(&mut state.db.reader().await?, p.id).await?;
    Ok(PlatformView::new(base, p, last.map(|o| o.id)))
}

/// An operation on a platform (its PreDiscovery) and its progress, in the product's shape:
/// `operationType`, `status`, `progress` and nested `subOperations`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformOperationView {
    id: Uuid,
    platform_id: Uuid,
    operation_type: PlatformOperationType,
    #[schema(examples("Discovery of platform Azure centralus"))]
    title: String,
    status: OperationStatus,
    /// Percent.
    #[schema(maximum = 100)]
    progress: u8,
    /// `DiscoveringWorkloadTarget`, made of `Operations.Cloud.DiscoverRegion` and the others.
    sub_operations: Vec<SubOperation>,
    /// Why it failed.
    error: Option<String>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    /// `self`, and `resource`: the platform.
    links: Vec<Link>,
}

impl PlatformOperationView {
    fn new(base: &ApiBase, o: PlatformOperation, display_name: String) -> Self {
        Self {
            links: vec![
                Link::new(format!("{}/operations/{}", base.0, o.id), "self", &["GET"]),
                Link::new(
                    format!("{}/platforms/{}", base.0, o.platform_id),
                    "resource",
                    &["GET"],
                ),
            ],
            title: format!("Discovery of platform {display_name}"),
            id: o.id,
            platform_id: o.platform_id,
            operation_type: o.operation_type,
            status: o.status,
            progress: o.progress,
            sub_operations: o.sub_operations,
            error: o.error,
            created_at: o.created_at,
            started_at: o.started_at,
            completed_at: o.completed_at,
        }
    }
}

/// A platform's operation as `GET operations/{id}` answers it (after the contracts' lookup
/// found nothing).
pub(super) async fn operation_view(
    state: &AppState,
    base: &ApiBase,
    id: Uuid,
) -> Result<PlatformOperationView> {
    let mut r = state.db.reader().await?;
    let op = platforms::find_operation(&mut r, id).await?;
    let platform = platforms::find(&mut r, op.platform_id).await?;
    Ok(PlatformOperationView::new(
        base,
        op,
        platform.display_name(),
    ))
}

fn invalid(e: InvalidPlatform) -> AppError {
    let code = match e {
        InvalidPlatform::MissingType | InvalidPlatform::Missing { .. } => "MissingField",
        InvalidPlatform::UnknownType { .. } => "UnsupportedPlatformType",
        InvalidPlatform::NotAString { .. } | InvalidPlatform::Invalid { .. } => "InvalidField",
    };
    AppError::bad_request(code, e.to_string())
}

/// Add a target platform
///
/// Answers 202 at once with the platform and its PreDiscovery operation to poll (also in
/// `Location`); the platform is `Discovered` when the operation has succeeded. The body's `type`
/// says which kind of platform, and so which members it takes; `AddPlatformAzureCloud` is the
/// one the product documents. The password is checked, never stored, never answered.
#[utoipa::path(
    post,
    path = "/platforms",
    operation_id = "addPlatform",
    tag = "platforms",
    security(("basicAuth" = [])),
    request_body(content = AddPlatform, description = "The platform, by `type`", examples(
        ("AddPlatformAzureCloud" = (value = json!({
            "username": "username@accountname.onmicrosoft.com",
            "password": "Azure password goes here",
            "type": "AddPlatformAzureCloud",
            "azureCloudName": "AzureCloud",
            "locationName": "centralus",
            "subscriptionId": "Subscription id goes here",
            "applicationId": "Application id goes here"
        }))),
    )),
    responses(
        (status = 202, description = "Added; the discovery runs: poll the operation (also in `Location`)", body = Accepted,
            headers(("Location" = String, description = "The operation's URL"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 415, response = UnsupportedMediaType),
    ),
)]
pub async fn add(
    State(state): State<AppState>,
    Operator(caller): Operator,
    base: ApiBase,
    Json(body): Json<AddPlatformRequest>,
) -> Result<Response> {
    let new = body.check().map_err(invalid)?;
    let (platform, operation) = use_case::add(&state, &caller, &new).await?;
    let op_href = format!("{}/operations/{}", base.0, operation.id);
    let body = Accepted {
        completed_synchronously: false,
        operation: Link::new(&op_href, "self", &["GET"]),
        resource: Link::new(
            format!("{}/platforms/{}", base.0, platform.id),
            "resource",
            &["GET"],
        ),
    };
    let mut response = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&op_href) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// The target platforms, oldest first.
#[utoipa::path(
    get,
    path = "/platforms",
    operation_id = "listPlatforms",
    tag = "platforms",
    security(("basicAuth" = [])),
    params(Paging),
    responses(
        (status = 200, description = "A page of platforms", body = PlatformList),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    _: Operator,
    base: ApiBase,
    Query(paging): Query<Paging>,
) -> Result<Response> {
    let page = paging.page()?;
    let (items, total) = platforms::list(&mut state.db.reader().await?, page).await?;
    let mut views = Vec::with_capacity(items.len());
    for p in items {
        views.push(view(&state, &base, p).await?);
    }
    let href = format!("{}/platforms", base.0);
    Ok(axum::Json(list_body("platforms", views, total, page, &href, &[])).into_response())
}

/// A target platform and where its discovery stands.
#[utoipa::path(
    get,
    path = "/platforms/{id}",
    operation_id = "getPlatform",
    tag = "platforms",
    security(("basicAuth" = [])),
    params(("id" = Uuid, Path, description = "The platform's id")),
    responses(
        (status = 200, description = "The platform", body = PlatformView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    _: Operator,
    base: ApiBase,
    Path(id): Path<String>,
) -> Result<axum::Json<PlatformView>> {
    let id = parse_id(&id, "platform id")?;
    let p = platforms::find(&mut state.db.reader().await?, id).await?;
    Ok(axum::Json(view(&state, &base, p).await?))
}

/// Remove a target platform (refused while it is being discovered).
#[utoipa::path(
    delete,
    path = "/platforms/{id}",
    operation_id = "deletePlatform",
    tag = "platforms",
    security(("basicAuth" = [])),
    params(("id" = Uuid, Path, description = "The platform's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = parse_id(&id, "platform id")?;
    use_case::remove(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST platforms`: its `type` names the kind of platform, and with it the members
/// it takes. Only described: the handler reads an `AddPlatformRequest` and checks it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(discriminator = "type")]
#[allow(dead_code)]
pub enum AddPlatform {
    AddPlatformAzureCloud(AddPlatformAzureCloud),
}

/// An Azure location to migrate to.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct AddPlatformAzureCloud {
    #[serde(rename = "type")]
    #[schema(inline)]
    platform_type: AddPlatformAzureCloudType,
    /// The Azure account's user (1 to 256 characters).
    #[schema(
        examples("username@accountname.onmicrosoft.com"),
        schema_with = crate::domain::text::schema::name_256
    )]
    username: String,
    /// Checked (1 to 256 characters), never stored, never answered.
    #[schema(format = Password, write_only, min_length = 1, max_length = 256)]
    password: String,
    /// Any case.
    azure_cloud_name: AzureCloudName,
    /// Azure's region name (`centralus`); its display name (`Central US`) is taken too: 2 to 64
    /// letters and digits, a letter first, spaces between them ignored.
    #[schema(
        examples("centralus"),
        pattern = "^\\s*(?: *[A-Za-z])(?: *[A-Za-z0-9]){1,63}\\s*$"
    )]
    location_name: String,
    /// 1 to 128 characters.
    #[schema(schema_with = crate::domain::text::schema::name_128)]
    subscription_id: String,
    /// 1 to 128 characters.
    #[schema(schema_with = crate::domain::text::schema::name_128)]
    application_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub enum AddPlatformAzureCloudType {
    AddPlatformAzureCloud,
}
