//! Referrals (转介) and their history.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::{referral_history, referral_notes, referrals};
use super::{Conn, Result};
use crate::domain::need::Urgency;
use crate::domain::referral::{DeclineReason, LegalBasis, ReferralStatus};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = referrals)]
pub struct ReferralRow {
    pub id: Uuid,
    pub person_id: Uuid,
    pub need_ids: Vec<Uuid>,
    pub referring_organization_id: Uuid,
    pub referred_by: Uuid,
    pub target_organization_id: Option<Uuid>,
    pub target_region_code: Option<String>,
    pub owner_organization_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub urgency: Urgency,
    pub note: Option<String>,
    pub legal_basis: LegalBasis,
    pub emergency_justification: Option<String>,
    pub status: ReferralStatus,
    pub response_due_at: DateTime<Utc>,
    pub feedback_due_at: Option<DateTime<Utc>>,
    pub decline_reason: Option<DeclineReason>,
    pub outcome: Option<String>,
    pub cancel_reason: Option<String>,
    pub aid_record_ids: Vec<Uuid>,
    pub previous_referral_id: Option<Uuid>,
    pub forwarded_from_id: Option<Uuid>,
    pub forwarded_to_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// When the emergency basis began for the case (kept along forwards and re-referrals).
    pub emergency_since: Option<DateTime<Utc>>,
}

pub async fn insert(conn: &mut Conn, row: &ReferralRow) -> Result<()> {
    diesel::insert_into(referrals::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<ReferralRow>> {
    referrals::table
        .find(id)
        .select(ReferralRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// What a transition writes besides the status.
#[derive(Debug, Default, Clone)]
pub struct Transition {
    pub owner_organization_id: Option<Uuid>,
    pub feedback_due_at: Option<DateTime<Utc>>,
    pub decline_reason: Option<DeclineReason>,
    pub cancel_reason: Option<String>,
    pub outcome: Option<String>,
    pub aid_record_ids: Option<Vec<Uuid>>,
    pub forwarded_to_id: Option<Uuid>,
}

/// Moves the referral from `from` to `to` only if it is still `from` at `version`: of racing
/// callers exactly one gets the row back.
pub async fn transition(
    conn: &mut Conn,
    r: &ReferralRow,
    to: ReferralStatus,
    t: &Transition,
    now: DateTime<Utc>,
) -> Result<Option<ReferralRow>> {
    diesel::update(
        referrals::table
            .find(r.id)
            .filter(referrals::status.eq(r.status))
            .filter(referrals::version.eq(r.version)),
    )
    .set((
        referrals::status.eq(to),
        referrals::owner_organization_id.eq(t.owner_organization_id.or(r.owner_organization_id)),
        referrals::feedback_due_at.eq(t.feedback_due_at.or(r.feedback_due_at)),
        referrals::decline_reason.eq(t.decline_reason.or(r.decline_reason)),
        referrals::cancel_reason.eq(t.cancel_reason.clone().or(r.cancel_reason.clone())),
        referrals::outcome.eq(t.outcome.clone().or(r.outcome.clone())),
        referrals::aid_record_ids.eq(t.aid_record_ids.clone().unwrap_or(r.aid_record_ids.clone())),
        referrals::forwarded_to_id.eq(t.forwarded_to_id.or(r.forwarded_to_id)),
        referrals::updated_at.eq(now),
        referrals::version.eq(referrals::version + 1),
    ))
    .returning(ReferralRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Into::into)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = referral_history)]
pub struct HistoryRow {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub from_status: Option<ReferralStatus>,
    pub to_status: ReferralStatus,
    pub actor_id: Option<Uuid>,
    pub actor_organization_id: Option<Uuid>,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

pub async fn add_history(conn: &mut Conn, row: &HistoryRow) -> Result<()> {
    diesel::insert_into(referral_history::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn history(conn: &mut Conn, referral_id: Uuid) -> Result<Vec<HistoryRow>> {
    referral_history::table
        .filter(referral_history::referral_id.eq(referral_id))
        .select(HistoryRow::as_select())
        .order((referral_history::at.asc(), referral_history::id.asc()))
        .load(conn)
        .await
        .map_err(Into::into)
}

#[derive(Debug, Default)]
pub struct ReferralFilter {
    /// Sent by this organisation.
    pub referring_organization_id: Option<Uuid>,
    /// Received: addressed to or owned by this organisation, or open to charities of a region
    /// covering `open_region` (while pending).
    pub received_by: Option<(Uuid, Vec<String>)>,
    pub status: Option<ReferralStatus>,
    /// Of people living under this region prefix.
    pub person_region: Option<String>,
    pub urgency: Option<Urgency>,
    pub project_id: Option<Uuid>,
    /// Past the response deadline (pending) or the feedback deadline (accepted, in progress)
    /// at this time.
    pub overdue_at: Option<DateTime<Utc>>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

pub async fn list(conn: &mut Conn, f: &ReferralFilter) -> Result<Vec<ReferralRow>> {
    let Some((org, regions)) = &f.received_by else {
        return filtered(f).load(conn).await.map_err(Into::into);
    };
    // Received: addressed to the charity, owned by it, or offered to its regions. One OR over
    // the three makes PostgreSQL walk the primary key filtering (the matching rows are sparse:
    // 139 ms at 480,000 referrals); each part alone follows its own index in id order. The
    // first `limit` of the union are among the first `limit` of the parts.
    let mut rows = filtered(f)
        .filter(referrals::target_organization_id.eq(*org))
        .load(conn)
        .await?;
    rows.extend(
        filtered(f)
            .filter(referrals::owner_organization_id.eq(*org))
            .load(conn)
            .await?,
    );
    if !regions.is_empty() {
        rows.extend(
            filtered(f)
                .filter(referrals::target_region_code.eq_any(regions.clone()))
                .filter(referrals::status.eq(ReferralStatus::Pending))
                .load(conn)
                .await?,
        );
    }
    rows.sort_by_key(|r| r.id);
    rows.dedup_by_key(|r| r.id);
    rows.truncate(usize::try_from(f.limit).unwrap_or(0));
    Ok(rows)
}

/// Every filter but the received-by one, in id order, limited.
type Selected = diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<ReferralRow, diesel::pg::Pg>>;

fn filtered(f: &ReferralFilter) -> referrals::BoxedQuery<'static, diesel::pg::Pg, Selected> {
    let mut q = referrals::table
        .select(ReferralRow::as_select())
        .into_boxed();
    if let Some(o) = f.referring_organization_id {
        q = q.filter(referrals::referring_organization_id.eq(o));
    }
    if let Some(s) = f.status {
        q = q.filter(referrals::status.eq(s));
    }
    if let Some(r) = &f.person_region {
        use super::schema::persons;
        q = q.filter(
            referrals::person_id.eq_any(
                persons::table
                    .filter(persons::region_code.like(format!("{r}%")))
                    .select(persons::id),
            ),
        );
    }
    if let Some(u) = f.urgency {
        q = q.filter(referrals::urgency.eq(u));
    }
    if let Some(p) = f.project_id {
        q = q.filter(referrals::project_id.eq(p));
    }
    if let Some(t) = f.overdue_at {
        q = q.filter(
            referrals::status
                .eq(ReferralStatus::Pending)
                .and(referrals::response_due_at.lt(t))
                .or(referrals::status
                    .eq_any([ReferralStatus::Accepted, ReferralStatus::InProgress])
                    .and(referrals::feedback_due_at.lt(t))),
        );
    }
    if let Some(a) = f.after {
        q = q.filter(referrals::id.gt(a));
    }
    q.order(referrals::id.asc()).limit(f.limit)
}

/// Pending referrals past their answer deadline, locked for this transaction; rows another
/// instance's sweeper holds are skipped (several servers may sweep at once).
pub async fn lock_overdue(
    conn: &mut Conn,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ReferralRow>> {
    referrals::table
        .filter(referrals::status.eq(ReferralStatus::Pending))
        .filter(referrals::response_due_at.lt(now))
        .select(ReferralRow::as_select())
        .order(referrals::response_due_at.asc())
        .limit(limit)
        .for_update()
        .skip_locked()
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Open referrals on the emergency basis whose emergency began before `cutoff`: (id, person).
pub async fn emergency_before(
    conn: &mut Conn,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(Uuid, Uuid)>> {
    referrals::table
        .filter(referrals::legal_basis.eq(LegalBasis::Emergency))
        .filter(referrals::status.eq_any([
            ReferralStatus::Pending,
            ReferralStatus::Accepted,
            ReferralStatus::InProgress,
        ]))
        .filter(referrals::emergency_since.le(cutoff))
        .select((referrals::id, referrals::person_id))
        .order(referrals::emergency_since.asc())
        .limit(limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

/// The referral, row-locked for this transaction; `None` if another transaction holds it.
pub async fn lock_skip(conn: &mut Conn, id: Uuid) -> Result<Option<ReferralRow>> {
    referrals::table
        .find(id)
        .select(ReferralRow::as_select())
        .for_update()
        .skip_locked()
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// Whether a referral of the person was cancelled for want of consent (`no_consent`) since `since`.
pub async fn cancelled_for_no_consent_since(
    conn: &mut Conn,
    person_id: Uuid,
    since: DateTime<Utc>,
) -> Result<bool> {
    diesel::select(diesel::dsl::exists(
        referrals::table
            .filter(referrals::person_id.eq(person_id))
            .filter(referrals::status.eq(ReferralStatus::Cancelled))
            .filter(referrals::cancel_reason.eq("no_consent"))
            .filter(referrals::updated_at.ge(since)),
    ))
    .get_result(conn)
    .await
    .map_err(Into::into)
}

/// The person's consent now covers the referral: it rests on consent from here on.
pub async fn adopt_consent(
    conn: &mut Conn,
    r: &ReferralRow,
    now: DateTime<Utc>,
) -> Result<Option<ReferralRow>> {
    diesel::update(
        referrals::table
            .find(r.id)
            .filter(referrals::version.eq(r.version))
            .filter(referrals::legal_basis.eq(LegalBasis::Emergency)),
    )
    .set((
        referrals::legal_basis.eq(LegalBasis::Consent),
        referrals::updated_at.eq(now),
        referrals::version.eq(referrals::version + 1),
    ))
    .returning(ReferralRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Into::into)
}

/// A person's referrals that have not ended, locked for the transaction.
pub async fn open_of_person(conn: &mut Conn, person_id: Uuid) -> Result<Vec<ReferralRow>> {
    referrals::table
        .filter(referrals::person_id.eq(person_id))
        .filter(referrals::status.eq_any([
            ReferralStatus::Pending,
            ReferralStatus::Accepted,
            ReferralStatus::InProgress,
        ]))
        .select(ReferralRow::as_select())
        .for_update()
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Which of `r`'s needs another open referral of the same person also names.
pub async fn needs_held_elsewhere(conn: &mut Conn, r: &ReferralRow) -> Result<Vec<Uuid>> {
    let others: Vec<Vec<Uuid>> = referrals::table
        .filter(referrals::person_id.eq(r.person_id))
        .filter(referrals::id.ne(r.id))
        .filter(referrals::status.eq_any([
            ReferralStatus::Pending,
            ReferralStatus::Accepted,
            ReferralStatus::InProgress,
        ]))
        .filter(referrals::need_ids.overlaps_with(r.need_ids.clone()))
        .select(referrals::need_ids)
        .load(conn)
        .await?;
    Ok(others.into_iter().flatten().collect())
}

/// The legal bases of the person's open referrals addressed to or owned by `org`.
pub async fn open_bases_for(
    conn: &mut Conn,
    person_id: Uuid,
    org: Uuid,
) -> Result<Vec<LegalBasis>> {
    referrals::table
        .filter(referrals::person_id.eq(person_id))
        .filter(
            referrals::target_organization_id
                .eq(org)
                .or(referrals::owner_organization_id.eq(org)),
        )
        .filter(referrals::status.eq_any([
            ReferralStatus::Pending,
            ReferralStatus::Accepted,
            ReferralStatus::InProgress,
        ]))
        .select(referrals::legal_basis)
        .load(conn)
        .await
        .map_err(Into::into)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = referral_notes)]
pub struct NoteRow {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub author_id: Uuid,
    pub author_organization_id: Uuid,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

pub async fn add_note(conn: &mut Conn, row: &NoteRow) -> Result<()> {
    diesel::insert_into(referral_notes::table)
        .values(row)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn notes(conn: &mut Conn, referral_id: Uuid) -> Result<Vec<NoteRow>> {
    referral_notes::table
        .filter(referral_notes::referral_id.eq(referral_id))
        .select(NoteRow::as_select())
        .order((referral_notes::created_at.asc(), referral_notes::id.asc()))
        .load(conn)
        .await
        .map_err(Into::into)
}
