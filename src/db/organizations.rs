//! Organisations (组织) repository.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::organizations;
use super::{Conn, Result};
use crate::domain::organization::{OrganizationKind, OrganizationStatus};
use crate::domain::role::Role;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organizations)]
pub struct OrganizationRow {
    pub id: Uuid,
    pub kind: OrganizationKind,
    pub name: String,
    pub uscc: Option<String>,
    pub region_code: String,
    pub status: OrganizationStatus,
    pub public_fundraising: bool,
    pub parent_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every change; the ETag.
    pub version: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = organizations)]
pub struct NewOrganization {
    pub id: Uuid,
    pub kind: OrganizationKind,
    pub name: String,
    pub uscc: Option<String>,
    pub region_code: String,
    pub public_fundraising: bool,
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = organizations)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub status: Option<OrganizationStatus>,
    pub public_fundraising: Option<bool>,
    pub parent_id: Option<Option<Uuid>>,
    pub updated_at: Option<DateTime<Utc>>,
}

pub async fn insert(conn: &mut Conn, new: &NewOrganization) -> Result<OrganizationRow> {
    diesel::insert_into(organizations::table)
        .values(new)
        .returning(OrganizationRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Into::into)
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<OrganizationRow>> {
    organizations::table
        .find(id)
        .select(OrganizationRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

pub async fn update(
    conn: &mut Conn,
    id: Uuid,
    changes: &OrganizationChanges,
    version: i64,
) -> Result<Option<OrganizationRow>> {
    diesel::update(
        organizations::table
            .find(id)
            .filter(organizations::version.eq(version)),
    )
    .set((
        changes,
        organizations::version.eq(organizations::version + 1),
    ))
    .returning(OrganizationRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Into::into)
}

#[derive(Debug, Default)]
pub struct OrganizationFilter {
    pub kind: Option<OrganizationKind>,
    pub region_prefix: Option<String>,
    pub status: Option<OrganizationStatus>,
    /// Part of the name, any case.
    pub name_contains: Option<String>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// Ids are UUIDv7, so ordering by id is creation order and a stable cursor.
pub async fn list(conn: &mut Conn, f: &OrganizationFilter) -> Result<Vec<OrganizationRow>> {
    let mut q = organizations::table
        .select(OrganizationRow::as_select())
        .into_boxed();
    if let Some(k) = &f.kind {
        q = q.filter(organizations::kind.eq(*k));
    }
    if let Some(p) = &f.region_prefix {
        q = q.filter(organizations::region_code.like(format!("{p}%")));
    }
    if let Some(s) = &f.status {
        q = q.filter(organizations::status.eq(*s));
    }
    if let Some(n) = &f.name_contains {
        q = q.filter(organizations::name.ilike(format!("%{}%", escape_like(n))));
    }
    if let Some(a) = f.after {
        q = q.filter(organizations::id.gt(a));
    }
    q.order(organizations::id.asc())
        .limit(f.limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Makes `%`, `_` and `\` match themselves in a LIKE pattern (backslash is the default escape).
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub async fn admin_exists(conn: &mut Conn) -> Result<bool> {
    use super::schema::users;
    diesel::select(diesel::dsl::exists(
        users::table.filter(users::roles.contains(vec![Role::Admin])),
    ))
    .get_result(conn)
    .await
    .map_err(Into::into)
}

/// The member organisations of a federation (those whose parent it is).
pub async fn members(conn: &mut Conn, federation_id: Uuid) -> Result<Vec<Uuid>> {
    organizations::table
        .filter(organizations::parent_id.eq(federation_id))
        .select(organizations::id)
        .load(conn)
        .await
        .map_err(Into::into)
}
