//! Leads (线索): reverse referral and grassroots discovery. Charities and grassroots workers
//! report someone who may qualify for government aid — a registered person, or minimal details
//! of someone not yet registered; the bureau of the lead's region acknowledges (by a deadline),
//! assesses and closes it with an outcome, granting aid (and registering the person) where due.
//! The reporter follows the status and outcome and never learns more of the person than it
//! reported. Every transition is conditional on the state read, with its audit and outbox event.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::events::{self, Event};
use super::persons::{NewAid, NewRegistration};
use super::{audit, transaction, Context, Error, Result};
use crate::auth::Caller;
use crate::db::leads::{self, LeadFilter, LeadRow};
use crate::db::persons::{self as person_rows, NewGovernmentAid};
use crate::db::Conn;
use crate::domain::lead::{can_transition, LeadOutcome, LeadStatus};
use crate::domain::need::NeedCategory;
use crate::domain::person::Programme;
use crate::domain::phone::MobilePhone;
use crate::domain::resident_id::ResidentId;
use crate::domain::role::Role;
use crate::privacy::Field;

/// Whom a lead is about.
#[derive(Debug)]
pub enum Subject {
    /// A registered person (its id as the reporter knows it).
    Person(Uuid),
    /// Someone not yet registered: minimal details.
    Unregistered {
        name: String,
        id: Option<ResidentId>,
        phone: Option<MobilePhone>,
    },
}

#[derive(Debug)]
pub struct NewLead {
    pub subject: Subject,
    pub region_code: String,
    /// Whether the person agreed to be reported.
    pub person_agreed: bool,
    pub suspected_programmes: Vec<Programme>,
    pub need_categories: Vec<NeedCategory>,
    pub description: Option<String>,
}

/// How the bureau closes a lead.
#[derive(Debug)]
pub enum Closing {
    /// Government aid granted: recorded for the person, who is registered first when the lead
    /// named someone unregistered (their ID number from the lead or given here).
    AidGranted {
        aid: NewAid,
        id_number: Option<ResidentId>,
    },
    NotEligible,
    Duplicate(Uuid),
    Unreachable,
}

impl Closing {
    fn outcome(&self) -> LeadOutcome {
        match self {
            Closing::AidGranted { .. } => LeadOutcome::AidGranted,
            Closing::NotEligible => LeadOutcome::NotEligible,
            Closing::Duplicate(_) => LeadOutcome::Duplicate,
            Closing::Unreachable => LeadOutcome::Unreachable,
        }
    }
}

/// How the caller stands towards a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadSide {
    /// A bureau covering the lead's region: sees all, acts.
    Bureau,
    /// The reporter (its organisation for charities, the worker for grassroots): status and
    /// outcome, and only what it reported.
    Reporter,
    Auditor,
}

fn side(caller: &Caller, l: &LeadRow) -> Option<LeadSide> {
    if caller.has(Role::CivilAffairs) && caller.covers_region(&l.region_code) {
        Some(LeadSide::Bureau)
    } else if (caller.has(Role::Charity) && l.reporter_organization_id == caller.organization_id)
        || l.reporter_id == caller.id
    {
        Some(LeadSide::Reporter)
    } else if caller.has(Role::Auditor) {
        Some(LeadSide::Auditor)
    } else {
        None
    }
}

async fn load(conn: &mut Conn, caller: &Caller, id: Uuid) -> Result<(LeadRow, LeadSide)> {
    let l = leads::find(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("lead"))?;
    match side(caller, &l) {
        Some(s) => Ok((l, s)),
        None => Err(Error::not_found("lead")),
    }
}

/// The lead's event: the bureaus of its region see it, and the reporting charity (a grassroots
/// worker's organisation may be another region's bureau, which has no business with it).
async fn announce(conn: &mut Conn, l: &LeadRow, change: &str, now: DateTime<Utc>) -> Result<()> {
    let charity = crate::db::organizations::find(conn, l.reporter_organization_id)
        .await?
        .filter(|o| o.kind.is_charity())
        .map(|o| o.id);
    let e = Event::new(format!("lead.{change}"), "lead", l.id)
        .region(&l.region_code)
        .organizations([charity])
        .payload(json!({"status": l.status, "outcome": l.outcome, "version": l.version}));
    events::emit(conn, e, now).await
}

fn encrypt(ctx: &Context, field: Field, plain: &str) -> Result<String> {
    ctx.keys.encrypt(field, plain).map_err(Error::internal)
}

/// Reports a lead (上报线索): charity staff and grassroots workers.
pub async fn submit(ctx: &Context, caller: &Caller, input: NewLead) -> Result<LeadRow> {
    caller.require_any(&[Role::Charity, Role::Grassroots])?;
    let now = ctx.clock.now();
    let id = Uuid::now_v7();
    let (mut row_person, reported_person_id, name, id_fields, phone_fields) = match input.subject {
        Subject::Person(pid) => (Some(pid), Some(pid), None, None, None),
        Subject::Unregistered { name, id, phone } => {
            let id_fields = match &id {
                Some(r) => Some((
                    encrypt(ctx, Field::IdNumber, r.expose())?,
                    ctx.keys.blind_index(r.expose()),
                    r.masked(),
                )),
                None => None,
            };
            let phone_fields = match &phone {
                Some(p) => Some((encrypt(ctx, Field::Phone, p.expose())?, p.masked())),
                None => None,
            };
            (
                None,
                None,
                Some(name.trim().to_owned()),
                id_fields,
                phone_fields,
            )
        }
    };
    let mut row = LeadRow {
        id,
        reporter_id: caller.id,
        reporter_organization_id: caller.organization_id,
        reported_region_code: input.region_code.clone(),
        region_code: input.region_code,
        person_id: None,
        reported_person_id,
        name,
        id_number_encrypted: id_fields.as_ref().map(|f| f.0.clone()),
        id_number_hash: id_fields.as_ref().map(|f| f.1.clone()),
        id_number_masked: id_fields.map(|f| f.2),
        phone_encrypted: phone_fields.as_ref().map(|f| f.0.clone()),
        phone_masked: phone_fields.map(|f| f.1),
        person_agreed: input.person_agreed,
        suspected_programmes: dedup(input.suspected_programmes),
        need_categories: dedup(input.need_categories),
        description: input.description,
        status: LeadStatus::Submitted,
        acknowledge_due_at: now + ctx.config.deadlines.lead_acknowledge,
        acknowledged_at: None,
        assessing_at: None,
        closed_at: None,
        handled_by_organization_id: None,
        outcome: None,
        outcome_note: None,
        duplicate_of_id: None,
        government_aid_id: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let ev = audit::by(ctx, caller, "lead.create", "lead", id);
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            if let Some(pid) = row_person.take() {
                // Handled where the person lives, whatever region the reporter gave: the answer
                // never depends on the region, so a lead cannot probe where someone lives.
                let region = person_rows::region_of(conn, pid)
                    .await?
                    .ok_or_else(|| Error::field("person_id", "not_found", "no such person"))?;
                row.region_code = region;
                row.person_id = Some(pid);
            } else if let Some(h) = &row.id_number_hash {
                // Already registered in the region reported: linked for the bureau (the
                // reporter is not told). Registered elsewhere: left to the bureau's assessment.
                row.person_id = person_rows::find_by_id_hash(conn, h)
                    .await?
                    .filter(|p| crate::domain::region::covers(&row.region_code, &p.region_code))
                    .map(|p| p.id);
            }
            leads::insert(conn, &row).await?;
            announce(conn, &row, "submitted", now).await?;
            audit::append(
                conn,
                ev.details(
                    json!({"region_code": row.region_code, "person_id": row.person_id,
                                  "person_agreed": row.person_agreed}),
                ),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

fn dedup<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

/// One lead as far as the caller may see it (auditors' reads are recorded).
pub async fn get(ctx: &Context, caller: &Caller, id: Uuid) -> Result<(LeadRow, LeadSide)> {
    let (l, s) = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        load(&mut conn, caller, id).await?
    };
    if s == LeadSide::Auditor {
        audit::record_supervision_read(ctx, caller, "lead.read", "lead", Some(id), json!({}))
            .await?;
    }
    Ok((l, s))
}

/// Leads: a bureau its region's, a charity its organisation's, a grassroots worker its own,
/// auditors all (recorded).
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    mut filter: LeadFilter,
) -> Result<Vec<(LeadRow, LeadSide)>> {
    let as_side = if caller.has(Role::CivilAffairs) {
        filter.region_prefix = Some(caller.region.as_str().to_owned());
        LeadSide::Bureau
    } else if caller.has(Role::Charity) {
        filter.reporter_organization_id = Some(caller.organization_id);
        LeadSide::Reporter
    } else if caller.has(Role::Grassroots) {
        filter.reporter_id = Some(caller.id);
        LeadSide::Reporter
    } else if caller.has(Role::Auditor) {
        LeadSide::Auditor
    } else {
        return Err(Error::forbidden(
            "leads are for bureaus, reporters and auditors",
        ));
    };
    let rows = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        leads::list(&mut conn, &filter).await?
    };
    if as_side == LeadSide::Auditor {
        audit::record_supervision_read(ctx, caller, "lead.list", "lead", None, json!({})).await?;
    }
    Ok(rows.into_iter().map(|r| (r, as_side)).collect())
}

/// The identifiers a lead carries for someone not yet registered, in clear.
#[derive(Debug)]
pub struct Revealed {
    pub id_number: Option<String>,
    pub phone: Option<String>,
}

/// Shows the bureau of the lead's region the ID number and phone a reporter gave, so that it
/// can reach the person; recorded (with the reason) before anything is shown.
pub async fn reveal(ctx: &Context, caller: &Caller, id: Uuid, reason: String) -> Result<Revealed> {
    caller.require_any(&[Role::CivilAffairs])?;
    let (lead, as_side) = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        load(&mut conn, caller, id).await?
    };
    if as_side != LeadSide::Bureau {
        return Err(bureau_only());
    }
    let open = |stored: &Option<String>, field| match stored {
        Some(s) => super::persons::decrypt(ctx, field, s).map(Some),
        None => Ok(None),
    };
    let shown = Revealed {
        id_number: open(&lead.id_number_encrypted, Field::IdNumber)?,
        phone: open(&lead.phone_encrypted, Field::Phone)?,
    };
    let ev = audit::by(ctx, caller, "lead.reveal", "lead", id)
        .reason(Some(reason))
        .details(json!({"id_number": shown.id_number.is_some(), "phone": shown.phone.is_some()}));
    audit::record(ctx, ev).await?;
    Ok(shown)
}

fn bureau_only() -> Error {
    Error::forbidden("only civil-affairs staff of the lead's region answer it")
}

fn illegal(from: LeadStatus, to: LeadStatus) -> Error {
    Error::conflict(
        "illegal_transition",
        format!("a lead cannot go from {from} to {to}"),
    )
    .with_extra("from", from.as_str())
    .with_extra("to", to.as_str())
}

/// Loads the lead for the bureau's action, checks the move, and writes it conditionally.
async fn step(
    conn: &mut Conn,
    caller: &Caller,
    id: Uuid,
    to: LeadStatus,
    now: DateTime<Utc>,
    change: impl FnOnce(&mut LeadRow),
) -> Result<(LeadRow, LeadRow)> {
    let (current, s) = load(conn, caller, id).await?;
    if s != LeadSide::Bureau {
        return Err(bureau_only());
    }
    if !can_transition(current.status, to) {
        return Err(illegal(current.status, to));
    }
    let mut next = current.clone();
    next.status = to;
    next.updated_at = now;
    next.handled_by_organization_id = Some(caller.organization_id);
    change(&mut next);
    match leads::transition(conn, &current, &next).await? {
        Some(row) => Ok((current, row)),
        None => {
            let now_is = leads::find(conn, id)
                .await?
                .ok_or_else(|| Error::not_found("lead"))?;
            Err(if can_transition(now_is.status, to) {
                Error::conflict("concurrent_update", "the lead changed meanwhile; reload")
            } else {
                illegal(now_is.status, to)
            })
        }
    }
}

/// Acknowledges (确认收到) or starts assessing (核查) a lead: civil-affairs staff of its region.
pub async fn advance(ctx: &Context, caller: &Caller, id: Uuid, to: LeadStatus) -> Result<LeadRow> {
    caller.require_any(&[Role::CivilAffairs])?;
    if !matches!(to, LeadStatus::Acknowledged | LeadStatus::Assessing) {
        return Err(Error::internal(format!("advance to {to}")));
    }
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, &format!("lead.{to}"), "lead", id);
    let caller = caller.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let (current, row) = step(conn, &caller, id, to, now, |n| match to {
                LeadStatus::Acknowledged => n.acknowledged_at = Some(now),
                _ => n.assessing_at = Some(now),
            })
            .await?;
            announce(conn, &row, to.as_str(), now).await?;
            audit::append(conn, ev.details(json!({"from": current.status, "to": to}))).await?;
            Ok(row)
        })
    })
    .await
}

/// Closes a lead with its outcome (办结): civil-affairs staff of its region. Granting aid records
/// the government aid (and registers someone not yet registered) in the same transaction, and
/// is refused for a declared relative.
pub async fn close(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    closing: Closing,
    note: Option<String>,
) -> Result<LeadRow> {
    caller.require_any(&[Role::CivilAffairs])?;
    let now = ctx.clock.now();
    // Who the aid would be for, known before the transaction for the conflict check.
    let (lead, as_side) = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        load(&mut conn, caller, id).await?
    };
    if as_side != LeadSide::Bureau {
        return Err(bureau_only());
    }
    let mut registration = None;
    if let Closing::AidGranted { id_number, .. } = &closing {
        let hash = match (lead.person_id, id_number, &lead.id_number_hash) {
            (Some(pid), _, _) => {
                super::conflicts::guard(ctx, caller, pid, "lead.close").await?;
                None
            }
            (None, Some(r), _) => Some(ctx.keys.blind_index(r.expose())),
            (None, None, Some(h)) => Some(h.clone()),
            (None, None, None) => {
                return Err(Error::field(
                    "id_number",
                    "required",
                    "the lead names nobody registered and no ID number: give the person's ID number to grant aid",
                ))
            }
        };
        if let Some(h) = hash {
            super::conflicts::guard_hash(ctx, caller, &h, "lead", id, "lead.close").await?;
            let id_number = match id_number {
                Some(r) => r.clone(),
                None => {
                    let plain = super::persons::decrypt(
                        ctx,
                        Field::IdNumber,
                        lead.id_number_encrypted.as_deref().unwrap_or_default(),
                    )?;
                    ResidentId::parse(&plain, crate::domain::time::local_date(now))
                        .map_err(Error::internal)?
                }
            };
            registration = Some((h, id_number));
        }
    }
    let new_person = match registration {
        Some((hash, id_number)) => {
            let phone = match &lead.phone_encrypted {
                Some(p) => Some(
                    MobilePhone::parse(&super::persons::decrypt(ctx, Field::Phone, p)?)
                        .map_err(Error::internal)?,
                ),
                None => None,
            };
            let reg = NewRegistration {
                name: lead.name.clone().unwrap_or_default(),
                id: id_number,
                phone,
                region_code: lead.region_code.clone(),
                household: Default::default(),
                low_income: None,
                relapse_monitoring: None,
                special_circumstances: Vec::new(),
                external_id: None,
            };
            Some(super::persons::new_person(ctx, caller, reg, hash)?)
        }
        None => None,
    };
    let outcome = closing.outcome();
    let ev = audit::by(ctx, caller, "lead.closed", "lead", id).reason(note.clone());
    let caller = caller.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            // One closing at a time: a second waits here and then finds the lead closed.
            let locked = leads::lock(conn, id)
                .await?
                .ok_or_else(|| Error::not_found("lead"))?;
            if !can_transition(locked.status, LeadStatus::Closed) {
                return Err(illegal(locked.status, LeadStatus::Closed));
            }
            if side(&caller, &locked) != Some(LeadSide::Bureau) {
                return Err(bureau_only());
            }
            let mut person_id = locked.person_id;
            let mut aid_id = None;
            let mut aid_region = None;
            let mut registered = None;
            match &closing {
                Closing::AidGranted { aid, .. } => {
                    if let Some(new) = &new_person {
                        person_id = Some(match person_rows::find_by_id_hash(conn, &new.id_number_hash).await? {
                            Some(p) if caller.covers_region(&p.region_code) => p.id,
                            Some(_) => {
                                return Err(Error::conflict(
                                    "already_registered",
                                    "this person is already registered outside your region; ask that region's bureau",
                                ))
                            }
                            None => {
                                crate::service::access::place_in_region(&caller, &new.region_code)?;
                                let p = person_rows::insert(conn, new).await?;
                                registered = Some(p.id);
                                p.id
                            }
                        });
                    }
                    let pid = person_id.ok_or_else(|| Error::internal("no person to grant aid"))?;
                    // Aid is granted by the bureau of the person's region, as for any record of
                    // government aid (the person may have moved since the lead).
                    let person = person_rows::lock(conn, pid)
                        .await?
                        .ok_or_else(|| Error::not_found("person"))?;
                    crate::service::access::change_person(&caller, &person)?;
                    aid_region = Some(person.region_code);
                    let row = person_rows::insert_government_aid(
                        conn,
                        &NewGovernmentAid {
                            id: Uuid::now_v7(),
                            person_id: pid,
                            programme: aid.programme,
                            amount_fen: aid.amount_fen,
                            period_start: aid.period_start,
                            period_end: aid.period_end,
                            source_system: aid.source_system.clone(),
                            certifying_region: aid.certifying_region.clone(),
                            recorded_by_organization_id: caller.organization_id,
                        },
                    )
                    .await?;
                    aid_id = Some(row.id);
                }
                Closing::Duplicate(other) => {
                    let ok = *other != id
                        && leads::find(conn, *other)
                            .await?
                            .is_some_and(|o| side(&caller, &o) == Some(LeadSide::Bureau));
                    if !ok {
                        return Err(Error::field(
                            "duplicate_of_id",
                            "not_found",
                            "name another lead of your region",
                        ));
                    }
                }
                Closing::NotEligible | Closing::Unreachable => {}
            }
            let duplicate_of = match &closing {
                Closing::Duplicate(o) => Some(*o),
                _ => None,
            };
            let (current, row) = step(conn, &caller, id, LeadStatus::Closed, now, |n| {
                n.closed_at = Some(now);
                n.outcome = Some(outcome);
                n.outcome_note = note;
                n.duplicate_of_id = duplicate_of;
                n.government_aid_id = aid_id;
                n.person_id = person_id;
            })
            .await?;
            if let Some(pid) = registered {
                let e = Event::new("person.created", "person", pid).region(&row.region_code);
                events::emit(conn, e, now).await?;
            }
            if let (Some(aid), Some(region)) = (aid_id, &aid_region) {
                let e = Event::new("government_aid.recorded", "government_aid", aid)
                    .region(region)
                    .payload(json!({"lead_id": row.id}));
                events::emit(conn, e, now).await?;
            }
            announce(conn, &row, "closed", now).await?;
            audit::append(
                conn,
                ev.details(json!({"from": current.status, "outcome": outcome,
                                  "government_aid_id": aid_id, "registered_person_id": registered,
                                  "duplicate_of_id": duplicate_of})),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}
