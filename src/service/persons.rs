//! The person registry (困难群众): registration with encrypted identifiers, reads as far as the
//! caller may see, audited reveal and lookup, changes, and government aid received.

use serde_json::json;
use std::collections::BTreeSet;
use uuid::Uuid;

use super::access::{self, PersonAccess};
use super::events::{self, Event};
use super::{audit, lost_update, transaction, Context, Error, IfMatch, Result};
use crate::auth::Caller;
use crate::db::needs;
use crate::db::persons::{
    self, GovernmentAidRow, NewGovernmentAid, NewPerson, PersonChanges, PersonFilter, PersonRow,
};
use crate::db::Conn;
use crate::domain::consent::{Coverage, DataCategory, Purpose};
use crate::domain::need::{NeedCategory, NeedStatus};
use crate::domain::person::{CertifiedStatus, Circumstance, Programme, TierStatus};
use crate::domain::phone::MobilePhone;
use crate::domain::resident_id::ResidentId;
use crate::privacy::Field;

/// Household facts (户) as recorded.
#[derive(Debug, Clone, Default)]
pub struct HouseholdFacts {
    pub key: Option<String>,
    pub size: Option<i32>,
    pub income_per_capita_fen: Option<i64>,
}

/// A registration whose fields have passed every rule.
#[derive(Debug)]
pub struct NewRegistration {
    pub name: String,
    pub id: ResidentId,
    pub phone: Option<MobilePhone>,
    pub region_code: String,
    pub household: HouseholdFacts,
    pub low_income: Option<TierStatus>,
    pub relapse_monitoring: Option<CertifiedStatus>,
    pub special_circumstances: Vec<Circumstance>,
    pub external_id: Option<String>,
}

/// Without repeats, in the order of their codes (as stored and answered).
fn sorted_unique(cs: &[Circumstance]) -> Vec<Circumstance> {
    let mut v: Vec<_> = cs
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    v.sort_by_key(|c| c.as_str());
    v
}

async fn load(conn: &mut Conn, id: Uuid) -> Result<PersonRow> {
    persons::find(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("person"))
}

/// The answer to registering someone already registered. Within the caller's region: who it
/// is. Outside: only that the number is taken (uniqueness cannot hide that), never where or
/// whom, and the attempt is recorded so supervision can see probing across regions.
async fn already_there(
    ctx: &Context,
    caller: &Caller,
    existing: &PersonRow,
    by: &'static str,
) -> Result<Error> {
    if caller.covers_region(&existing.region_code) {
        let e = match by {
            "id_number" => duplicate_person(),
            _ => Error::conflict("duplicate", "a record with this external_id already exists")
                .with_extra("field", by),
        };
        return Ok(e.with_extra("existing_id", existing.id.to_string()));
    }
    let ev = audit::by(
        ctx,
        caller,
        "person.cross_region_lookup",
        "person",
        existing.id,
    )
    .details(json!({"by": by, "caller_region": caller.region.as_str()}));
    audit::record(ctx, ev).await?;
    Ok(Error::conflict(
        "already_registered",
        "this person is already registered outside your region; ask that region's bureau",
    )
    .with_extra("field", by))
}

fn duplicate_person() -> Error {
    Error::conflict(
        "duplicate_person",
        "a person with this ID number is already registered",
    )
}

fn encrypt(ctx: &Context, field: Field, plain: &str) -> Result<String> {
    ctx.keys.encrypt(field, plain).map_err(Error::internal)
}

pub fn decrypt(ctx: &Context, field: Field, stored: &str) -> Result<String> {
    ctx.keys.decrypt(field, stored).map_err(Error::internal)
}

/// The row for a registration whose number is not yet registered (identifiers encrypted, the
/// lookup hash `hash` already computed).
pub fn new_person(
    ctx: &Context,
    caller: &Caller,
    reg: NewRegistration,
    hash: String,
) -> Result<NewPerson> {
    Ok(NewPerson {
        id: Uuid::now_v7(),
        name: reg.name.trim().to_owned(),
        id_number_encrypted: encrypt(ctx, Field::IdNumber, reg.id.expose())?,
        id_number_hash: hash,
        id_number_masked: reg.id.masked(),
        birth_date: reg.id.birth_date,
        sex: reg.id.sex,
        phone_encrypted: match &reg.phone {
            Some(p) => Some(encrypt(ctx, Field::Phone, p.expose())?),
            None => None,
        },
        phone_masked: reg.phone.as_ref().map(MobilePhone::masked),
        region_code: reg.region_code,
        household_key: reg.household.key,
        household_size: reg.household.size,
        household_income_per_capita_fen: reg.household.income_per_capita_fen,
        tier: reg.low_income.as_ref().map(|t| t.tier),
        tier_certifying_region: reg
            .low_income
            .as_ref()
            .map(|t| t.status.certifying_region.clone()),
        tier_valid_from: reg.low_income.as_ref().map(|t| t.status.valid_from),
        tier_valid_to: reg.low_income.as_ref().and_then(|t| t.status.valid_to),
        relapse_monitoring: reg.relapse_monitoring.is_some(),
        relapse_certifying_region: reg
            .relapse_monitoring
            .as_ref()
            .map(|s| s.certifying_region.clone()),
        relapse_valid_from: reg.relapse_monitoring.as_ref().map(|s| s.valid_from),
        relapse_valid_to: reg.relapse_monitoring.as_ref().and_then(|s| s.valid_to),
        special_circumstances: sorted_unique(&reg.special_circumstances),
        external_id: reg.external_id,
        registered_by_organization_id: caller.organization_id,
    })
}

/// Registers a person (登记). Civil-affairs staff, within their region. An ID number already
/// registered is a conflict that names the existing person only when the caller may see them.
pub async fn register(ctx: &Context, caller: &Caller, reg: NewRegistration) -> Result<PersonRow> {
    access::place_in_region(caller, &reg.region_code)?;
    let hash = ctx.keys.blind_index(reg.id.expose());
    let existing = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        match persons::find_by_id_hash(&mut conn, &hash).await? {
            Some(p) => Some((p, "id_number")),
            None => match &reg.external_id {
                Some(e) => persons::find_by_external_id(&mut conn, e)
                    .await?
                    .map(|p| (p, "external_id")),
                None => None,
            },
        }
    };
    if let Some((existing, by)) = existing {
        return Err(already_there(ctx, caller, &existing, by).await?);
    }
    let new = new_person(ctx, caller, reg, hash)?;
    let ev = audit::by(ctx, caller, "person.create", "person", new.id);
    let now = ctx.clock.now();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let row = persons::insert(conn, &new).await?;
            let e = Event::new("person.created", "person", row.id).region(&row.region_code);
            events::emit(conn, e, now).await?;
            audit::append(
                conn,
                ev.details(json!({"region_code": row.region_code, "tier": row.tier})),
            )
            .await?;
            Ok(row)
        })
    })
    .await
    // Lost a race with an identical registration.
    .map_err(|e| match e.duplicate_field() {
        Some("id_number") => duplicate_person(),
        _ => e,
    })
}

/// Lists people in a region, masked. Staff of the region and auditors (recorded).
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    region: Option<&str>,
    mut filter: PersonFilter,
) -> Result<Vec<PersonRow>> {
    filter.region_prefix = access::list_scope(caller, region)?;
    let details = json!({"region": filter.region_prefix, "tier": filter.tier, "circumstance": filter.circumstance});
    let rows = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        persons::list(&mut conn, &filter).await?
    };
    audit::record_supervision_read(ctx, caller, "person.list", "person", None, details).await?;
    Ok(rows)
}

/// What a caller may see of one person.
pub struct PersonRead {
    pub person: PersonRow,
    pub access: PersonAccess,
    /// The full phone number, for a recipient whose consent covers `contact`.
    pub phone: Option<String>,
    /// Open needs' categories, for a de-identified summary.
    pub open_need_categories: Vec<NeedCategory>,
}

/// Reads one person as far as the caller may see. Supervision reads and disclosures to a
/// charity are recorded before anything is returned: no record, no data.
pub async fn read(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    purpose: Option<Purpose>,
) -> Result<PersonRead> {
    access::may_read_people(caller, purpose)?;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let person = load(&mut conn, id).await?;
    let access = access::to_person(&mut conn, caller, &person, purpose, ctx.clock.now()).await?;
    let mut read = PersonRead {
        person,
        access,
        phone: None,
        open_need_categories: Vec::new(),
    };
    let event = match &read.access {
        PersonAccess::Staff => None,
        PersonAccess::Auditor => Some(audit::by(ctx, caller, "person.read", "person", id)),
        PersonAccess::Recipient(cov) => {
            if let (Some(p), true) = (
                &read.person.phone_encrypted,
                cov.allows(DataCategory::Contact),
            ) {
                read.phone = Some(decrypt(ctx, Field::Phone, p)?);
            }
            if cov.summary_only {
                read.open_need_categories = open_need_categories(&mut conn, id).await?;
            }
            Some(
                audit::by(ctx, caller, "person.disclose", "person", id).details(json!({
                    "categories": disclosed_categories(cov),
                    "summary_only": cov.summary_only,
                    "purpose": purpose,
                })),
            )
        }
    };
    drop(conn);
    if let Some(ev) = event {
        audit::record(ctx, ev).await?;
    }
    Ok(read)
}

/// The categories a consented view contains (what the audit event says was disclosed).
pub fn disclosed_categories(cov: &Coverage) -> Vec<DataCategory> {
    cov.categories.iter().copied().collect()
}

async fn open_need_categories(conn: &mut Conn, person_id: Uuid) -> Result<Vec<NeedCategory>> {
    Ok(needs::of_person(conn, person_id)
        .await?
        .iter()
        .filter(|n| n.status == NeedStatus::Open)
        .map(|n| n.category)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect())
}

/// Full identifiers for an entitled caller.
pub struct Revealed {
    pub id_number: String,
    pub phone: Option<String>,
}

/// Reveals the full ID number and phone (查看完整证件号) for a stated purpose: civil-affairs staff
/// of the person's region only, recorded with the purpose before the values are returned.
pub async fn reveal(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    purpose: &str,
) -> Result<(PersonRow, Revealed)> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let person = load(&mut conn, id).await?;
    match access::to_person(&mut conn, caller, &person, None, ctx.clock.now()).await? {
        PersonAccess::Staff => {}
        PersonAccess::Auditor => {
            return Err(Error::forbidden("auditors see masked identifiers only"))
        }
        PersonAccess::Recipient(_) => {
            return Err(Error::forbidden(
                "only civil-affairs staff of the person's region may reveal identifiers",
            ))
        }
    }
    drop(conn);
    let revealed = Revealed {
        id_number: decrypt(ctx, Field::IdNumber, &person.id_number_encrypted)?,
        phone: match &person.phone_encrypted {
            Some(p) => Some(decrypt(ctx, Field::Phone, p)?),
            None => None,
        },
    };
    let ev = audit::by(ctx, caller, "person.reveal", "person", person.id)
        .reason(Some(purpose.to_owned()))
        .details(json!({"fields": ["id_number", "phone"]}));
    audit::record(ctx, ev).await?;
    Ok((person, revealed))
}

/// Finds a person by exact ID number (按身份证号查找) within the caller's region; recorded (the
/// record is committed, with other disclosures of the moment, before the person is answered).
pub async fn lookup(ctx: &Context, caller: &Caller, id: &ResidentId) -> Result<PersonRow> {
    caller.require_any(&[crate::domain::role::Role::CivilAffairs])?;
    let hash = ctx.keys.blind_index(id.expose());
    let person = {
        let mut conn = crate::db::connect(&ctx.pool).await?;
        persons::find_by_id_hash(&mut conn, &hash).await?
    }
    .filter(|p| caller.covers_region(&p.region_code))
    .ok_or_else(|| Error::not_found("person"))?;
    audit::record(
        ctx,
        audit::by(ctx, caller, "person.lookup", "person", person.id),
    )
    .await?;
    Ok(person)
}

/// Changes to a person whose fields have passed every rule; `None` leaves a field as it is,
/// `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct PersonUpdate {
    pub name: Option<String>,
    pub phone: Option<Option<MobilePhone>>,
    pub region_code: Option<String>,
    pub household: Option<HouseholdFacts>,
    pub low_income: Option<Option<TierStatus>>,
    pub relapse_monitoring: Option<Option<CertifiedStatus>>,
    pub special_circumstances: Option<Vec<Circumstance>>,
    pub external_id: Option<Option<String>>,
    /// Why the record changes (kept in the audit trail).
    pub reason: Option<String>,
    /// The names of the fields changed (the audit trail records names, not values).
    pub fields: Vec<&'static str>,
}

fn changes_of(ctx: &Context, u: PersonUpdate) -> Result<PersonChanges> {
    let mut c = PersonChanges {
        name: u.name.map(|n| n.trim().to_owned()),
        region_code: u.region_code,
        updated_at: Some(ctx.clock.now()),
        special_circumstances: u.special_circumstances.as_deref().map(sorted_unique),
        external_id: u.external_id,
        ..Default::default()
    };
    match u.phone {
        Some(Some(p)) => {
            c.phone_encrypted = Some(Some(encrypt(ctx, Field::Phone, p.expose())?));
            c.phone_masked = Some(Some(p.masked()));
        }
        Some(None) => {
            c.phone_encrypted = Some(None);
            c.phone_masked = Some(None);
        }
        None => {}
    }
    if let Some(h) = u.household {
        c.household_key = Some(h.key);
        c.household_size = Some(h.size);
        c.household_income_per_capita_fen = Some(h.income_per_capita_fen);
    }
    if let Some(t) = u.low_income {
        c.tier = Some(t.as_ref().map(|t| t.tier));
        c.tier_certifying_region = Some(t.as_ref().map(|t| t.status.certifying_region.clone()));
        c.tier_valid_from = Some(t.as_ref().map(|t| t.status.valid_from));
        c.tier_valid_to = Some(t.as_ref().and_then(|t| t.status.valid_to));
    }
    if let Some(s) = u.relapse_monitoring {
        c.relapse_monitoring = Some(s.is_some());
        c.relapse_certifying_region = Some(s.as_ref().map(|s| s.certifying_region.clone()));
        c.relapse_valid_from = Some(s.as_ref().map(|s| s.valid_from));
        c.relapse_valid_to = Some(s.as_ref().and_then(|s| s.valid_to));
    }
    Ok(c)
}

/// Updates a person's record (更新): civil-affairs staff of the person's region, who may not
/// move the person out of their own region. The ID number never changes.
pub async fn update(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    update: PersonUpdate,
    if_match: Option<IfMatch>,
) -> Result<PersonRow> {
    caller.require_any(&[crate::domain::role::Role::CivilAffairs])?;
    if let Some(r) = &update.region_code {
        access::place_in_region(caller, r)?;
    }
    let ev = audit::by(ctx, caller, "person.update", "person", id)
        .reason(update.reason.clone())
        .details(json!({"fields": update.fields}));
    let changes = changes_of(ctx, update)?;
    let caller = caller.clone();
    let now = ctx.clock.now();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let person = load(conn, id).await?;
            access::change_person(&caller, &person)?;
            if let Some(m) = &if_match {
                m.check(person.version)?;
            }
            let row = persons::update(conn, id, &changes, person.version)
                .await?
                .ok_or_else(|| lost_update(if_match.as_ref()))?;
            if row.region_code != person.region_code {
                // The needs move with the person: the new region's staff take them over.
                needs::follow_person(conn, id, &row.region_code).await?;
            }
            let e = Event::new("person.updated", "person", row.id)
                .region(&row.region_code)
                .payload(json!({"version": row.version}));
            events::emit(conn, e, now).await?;
            audit::append(conn, ev).await?;
            Ok(row)
        })
    })
    .await
}

/// A government aid record (政府救助记录) whose fields have passed every rule.
#[derive(Debug)]
pub struct NewAid {
    pub programme: Programme,
    pub amount_fen: i64,
    pub period_start: chrono::NaiveDate,
    pub period_end: chrono::NaiveDate,
    pub source_system: String,
    pub certifying_region: String,
}

/// Records government aid a person received (录入政府救助): staff of the person's region.
pub async fn record_government_aid(
    ctx: &Context,
    caller: &Caller,
    person_id: Uuid,
    aid: NewAid,
) -> Result<GovernmentAidRow> {
    caller.require_any(&[crate::domain::role::Role::CivilAffairs])?;
    super::conflicts::guard(ctx, caller, person_id, "government_aid.create").await?;
    let new = NewGovernmentAid {
        id: Uuid::now_v7(),
        person_id,
        programme: aid.programme,
        amount_fen: aid.amount_fen,
        period_start: aid.period_start,
        period_end: aid.period_end,
        source_system: aid.source_system,
        certifying_region: aid.certifying_region,
        recorded_by_organization_id: caller.organization_id,
    };
    let ev = audit::by(
        ctx,
        caller,
        "government_aid.create",
        "government_aid",
        new.id,
    );
    let caller = caller.clone();
    let now = ctx.clock.now();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let person = load(conn, person_id).await?;
            access::change_person(&caller, &person)?;
            let row = persons::insert_government_aid(conn, &new).await?;
            let e = Event::new("government_aid.recorded", "government_aid", row.id)
                .region(&person.region_code)
                .payload(json!({"programme": row.programme}));
            events::emit(conn, e, now).await?;
            audit::append(
                conn,
                ev.details(json!({"person_id": person_id, "programme": row.programme, "amount_fen": row.amount_fen})),
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

/// Government aid a person received: staff of the region; auditors and charities whose consent
/// covers `aid_history` (both recorded).
pub async fn government_aid(
    ctx: &Context,
    caller: &Caller,
    person_id: Uuid,
    purpose: Option<Purpose>,
) -> Result<Vec<GovernmentAidRow>> {
    access::may_read_people(caller, purpose)?;
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let person = load(&mut conn, person_id).await?;
    let access = access::to_person(&mut conn, caller, &person, purpose, ctx.clock.now()).await?;
    let action = match access {
        PersonAccess::Staff => None,
        PersonAccess::Auditor => Some("government_aid.read"),
        PersonAccess::Recipient(cov) if cov.allows(DataCategory::AidHistory) => {
            Some("person.disclose")
        }
        PersonAccess::Recipient(_) => return Err(Error::not_found("person")),
    };
    let rows = persons::government_aid_of(&mut conn, person_id).await?;
    drop(conn);
    if let Some(action) = action {
        let ev = audit::by(ctx, caller, action, "person", person_id)
            .details(json!({"categories": ["aid_history"], "purpose": purpose}));
        audit::record(ctx, ev).await?;
    }
    Ok(rows)
}
