//! Organisations (组织), their users (用户) and API clients (接入系统): administered by the
//! platform operator, read by supervision.

use serde_json::json;
use uuid::Uuid;

use super::{access, audit, lost_update, transaction, Context, Error, FieldError, IfMatch, Result};
use crate::auth::{password, Caller};
use crate::db::organizations::{
    self as orgs, NewOrganization, OrganizationChanges, OrganizationFilter, OrganizationRow,
};
use crate::db::users::{self, ClientRow, NewClient, NewUser, UserChanges, UserRow};
use crate::domain::organization::{OrganizationKind, OrganizationStatus};
use crate::domain::region::{self, RegionCode};
use crate::domain::role::{role_allowed_for, separated, Role};

/// An organisation whose fields have passed every rule.
#[derive(Debug)]
pub struct NewOrganizationInput {
    pub kind: OrganizationKind,
    pub name: String,
    pub uscc: Option<String>,
    pub region_code: String,
    pub public_fundraising: bool,
    pub parent_id: Option<Uuid>,
}

/// Registers an organisation (登记组织). Administrators.
pub async fn create(
    ctx: &Context,
    caller: &Caller,
    input: NewOrganizationInput,
) -> Result<OrganizationRow> {
    access::require_admin(caller)?;
    let id = Uuid::now_v7();
    let ev = audit::by(ctx, caller, "organization.create", "organization", id);
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let row = orgs::insert(
                conn,
                &NewOrganization {
                    id,
                    kind: input.kind,
                    name: input.name.trim().to_owned(),
                    uscc: input.uscc,
                    region_code: input.region_code,
                    public_fundraising: input.public_fundraising,
                    parent_id: input.parent_id,
                },
            )
            .await?;
            audit::append(
                conn,
                ev.details(json!({"kind": row.kind, "region_code": row.region_code})),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

/// Lists organisations: the whole register for administrators and auditors, the directory of
/// active organisations for civil-affairs and charity staff.
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    mut filter: OrganizationFilter,
) -> Result<Vec<OrganizationRow>> {
    if access::directory(caller)? == access::Directory::ActiveOnly {
        if filter
            .status
            .is_some_and(|s| s != OrganizationStatus::Active)
        {
            return Err(Error::forbidden(
                "the directory lists active organisations only",
            ));
        }
        filter.status = Some(OrganizationStatus::Active);
    }
    let mut conn = crate::db::connect(&ctx.pool).await?;
    Ok(orgs::list(&mut conn, &filter).await?)
}

async fn load(ctx: &Context, id: Uuid) -> Result<OrganizationRow> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    orgs::find(&mut conn, id)
        .await?
        .ok_or_else(|| Error::not_found("organization"))
}

/// One organisation: its own members, administrators and auditors; an active one for
/// civil-affairs and charity staff (the directory).
pub async fn get(ctx: &Context, caller: &Caller, id: Uuid) -> Result<OrganizationRow> {
    if caller.organization_id == id {
        return load(ctx, id).await;
    }
    let scope = access::directory(caller)?;
    let org = load(ctx, id).await?;
    match scope {
        access::Directory::ActiveOnly if org.status != OrganizationStatus::Active => {
            Err(Error::not_found("organization"))
        }
        _ => Ok(org),
    }
}

fn fundraising_not_applicable() -> FieldError {
    FieldError::new(
        "public_fundraising",
        "not_applicable",
        "only charities, charity federations and the Red Cross hold public-fundraising qualification",
    )
}

/// Changes to an organisation.
#[derive(Debug, Default)]
pub struct OrganizationUpdate {
    pub name: Option<String>,
    pub status: Option<OrganizationStatus>,
    pub public_fundraising: Option<bool>,
}

/// Updates an organisation; `errors` are the caller's own field failures, answered together
/// with those that need the stored organisation. Administrators.
pub async fn update(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    update: OrganizationUpdate,
    mut errors: Vec<FieldError>,
    if_match: Option<IfMatch>,
) -> Result<OrganizationRow> {
    access::require_admin(caller)?;
    let current = load(ctx, id).await?;
    if update.public_fundraising == Some(true) && !current.kind.can_hold_public_fundraising() {
        errors.push(fundraising_not_applicable());
    }
    Error::check(errors)?;
    if let Some(m) = &if_match {
        m.check(current.version)?;
    }
    let details = json!({"name": update.name, "status": update.status.map(|s| s.as_str()), "public_fundraising": update.public_fundraising});
    let changes = OrganizationChanges {
        name: update.name.as_ref().map(|n| n.trim().to_owned()),
        status: update.status,
        public_fundraising: update.public_fundraising,
        parent_id: None,
        updated_at: Some(ctx.clock.now()),
    };
    let ev = audit::by(ctx, caller, "organization.update", "organization", id).details(details);
    let row = transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let row = orgs::update(conn, id, &changes, current.version)
                .await?
                .ok_or_else(|| lost_update(if_match.as_ref()))?;
            audit::append(conn, ev).await?;
            Ok(row)
        })
    })
    .await?;
    // After the commit, so no request re-reads the old standing into the cache meanwhile.
    ctx.standing.forget(id);
    Ok(row)
}

/// Whether public-fundraising qualification fits the kind (for the create checks).
pub fn check_public_fundraising(kind: OrganizationKind, requested: bool) -> Option<FieldError> {
    (requested && !kind.can_hold_public_fundraising()).then(fundraising_not_applicable)
}

fn check_roles(kind: OrganizationKind, roles: &[Role], errors: &mut Vec<FieldError>) {
    if !separated(roles) {
        errors.push(FieldError::new(
            "roles",
            "separation_of_duties",
            "auditor and admin are never combined with another role",
        ));
    }
    for (i, role) in roles.iter().enumerate() {
        if !role_allowed_for(kind, *role) {
            errors.push(FieldError::new(
                format!("roles[{i}]"),
                "role_not_allowed",
                format!(
                    "a member of a {} cannot hold the role {role}",
                    kind.as_str()
                ),
            ));
        }
    }
}

/// Argon2id is slow by design: it runs off the async workers.
async fn hash_secret(secret: String) -> Result<String> {
    tokio::task::spawn_blocking(move || password::hash(&secret))
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)
}

/// A user account to create.
#[derive(Debug)]
pub struct NewUserInput {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub roles: Vec<Role>,
    /// Defaults to the organisation's region.
    pub region_code: Option<String>,
}

/// Creates a user of an organisation. Administrators.
pub async fn create_user(
    ctx: &Context,
    caller: &Caller,
    org_id: Uuid,
    input: NewUserInput,
    mut errors: Vec<FieldError>,
) -> Result<UserRow> {
    access::require_admin(caller)?;
    let org = load(ctx, org_id).await?;
    check_roles(org.kind, &input.roles, &mut errors);
    let region = input
        .region_code
        .clone()
        .unwrap_or_else(|| org.region_code.clone());
    let region = match RegionCode::parse(&region) {
        Ok(r) if !region::covers(&org.region_code, r.as_str()) => {
            errors.push(FieldError::new(
                "region_code",
                "outside_organization",
                format!(
                    "must lie within the organisation's region {}",
                    org.region_code
                ),
            ));
            region
        }
        Ok(r) => r.into_string(),
        Err(e) => {
            errors.push(FieldError::new(
                "region_code",
                "invalid_region_code",
                e.to_string(),
            ));
            region
        }
    };
    Error::check(errors)?;
    let hash = hash_secret(input.password).await?;
    let id = Uuid::now_v7();
    let ev = audit::by(ctx, caller, "user.create", "user", id);
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let row = users::insert_user(
                conn,
                &NewUser {
                    id,
                    organization_id: org.id,
                    username: &input.username,
                    display_name: input.display_name.trim(),
                    password_hash: &hash,
                    roles: input.roles.clone(),
                    region_code: &region,
                },
            )
            .await?;
            audit::append(
                conn,
                ev.details(json!({"organization_id": org.id, "username": row.username, "roles": input.roles})),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

/// An organisation's users. Administrators and auditors.
pub async fn users_of(ctx: &Context, caller: &Caller, org_id: Uuid) -> Result<Vec<UserRow>> {
    access::read_organizations(caller)?;
    let org = load(ctx, org_id).await?;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    Ok(users::users_of(&mut conn, org.id).await?)
}

/// Changes to a user account.
#[derive(Debug, Default)]
pub struct UserUpdate {
    pub display_name: Option<String>,
    pub roles: Option<Vec<Role>>,
    pub enabled: Option<bool>,
    pub password: Option<String>,
}

/// Updates a user of an organisation. Administrators.
pub async fn update_user(
    ctx: &Context,
    caller: &Caller,
    org_id: Uuid,
    user_id: Uuid,
    update: UserUpdate,
    mut errors: Vec<FieldError>,
    if_match: Option<IfMatch>,
) -> Result<UserRow> {
    access::require_admin(caller)?;
    let org = load(ctx, org_id).await?;
    if let Some(roles) = &update.roles {
        check_roles(org.kind, roles, &mut errors);
    }
    Error::check(errors)?;
    let now = ctx.clock.now();
    let ends_sessions =
        update.password.is_some() || update.enabled == Some(false) || update.roles.is_some();
    let password_changed = update.password.is_some();
    let password_hash = match update.password {
        Some(p) => Some(hash_secret(p).await?),
        None => None,
    };
    let changes = UserChanges {
        display_name: update.display_name.as_ref().map(|d| d.trim().to_owned()),
        password_hash,
        roles: update.roles,
        enabled: update.enabled,
        updated_at: Some(ctx.clock.now()),
    };
    let ev = audit::by(ctx, caller, "user.update", "user", user_id).details(json!({
        "roles": changes.roles, "enabled": update.enabled,
        "display_name": update.display_name, "password_changed": password_changed,
    }));
    let row = transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let user = match users::find_user(conn, user_id).await? {
                Some(u) if u.organization_id == org_id => u,
                _ => return Err(Error::not_found("user")),
            };
            if let Some(m) = &if_match {
                m.check(user.version)?;
            }
            let row = users::update_user(conn, user_id, &changes, user.version)
                .await?
                .ok_or_else(|| lost_update(if_match.as_ref()))?;
            // A new password, a disabled account or other roles end every sign-in's refresh
            // tokens (a stolen one must not outlive a password reset).
            if ends_sessions {
                crate::db::refresh::revoke_user(conn, user_id, now).await?;
            }
            audit::append(conn, ev).await?;
            Ok(row)
        })
    })
    .await?;
    // After the commit, so no request re-reads the old standing into the cache meanwhile.
    ctx.standing.forget(user_id);
    Ok(row)
}

/// Creates an API client; the secret is returned once, only its hash is kept. Administrators.
pub async fn create_client(
    ctx: &Context,
    caller: &Caller,
    org_id: Uuid,
    name: String,
    roles: Vec<Role>,
    mut errors: Vec<FieldError>,
) -> Result<(ClientRow, String)> {
    access::require_admin(caller)?;
    let org = load(ctx, org_id).await?;
    check_roles(org.kind, &roles, &mut errors);
    if roles.contains(&Role::Admin) {
        errors.push(FieldError::new(
            "roles",
            "role_not_allowed",
            "API clients cannot be administrators",
        ));
    }
    Error::check(errors)?;
    let secret = password::random_secret();
    let hash = hash_secret(secret.clone()).await?;
    let client_id = format!("ab_{}", Uuid::new_v4().simple());
    let id = Uuid::now_v7();
    let ev = audit::by(ctx, caller, "api_client.create", "api_client", id);
    let row = transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let row = users::insert_client(
                conn,
                &NewClient {
                    id,
                    organization_id: org.id,
                    client_id: &client_id,
                    name: name.trim(),
                    secret_hash: &hash,
                    roles: roles.clone(),
                },
            )
            .await?;
            audit::append(
                conn,
                ev.details(
                    json!({"organization_id": org.id, "client_id": row.client_id, "roles": roles}),
                ),
            )
            .await?;
            Ok(row)
        })
    })
    .await?;
    Ok((row, secret))
}

/// An organisation's API clients. Administrators and auditors.
pub async fn clients_of(ctx: &Context, caller: &Caller, org_id: Uuid) -> Result<Vec<ClientRow>> {
    access::read_organizations(caller)?;
    let org = load(ctx, org_id).await?;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    Ok(users::clients_of(&mut conn, org.id).await?)
}

/// Enables or disables an API client. Administrators.
pub async fn set_client_enabled(
    ctx: &Context,
    caller: &Caller,
    org_id: Uuid,
    id: Uuid,
    enabled: bool,
    if_match: Option<IfMatch>,
) -> Result<ClientRow> {
    access::require_admin(caller)?;
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, "api_client.update", "api_client", id)
        .details(json!({"enabled": enabled}));
    let row = transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let client = match users::find_client(conn, id).await? {
                Some(c) if c.organization_id == org_id => c,
                _ => return Err(Error::not_found("api client")),
            };
            if let Some(m) = &if_match {
                m.check(client.version)?;
            }
            let row = users::set_client_enabled(conn, id, enabled, now, client.version)
                .await?
                .ok_or_else(|| lost_update(if_match.as_ref()))?;
            audit::append(conn, ev).await?;
            Ok(row)
        })
    })
    .await?;
    // After the commit, so no request re-reads the old standing into the cache meanwhile.
    ctx.standing.forget(id);
    Ok(row)
}
