//! Organisations (组织), their users (用户) and API clients (接入系统) over HTTP: administered by
//! the platform operator, read by supervision.

mod clients;
mod registry;
mod users;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub use clients::{CreateClient, UpdateClient};
pub use registry::{CreateOrganization, OrganizationQuery, UpdateOrganization};
pub use users::{CreateUser, UpdateUser};

use crate::db::organizations::OrganizationRow;
use crate::db::users::{ClientRow, UserRow};
use crate::domain::organization::{OrganizationKind, OrganizationStatus};
use crate::domain::role::Role;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(registry::create_organization)
        .service(registry::list_organizations)
        .service(registry::get_organization)
        .service(registry::update_organization)
        .service(users::create_user)
        .service(users::list_users)
        .service(users::update_user)
        .service(clients::create_client)
        .service(clients::list_clients)
        .service(clients::update_client);
}

/// An organisation as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Organization {
    pub id: Uuid,
    pub kind: OrganizationKind,
    pub name: String,
    /// Unified social credit code (统一社会信用代码).
    pub uscc: Option<String>,
    pub region_code: String,
    pub status: OrganizationStatus,
    /// Holds public-fundraising qualification (公开募捐资格).
    pub public_fundraising: bool,
    /// The federation or bureau it belongs to, if any.
    pub parent_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<OrganizationRow> for Organization {
    fn from(r: OrganizationRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            name: r.name,
            uscc: r.uscc,
            region_code: r.region_code,
            status: r.status,
            public_fundraising: r.public_fundraising,
            parent_id: r.parent_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A user account as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    /// Region scope: the organisation's region or a part of it.
    pub region_code: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            organization_id: r.organization_id,
            username: r.username,
            display_name: r.display_name,
            roles: r.roles,
            region_code: r.region_code,
            enabled: r.enabled,
            created_at: r.created_at,
        }
    }
}

/// An API client (接入系统) for a municipal system or charity portal.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiClient {
    pub id: Uuid,
    pub organization_id: Uuid,
    /// Send as `client_id` with `grant_type=client_credentials`.
    pub client_id: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<ClientRow> for ApiClient {
    fn from(r: ClientRow) -> Self {
        Self {
            id: r.id,
            organization_id: r.organization_id,
            client_id: r.client_id,
            name: r.name,
            roles: r.roles,
            enabled: r.enabled,
            created_at: r.created_at,
        }
    }
}

/// A new client with its secret, shown this once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiClientCreated {
    #[serde(flatten)]
    pub client: ApiClient,
    pub client_secret: String,
}
