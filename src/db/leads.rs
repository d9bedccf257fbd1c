//! Leads (线索).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::leads;
use super::{Conn, Result};
use crate::domain::lead::{LeadOutcome, LeadStatus};
use crate::domain::need::NeedCategory;
use crate::domain::person::Programme;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = leads)]
pub struct LeadRow {
    pub id: Uuid,
    pub reporter_id: Uuid,
    pub reporter_organization_id: Uuid,
    /// Where the lead is handled (the registered person's region, else the one reported).
    pub region_code: String,
    /// The region as reported (all the reporter is shown).
    pub reported_region_code: String,
    /// The registered person the lead is about (as reported, found by ID number, or registered
    /// when aid was granted).
    pub person_id: Option<Uuid>,
    /// The person id the reporter gave, if any.
    pub reported_person_id: Option<Uuid>,
    pub name: Option<String>,
    pub id_number_encrypted: Option<String>,
    pub id_number_hash: Option<String>,
    pub id_number_masked: Option<String>,
    pub phone_encrypted: Option<String>,
    pub phone_masked: Option<String>,
    pub person_agreed: bool,
    pub suspected_programmes: Vec<Programme>,
    pub need_categories: Vec<NeedCategory>,
    pub description: Option<String>,
    pub status: LeadStatus,
    pub acknowledge_due_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub assessing_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub handled_by_organization_id: Option<Uuid>,
    pub outcome: Option<LeadOutcome>,
    pub outcome_note: Option<String>,
    pub duplicate_of_id: Option<Uuid>,
    pub government_aid_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

pub async fn insert(conn: &mut Conn, row: &LeadRow) -> Result<()> {
    diesel::insert_into(leads::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<LeadRow>> {
    leads::table
        .find(id)
        .select(LeadRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// The lead, row-locked for this transaction (concurrent closings queue here).
pub async fn lock(conn: &mut Conn, id: Uuid) -> Result<Option<LeadRow>> {
    leads::table
        .find(id)
        .select(LeadRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// Writes `next` over `current` only if nobody changed it meanwhile (status and version as
/// read); `None` when somebody did.
pub async fn transition(
    conn: &mut Conn,
    current: &LeadRow,
    next: &LeadRow,
) -> Result<Option<LeadRow>> {
    diesel::update(
        leads::table
            .find(current.id)
            .filter(leads::status.eq(current.status))
            .filter(leads::version.eq(current.version)),
    )
    .set((
        leads::status.eq(next.status),
        leads::person_id.eq(next.person_id),
        leads::acknowledged_at.eq(next.acknowledged_at),
        leads::assessing_at.eq(next.assessing_at),
        leads::closed_at.eq(next.closed_at),
        leads::handled_by_organization_id.eq(next.handled_by_organization_id),
        leads::outcome.eq(next.outcome),
        leads::outcome_note.eq(&next.outcome_note),
        leads::duplicate_of_id.eq(next.duplicate_of_id),
        leads::government_aid_id.eq(next.government_aid_id),
        leads::updated_at.eq(next.updated_at),
        leads::version.eq(leads::version + 1),
    ))
    .returning(LeadRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Into::into)
}

/// Which leads a list shows.
#[derive(Debug, Default)]
pub struct LeadFilter {
    /// Of regions under this prefix (a bureau).
    pub region_prefix: Option<String>,
    /// Reported by this organisation (a charity).
    pub reporter_organization_id: Option<Uuid>,
    /// Reported by this user (a grassroots worker).
    pub reporter_id: Option<Uuid>,
    pub status: Option<LeadStatus>,
    /// Submitted and past the acknowledgement deadline at this time.
    pub unacknowledged_at: Option<DateTime<Utc>>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

pub async fn list(conn: &mut Conn, f: &LeadFilter) -> Result<Vec<LeadRow>> {
    let mut q = leads::table.select(LeadRow::as_select()).into_boxed();
    if let Some(p) = &f.region_prefix {
        q = q.filter(leads::region_code.like(format!("{p}%")));
    }
    if let Some(o) = f.reporter_organization_id {
        q = q.filter(leads::reporter_organization_id.eq(o));
    }
    if let Some(u) = f.reporter_id {
        q = q.filter(leads::reporter_id.eq(u));
    }
    if let Some(s) = f.status {
        q = q.filter(leads::status.eq(s));
    }
    if let Some(t) = f.unacknowledged_at {
        q = q
            .filter(leads::status.eq(LeadStatus::Submitted))
            .filter(leads::acknowledge_due_at.lt(t));
    }
    if let Some(a) = f.after {
        q = q.filter(leads::id.gt(a));
    }
    q.order(leads::id.asc())
        .limit(f.limit)
        .load(conn)
        .await
        .map_err(Into::into)
}
