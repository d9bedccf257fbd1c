//! Webhook subscriptions and their deliveries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::{webhook_deliveries, webhook_subscriptions};
use super::{Conn, Result};
use crate::domain::webhook::DeliveryStatus;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_subscriptions)]
pub struct SubscriptionRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub secret_encrypted: String,
    /// `all`, `region` or `organization` (see `service::events::audience`).
    pub audience: String,
    pub region_code: Option<String>,
    pub active: bool,
    pub cursor: i64,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_id: Uuid,
    pub event_position: i64,
    pub event_type: String,
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

pub async fn insert(conn: &mut Conn, row: &SubscriptionRow) -> Result<()> {
    diesel::insert_into(webhook_subscriptions::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<SubscriptionRow>> {
    webhook_subscriptions::table
        .find(id)
        .select(SubscriptionRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

pub async fn of_organization(conn: &mut Conn, org: Uuid) -> Result<Vec<SubscriptionRow>> {
    webhook_subscriptions::table
        .filter(webhook_subscriptions::organization_id.eq(org))
        .select(SubscriptionRow::as_select())
        .order(webhook_subscriptions::id.asc())
        .load(conn)
        .await
        .map_err(Into::into)
}

pub async fn deactivate(conn: &mut Conn, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
    let n = diesel::update(
        webhook_subscriptions::table
            .find(id)
            .filter(webhook_subscriptions::active.eq(true)),
    )
    .set((
        webhook_subscriptions::active.eq(false),
        webhook_subscriptions::updated_at.eq(now),
    ))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Active subscriptions with something to do: events numbered after their cursor (up to `top`,
/// the highest position now), or a delivery due by `now`. Each is then served under its lease;
/// the others cost nothing this pass.
pub async fn due_ids(
    conn: &mut Conn,
    top: i64,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Uuid>> {
    use diesel::dsl::exists;
    webhook_subscriptions::table
        .filter(webhook_subscriptions::active.eq(true))
        .filter(
            webhook_subscriptions::cursor.lt(top).or(exists(
                webhook_deliveries::table
                    .filter(webhook_deliveries::subscription_id.eq(webhook_subscriptions::id))
                    .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending))
                    .filter(webhook_deliveries::next_attempt_at.le(now)),
            )),
        )
        .select(webhook_subscriptions::id)
        .order(webhook_subscriptions::id.asc())
        .limit(limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Takes the subscription for a sender until `until`, unless it has ended or another sender's
/// lease still runs (one statement: of two senders exactly one gets it).
pub async fn take_lease(
    conn: &mut Conn,
    id: Uuid,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<SubscriptionRow>> {
    diesel::update(
        webhook_subscriptions::table
            .find(id)
            .filter(webhook_subscriptions::active.eq(true))
            .filter(
                webhook_subscriptions::lease_until
                    .is_null()
                    .or(webhook_subscriptions::lease_until.le(now)),
            ),
    )
    .set(webhook_subscriptions::lease_until.eq(Some(until)))
    .returning(SubscriptionRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Into::into)
}

/// Extends the lease while the subscription is still active; `false` once it has ended.
pub async fn renew_lease(conn: &mut Conn, id: Uuid, until: DateTime<Utc>) -> Result<bool> {
    let n = diesel::update(
        webhook_subscriptions::table
            .find(id)
            .filter(webhook_subscriptions::active.eq(true)),
    )
    .set(webhook_subscriptions::lease_until.eq(Some(until)))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

pub async fn end_lease(conn: &mut Conn, id: Uuid) -> Result<()> {
    diesel::update(webhook_subscriptions::table.find(id))
        .set(webhook_subscriptions::lease_until.eq(None::<DateTime<Utc>>))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_cursor(conn: &mut Conn, id: Uuid, cursor: i64) -> Result<()> {
    diesel::update(webhook_subscriptions::table.find(id))
        .set(webhook_subscriptions::cursor.eq(cursor))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn add_deliveries(conn: &mut Conn, rows: &[DeliveryRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    diesel::insert_into(webhook_deliveries::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// The subscription's oldest delivery not yet made (the only one that may go next).
pub async fn head(conn: &mut Conn, subscription: Uuid) -> Result<Option<DeliveryRow>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::subscription_id.eq(subscription))
        .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending))
        .select(DeliveryRow::as_select())
        .order(webhook_deliveries::event_position.asc())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// Records an attempt's result.
pub async fn record_attempt(conn: &mut Conn, row: &DeliveryRow) -> Result<()> {
    diesel::update(webhook_deliveries::table.find(row.id))
        .set((
            webhook_deliveries::status.eq(row.status),
            webhook_deliveries::attempts.eq(row.attempts),
            webhook_deliveries::next_attempt_at.eq(row.next_attempt_at),
            webhook_deliveries::last_status_code.eq(row.last_status_code),
            webhook_deliveries::last_error.eq(&row.last_error),
            webhook_deliveries::delivered_at.eq(row.delivered_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A subscription's deliveries, newest first, after the cursor (a delivery id).
pub async fn deliveries(
    conn: &mut Conn,
    subscription: Uuid,
    status: Option<DeliveryStatus>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DeliveryRow>> {
    let mut q = webhook_deliveries::table
        .filter(webhook_deliveries::subscription_id.eq(subscription))
        .select(DeliveryRow::as_select())
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(webhook_deliveries::status.eq(s));
    }
    if let Some(b) = before {
        q = q.filter(webhook_deliveries::id.lt(b));
    }
    q.order(webhook_deliveries::id.desc())
        .limit(limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

pub async fn find_delivery(
    conn: &mut Conn,
    subscription: Uuid,
    id: Uuid,
) -> Result<Option<DeliveryRow>> {
    webhook_deliveries::table
        .find(id)
        .filter(webhook_deliveries::subscription_id.eq(subscription))
        .select(DeliveryRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// Queues a delivered or dead delivery again, due now.
pub async fn requeue(
    conn: &mut Conn,
    subscription: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<DeliveryRow>> {
    diesel::update(
        webhook_deliveries::table
            .find(id)
            .filter(webhook_deliveries::subscription_id.eq(subscription))
            .filter(webhook_deliveries::status.ne(DeliveryStatus::Pending)),
    )
    .set((
        webhook_deliveries::status.eq(DeliveryStatus::Pending),
        webhook_deliveries::attempts.eq(0),
        webhook_deliveries::next_attempt_at.eq(now),
        webhook_deliveries::delivered_at.eq(None::<DateTime<Utc>>),
    ))
    .returning(DeliveryRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Into::into)
}

/// Deletes up to `limit` ended deliveries (delivered or dead) made before `before`; pending ones
/// stay until they end.
pub async fn purge_ended(conn: &mut Conn, before: DateTime<Utc>, limit: i64) -> Result<usize> {
    diesel::sql_query(
        "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
         WHERE status <> 'pending' AND created_at < $1 LIMIT $2)",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(before)
    .bind::<diesel::sql_types::Int8, _>(limit)
    .execute(conn)
    .await
    .map_err(Into::into)
}

/// The organisation's active subscriptions, counted under a lock of the organisation's row, so
/// that of two racing subscriptions the second counts the first.
pub async fn lock_and_count_active(conn: &mut Conn, organization: Uuid) -> Result<i64> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query("SELECT 1 FROM organizations WHERE id = $1 FOR NO KEY UPDATE")
        .bind::<diesel::sql_types::Uuid, _>(organization)
        .execute(conn)
        .await?;
    let row: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM webhook_subscriptions WHERE organization_id = $1 AND active",
    )
    .bind::<diesel::sql_types::Uuid, _>(organization)
    .get_result(conn)
    .await?;
    Ok(row.n)
}
