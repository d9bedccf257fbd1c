//! Volunteer pairings (结对帮扶) and their visits.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::{pairing_visits, pairings};
use super::{Conn, Result};
use crate::domain::aid::{PairingStatus, VisitKind};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = pairings)]
pub struct PairingRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub volunteer_id: Uuid,
    pub person_id: Uuid,
    pub status: PairingStatus,
    pub started_on: NaiveDate,
    pub ended_on: Option<NaiveDate>,
    pub end_reason: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// The index that allows one active pairing of a volunteer with a person.
pub const ONE_ACTIVE: &str = "pairings_one_active_idx";

pub async fn insert(conn: &mut Conn, row: &PairingRow) -> Result<()> {
    diesel::insert_into(pairings::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<PairingRow>> {
    pairings::table
        .find(id)
        .select(PairingRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// Ends an active pairing (only if still active at `version`).
pub async fn end(
    conn: &mut Conn,
    p: &PairingRow,
    on: NaiveDate,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Option<PairingRow>> {
    diesel::update(
        pairings::table
            .find(p.id)
            .filter(pairings::status.eq(PairingStatus::Active))
            .filter(pairings::version.eq(p.version)),
    )
    .set((
        pairings::status.eq(PairingStatus::Ended),
        pairings::ended_on.eq(Some(on)),
        pairings::end_reason.eq(reason),
        pairings::updated_at.eq(now),
        pairings::version.eq(pairings::version + 1),
    ))
    .returning(PairingRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Into::into)
}

/// An organisation's pairings, or one volunteer's.
pub async fn list(
    conn: &mut Conn,
    organization_id: Uuid,
    volunteer_id: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<PairingRow>> {
    let mut q = pairings::table
        .filter(pairings::organization_id.eq(organization_id))
        .select(PairingRow::as_select())
        .into_boxed();
    if let Some(v) = volunteer_id {
        q = q.filter(pairings::volunteer_id.eq(v));
    }
    if let Some(a) = after {
        q = q.filter(pairings::id.gt(a));
    }
    q.order(pairings::id.asc())
        .limit(limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = pairing_visits)]
pub struct VisitRow {
    pub id: Uuid,
    pub pairing_id: Uuid,
    pub volunteer_id: Uuid,
    pub visited_on: NaiveDate,
    pub minutes: i32,
    pub kind: VisitKind,
    pub note: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

pub async fn insert_visit(conn: &mut Conn, row: &VisitRow) -> Result<()> {
    diesel::insert_into(pairing_visits::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

/// A pairing's visits (of one volunteer, when given), in date order.
pub async fn visits(
    conn: &mut Conn,
    pairing_id: Uuid,
    volunteer_id: Option<Uuid>,
) -> Result<Vec<VisitRow>> {
    let mut q = pairing_visits::table
        .filter(pairing_visits::pairing_id.eq(pairing_id))
        .select(VisitRow::as_select())
        .into_boxed();
    if let Some(v) = volunteer_id {
        q = q.filter(pairing_visits::volunteer_id.eq(v));
    }
    q.order((pairing_visits::visited_on.asc(), pairing_visits::id.asc()))
        .load(conn)
        .await
        .map_err(Into::into)
}
