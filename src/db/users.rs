//! Users and API clients of organisations.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::{api_clients, users};
use super::{Conn, Result};
use crate::domain::role::Role;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub region_code: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every change; the ETag.
    pub version: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub roles: Vec<Role>,
    pub region_code: &'a str,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub password_hash: Option<String>,
    pub roles: Option<Vec<Role>>,
    pub enabled: Option<bool>,
    pub updated_at: Option<DateTime<Utc>>,
}

pub async fn insert_user(conn: &mut Conn, new: &NewUser<'_>) -> Result<UserRow> {
    diesel::insert_into(users::table)
        .values(new)
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Into::into)
}

pub async fn find_user(conn: &mut Conn, id: Uuid) -> Result<Option<UserRow>> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

pub async fn find_user_by_name(conn: &mut Conn, username: &str) -> Result<Option<UserRow>> {
    users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

pub async fn users_of(conn: &mut Conn, organization_id: Uuid) -> Result<Vec<UserRow>> {
    users::table
        .filter(users::organization_id.eq(organization_id))
        .select(UserRow::as_select())
        .order(users::username.asc())
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Applies the changes if the user is still at `version` (else `None`), bumping the version.
pub async fn update_user(
    conn: &mut Conn,
    id: Uuid,
    changes: &UserChanges,
    version: i64,
) -> Result<Option<UserRow>> {
    diesel::update(users::table.find(id).filter(users::version.eq(version)))
        .set((changes, users::version.eq(users::version + 1)))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// Replaces the hash only if it is still `old` (a password changed meanwhile stays changed).
pub async fn set_password_hash(conn: &mut Conn, id: Uuid, old: &str, hash: &str) -> Result<()> {
    diesel::update(users::table.find(id).filter(users::password_hash.eq(old)))
        .set(users::password_hash.eq(hash))
        .execute(conn)
        .await?;
    Ok(())
}

/// Replaces the hash only if it is still `old`.
pub async fn set_client_secret_hash(
    conn: &mut Conn,
    id: Uuid,
    old: &str,
    hash: &str,
) -> Result<()> {
    diesel::update(
        api_clients::table
            .find(id)
            .filter(api_clients::secret_hash.eq(old)),
    )
    .set(api_clients::secret_hash.eq(hash))
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_clients)]
pub struct ClientRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub client_id: String,
    pub name: String,
    pub secret_hash: String,
    pub roles: Vec<Role>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every change; the ETag.
    pub version: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_clients)]
pub struct NewClient<'a> {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub client_id: &'a str,
    pub name: &'a str,
    pub secret_hash: &'a str,
    pub roles: Vec<Role>,
}

pub async fn insert_client(conn: &mut Conn, new: &NewClient<'_>) -> Result<ClientRow> {
    diesel::insert_into(api_clients::table)
        .values(new)
        .returning(ClientRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Into::into)
}

pub async fn find_client_by_client_id(
    conn: &mut Conn,
    client_id: &str,
) -> Result<Option<ClientRow>> {
    api_clients::table
        .filter(api_clients::client_id.eq(client_id))
        .select(ClientRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

pub async fn find_client(conn: &mut Conn, id: Uuid) -> Result<Option<ClientRow>> {
    api_clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

pub async fn clients_of(conn: &mut Conn, organization_id: Uuid) -> Result<Vec<ClientRow>> {
    api_clients::table
        .filter(api_clients::organization_id.eq(organization_id))
        .select(ClientRow::as_select())
        .order(api_clients::created_at.asc())
        .load(conn)
        .await
        .map_err(Into::into)
}

pub async fn set_client_enabled(
    conn: &mut Conn,
    id: Uuid,
    enabled: bool,
    now: DateTime<Utc>,
    version: i64,
) -> Result<Option<ClientRow>> {
    diesel::update(
        api_clients::table
            .find(id)
            .filter(api_clients::version.eq(version)),
    )
    .set((
        api_clients::enabled.eq(enabled),
        api_clients::updated_at.eq(now),
        api_clients::version.eq(api_clients::version + 1),
    ))
    .returning(ClientRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Into::into)
}
