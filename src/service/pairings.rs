//! Volunteer pairing (结对帮扶): charity staff pair a grassroots volunteer of their charity with
//! a person who consented to follow-up by that charity (consents name charities only); the volunteer records visits and
//! sees only the person's consented contact data (each showing recorded) and its own visits.

use chrono::NaiveDate;
use serde_json::json;
use uuid::Uuid;

use super::{access, audit, lost_update, transaction, Context, Error, Result};
use crate::auth::Caller;
use crate::db::pairings::{self, PairingRow, VisitRow};
use crate::db::persons::PersonRow;
use crate::db::{persons, users, Conn};
use crate::domain::aid::{PairingStatus, VisitKind};
use crate::domain::consent::{coverage, Coverage, DataCategory, Purpose};
use crate::domain::role::Role;
use crate::domain::time::local_date;
use crate::privacy::Field;

/// What the caller's organisation may see of the person for follow-up, now.
async fn follow_up_coverage(
    conn: &mut Conn,
    caller: &Caller,
    person: &PersonRow,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Coverage> {
    let who = access::requester(conn, caller).await?;
    let facts: Vec<_> = access::consent_facts(conn, person.id).await?;
    Ok(coverage(&facts, &who, Some(Purpose::FollowUp), now))
}

fn staff(caller: &Caller) -> bool {
    caller.has(Role::Charity)
}

/// Pairs `volunteer_id` (a grassroots user of the caller's organisation) with a person.
pub async fn create(
    ctx: &Context,
    caller: &Caller,
    person_id: Uuid,
    volunteer_id: Uuid,
    started_on: NaiveDate,
) -> Result<PairingRow> {
    caller.require_any(&[Role::Charity])?;
    let now = ctx.clock.now();
    if started_on > local_date(now) {
        return Err(Error::field(
            "started_on",
            "in_the_future",
            "a pairing starts today or earlier",
        ));
    }
    let id = Uuid::now_v7();
    let ev = audit::by(ctx, caller, "pairing.create", "pairing", id);
    let caller = caller.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let volunteer = users::find_user(conn, volunteer_id)
                .await?
                .filter(|u| {
                    u.organization_id == caller.organization_id
                        && u.enabled
                        && u.roles.contains(&Role::Grassroots)
                })
                .ok_or_else(|| {
                    Error::field(
                        "volunteer_id",
                        "not_a_volunteer",
                        "name an enabled grassroots user of your organisation",
                    )
                })?;
            let person = persons::find(conn, person_id)
                .await?
                .ok_or_else(|| Error::not_found("person"))?;
            // Without a follow-up consent naming the charity the person is not there for it.
            let cov = follow_up_coverage(conn, &caller, &person, now).await?;
            if cov.categories.is_empty() {
                return Err(Error::not_found("person"));
            }
            let row = PairingRow {
                id,
                organization_id: caller.organization_id,
                volunteer_id: volunteer.id,
                person_id,
                status: PairingStatus::Active,
                started_on,
                ended_on: None,
                end_reason: None,
                created_by: caller.id,
                created_at: now,
                updated_at: now,
                version: 1,
            };
            pairings::insert(conn, &row).await.map_err(|e| match e {
                crate::db::Error::Duplicate { constraint }
                    if constraint == pairings::ONE_ACTIVE =>
                {
                    Error::conflict(
                        "already_paired",
                        "this volunteer is already paired with the person",
                    )
                }
                other => other.into(),
            })?;
            audit::append(
                conn,
                ev.details(json!({"person_id": person_id, "volunteer_id": volunteer.id})),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

/// A pairing the caller may see: its volunteer, or staff of its organisation.
async fn load(conn: &mut Conn, caller: &Caller, id: Uuid) -> Result<PairingRow> {
    let p = pairings::find(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("pairing"))?;
    let mine = p.volunteer_id == caller.id;
    let org_staff = p.organization_id == caller.organization_id && staff(caller);
    if mine || org_staff {
        Ok(p)
    } else {
        Err(Error::not_found("pairing"))
    }
}

pub async fn list(
    ctx: &Context,
    caller: &Caller,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<PairingRow>> {
    caller.require_any(&[Role::Charity, Role::Grassroots])?;
    let own = (!staff(caller)).then_some(caller.id);
    let mut conn = crate::db::connect(&ctx.pool).await?;
    Ok(pairings::list(&mut conn, caller.organization_id, own, after, limit).await?)
}

/// The person's contact data as the follow-up consent allows it.
#[derive(Debug, Default)]
pub struct Contact {
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// One pairing with the person's consented contact data (recorded when any is shown).
pub async fn get(ctx: &Context, caller: &Caller, id: Uuid) -> Result<(PairingRow, Contact)> {
    let now = ctx.clock.now();
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let p = load(&mut conn, caller, id).await?;
    let person = persons::find(&mut conn, p.person_id)
        .await?
        .ok_or_else(|| Error::not_found("pairing"))?;
    let mut contact = Contact::default();
    if p.status == PairingStatus::Active {
        let cov = follow_up_coverage(&mut conn, caller, &person, now).await?;
        if cov.allows(DataCategory::Identity) || cov.allows(DataCategory::Contact) {
            contact.name = Some(person.name.clone());
        }
        if cov.allows(DataCategory::Contact) {
            if let Some(stored) = &person.phone_encrypted {
                contact.phone = Some(super::persons::decrypt(ctx, Field::Phone, stored)?);
            }
        }
    }
    drop(conn);
    if contact.name.is_some() || contact.phone.is_some() {
        let mut shown = Vec::new();
        if contact.name.is_some() {
            shown.push("name");
        }
        if contact.phone.is_some() {
            shown.push("phone");
        }
        let ev = audit::by(ctx, caller, "person.disclose", "person", p.person_id).details(json!({
            "purpose": "follow_up", "pairing_id": p.id, "fields": shown,
        }));
        audit::record(ctx, ev).await?;
    }
    Ok((p, contact))
}

#[derive(Debug, Clone)]
pub struct VisitInput {
    pub visited_on: NaiveDate,
    pub minutes: i32,
    pub kind: VisitKind,
    pub note: Option<String>,
}

/// Records a visit: the paired volunteer, while the pairing is active, not in the future.
pub async fn add_visit(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    input: VisitInput,
) -> Result<VisitRow> {
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, "pairing.visit", "pairing", id);
    let caller = caller.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let p = load(conn, &caller, id).await?;
            if p.volunteer_id != caller.id {
                return Err(Error::forbidden("only the paired volunteer records visits"));
            }
            if p.status != PairingStatus::Active {
                return Err(Error::conflict("pairing_ended", "the pairing has ended"));
            }
            // Visits go on only while the person's follow-up consent does.
            let person = persons::find(conn, p.person_id)
                .await?
                .ok_or_else(|| Error::not_found("pairing"))?;
            if follow_up_coverage(conn, &caller, &person, now)
                .await?
                .categories
                .is_empty()
            {
                return Err(Error::conflict(
                    "consent_withdrawn",
                    "the person's consent to follow-up is no longer in force",
                ));
            }
            if input.visited_on < p.started_on || input.visited_on > local_date(now) {
                return Err(Error::field(
                    "visited_on",
                    "outside_pairing",
                    "a visit lies between the pairing's start and today",
                ));
            }
            let row = VisitRow {
                id: Uuid::now_v7(),
                pairing_id: id,
                volunteer_id: caller.id,
                visited_on: input.visited_on,
                minutes: input.minutes,
                kind: input.kind,
                note: input.note,
                recorded_at: now,
            };
            pairings::insert_visit(conn, &row).await?;
            audit::append(
                conn,
                ev.details(json!({"visit_id": row.id, "minutes": row.minutes})),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

/// Visits: the volunteer its own; staff of the organisation all.
pub async fn visits(ctx: &Context, caller: &Caller, id: Uuid) -> Result<Vec<VisitRow>> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let p = load(&mut conn, caller, id).await?;
    let only = (!staff(caller) || p.volunteer_id == caller.id).then_some(caller.id);
    Ok(pairings::visits(&mut conn, id, only).await?)
}

/// Ends a pairing: staff of its charity.
pub async fn end(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    reason: Option<String>,
) -> Result<PairingRow> {
    caller.require_any(&[Role::Charity])?;
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, "pairing.end", "pairing", id).reason(reason.clone());
    let caller = caller.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let p = load(conn, &caller, id).await?;
            if p.status != PairingStatus::Active {
                return Err(Error::conflict(
                    "pairing_ended",
                    "the pairing has already ended",
                ));
            }
            let row = pairings::end(conn, &p, local_date(now), reason, now)
                .await?
                .ok_or_else(|| lost_update(None))?;
            audit::append(conn, ev).await?;
            Ok(row)
        })
    })
    .await
}
