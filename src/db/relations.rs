//! Staff's declared relatives (优亲厚友), by keyed hash of the ID number only.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::staff_relations;
use super::{Conn, Result};

/// The index that allows one active declaration of a relative per user.
pub const ONE_ACTIVE: &str = "staff_relations_one_active_idx";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = staff_relations)]
pub struct RelationRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub relative_id_hash: String,
    pub relation: String,
    pub declared_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
}

pub async fn insert(conn: &mut Conn, row: &RelationRow) -> Result<()> {
    diesel::insert_into(staff_relations::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

/// A user's active declarations.
pub async fn of_user(conn: &mut Conn, user_id: Uuid) -> Result<Vec<RelationRow>> {
    staff_relations::table
        .filter(staff_relations::user_id.eq(user_id))
        .filter(staff_relations::removed_at.is_null())
        .select(RelationRow::as_select())
        .order(staff_relations::declared_at.asc())
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Every declaration of an organisation's staff, removed ones included (supervision).
pub async fn of_organization(conn: &mut Conn, organization_id: Uuid) -> Result<Vec<RelationRow>> {
    staff_relations::table
        .filter(staff_relations::organization_id.eq(organization_id))
        .select(RelationRow::as_select())
        .order(staff_relations::id.asc())
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Removes one of the user's active declarations (kept on record).
pub async fn remove(conn: &mut Conn, user_id: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
    let n = diesel::update(
        staff_relations::table
            .find(id)
            .filter(staff_relations::user_id.eq(user_id))
            .filter(staff_relations::removed_at.is_null()),
    )
    .set(staff_relations::removed_at.eq(now))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Whether `user_id` declared the person with this ID-number hash as a relative.
pub async fn is_relative(conn: &mut Conn, user_id: Uuid, id_hash: &str) -> Result<bool> {
    diesel::select(diesel::dsl::exists(
        staff_relations::table
            .filter(staff_relations::user_id.eq(user_id))
            .filter(staff_relations::relative_id_hash.eq(id_hash))
            .filter(staff_relations::removed_at.is_null()),
    ))
    .get_result(conn)
    .await
    .map_err(Into::into)
}
