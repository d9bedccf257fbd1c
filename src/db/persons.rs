//! Persons (困难群众) and their government aid records.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::{government_aid_records, needs, persons};
use super::{Conn, Result};
use crate::domain::need::NeedStatus;
use crate::domain::person::{Circumstance, Programme, Tier};
use crate::domain::resident_id::Sex;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = persons)]
pub struct PersonRow {
    pub id: Uuid,
    pub name: String,
    pub id_number_encrypted: String,
    pub id_number_hash: String,
    pub id_number_masked: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub phone_encrypted: Option<String>,
    pub phone_masked: Option<String>,
    pub region_code: String,
    pub household_key: Option<String>,
    pub household_size: Option<i32>,
    pub household_income_per_capita_fen: Option<i64>,
    pub tier: Option<Tier>,
    pub tier_certifying_region: Option<String>,
    pub tier_valid_from: Option<NaiveDate>,
    pub tier_valid_to: Option<NaiveDate>,
    pub relapse_monitoring: bool,
    pub relapse_certifying_region: Option<String>,
    pub relapse_valid_from: Option<NaiveDate>,
    pub relapse_valid_to: Option<NaiveDate>,
    pub special_circumstances: Vec<Circumstance>,
    pub external_id: Option<String>,
    pub registered_by_organization_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every change; the ETag.
    pub version: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = persons)]
pub struct NewPerson {
    pub id: Uuid,
    pub name: String,
    pub id_number_encrypted: String,
    pub id_number_hash: String,
    pub id_number_masked: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub phone_encrypted: Option<String>,
    pub phone_masked: Option<String>,
    pub region_code: String,
    pub household_key: Option<String>,
    pub household_size: Option<i32>,
    pub household_income_per_capita_fen: Option<i64>,
    pub tier: Option<Tier>,
    pub tier_certifying_region: Option<String>,
    pub tier_valid_from: Option<NaiveDate>,
    pub tier_valid_to: Option<NaiveDate>,
    pub relapse_monitoring: bool,
    pub relapse_certifying_region: Option<String>,
    pub relapse_valid_from: Option<NaiveDate>,
    pub relapse_valid_to: Option<NaiveDate>,
    pub special_circumstances: Vec<Circumstance>,
    pub external_id: Option<String>,
    pub registered_by_organization_id: Uuid,
}

pub async fn insert(conn: &mut Conn, new: &NewPerson) -> Result<PersonRow> {
    diesel::insert_into(persons::table)
        .values(new)
        .returning(PersonRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Into::into)
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<PersonRow>> {
    persons::table
        .find(id)
        .select(PersonRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// The person, row-locked for this transaction: referrals and consent withdrawals of one person
/// queue here, so a referral can never slip past a withdrawal that is committing.
pub async fn lock(conn: &mut Conn, id: Uuid) -> Result<Option<PersonRow>> {
    persons::table
        .find(id)
        .select(PersonRow::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// The person's region (where their bureau is).
pub async fn region_of(conn: &mut Conn, id: Uuid) -> Result<Option<String>> {
    persons::table
        .find(id)
        .select(persons::region_code)
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

pub async fn find_by_id_hash(conn: &mut Conn, hash: &str) -> Result<Option<PersonRow>> {
    persons::table
        .filter(persons::id_number_hash.eq(hash))
        .select(PersonRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

pub async fn find_by_external_id(conn: &mut Conn, external_id: &str) -> Result<Option<PersonRow>> {
    persons::table
        .filter(persons::external_id.eq(external_id))
        .select(PersonRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

#[derive(Debug, Default)]
pub struct PersonFilter {
    pub region_prefix: String,
    pub tier: Option<Tier>,
    pub circumstance: Option<Circumstance>,
    /// Received government aid and still has an open need (政府救助后仍有困难).
    pub after_government_aid: bool,
    pub after: Option<Uuid>,
    pub limit: i64,
}

pub async fn list(conn: &mut Conn, f: &PersonFilter) -> Result<Vec<PersonRow>> {
    let mut q = persons::table
        .select(PersonRow::as_select())
        .filter(persons::region_code.like(format!("{}%", f.region_prefix)))
        .into_boxed();
    if let Some(t) = &f.tier {
        q = q.filter(persons::tier.eq(*t));
    }
    if let Some(c) = &f.circumstance {
        q = q.filter(persons::special_circumstances.contains(vec![*c]));
    }
    if f.after_government_aid {
        q = q
            .filter(diesel::dsl::exists(
                government_aid_records::table
                    .filter(government_aid_records::person_id.eq(persons::id)),
            ))
            .filter(diesel::dsl::exists(
                needs::table
                    .filter(needs::person_id.eq(persons::id))
                    .filter(needs::status.eq(NeedStatus::Open)),
            ));
    }
    if let Some(a) = f.after {
        q = q.filter(persons::id.gt(a));
    }
    q.order(persons::id.asc())
        .limit(f.limit)
        .load(conn)
        .await
        .map_err(Into::into)
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = persons)]
pub struct PersonChanges {
    pub name: Option<String>,
    pub phone_encrypted: Option<Option<String>>,
    pub phone_masked: Option<Option<String>>,
    pub region_code: Option<String>,
    pub household_key: Option<Option<String>>,
    pub household_size: Option<Option<i32>>,
    pub household_income_per_capita_fen: Option<Option<i64>>,
    pub tier: Option<Option<Tier>>,
    pub tier_certifying_region: Option<Option<String>>,
    pub tier_valid_from: Option<Option<NaiveDate>>,
    pub tier_valid_to: Option<Option<NaiveDate>>,
    pub relapse_monitoring: Option<bool>,
    pub relapse_certifying_region: Option<Option<String>>,
    pub relapse_valid_from: Option<Option<NaiveDate>>,
    pub relapse_valid_to: Option<Option<NaiveDate>>,
    pub special_circumstances: Option<Vec<Circumstance>>,
    pub external_id: Option<Option<String>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Applies the changes if the record is still at `version` (else `None`), bumping the version.
pub async fn update(
    conn: &mut Conn,
    id: Uuid,
    changes: &PersonChanges,
    version: i64,
) -> Result<Option<PersonRow>> {
    diesel::update(persons::table.find(id).filter(persons::version.eq(version)))
        .set((changes, persons::version.eq(persons::version + 1)))
        .returning(PersonRow::as_returning())
        .get_result(conn)
        .await
        .optional()
        .map_err(Into::into)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = government_aid_records)]
pub struct GovernmentAidRow {
    pub id: Uuid,
    pub person_id: Uuid,
    pub programme: Programme,
    pub amount_fen: i64,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub source_system: String,
    pub certifying_region: String,
    pub recorded_by_organization_id: Uuid,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = government_aid_records)]
pub struct NewGovernmentAid {
    pub id: Uuid,
    pub person_id: Uuid,
    pub programme: Programme,
    pub amount_fen: i64,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub source_system: String,
    pub certifying_region: String,
    pub recorded_by_organization_id: Uuid,
}

pub async fn insert_government_aid(
    conn: &mut Conn,
    new: &NewGovernmentAid,
) -> Result<GovernmentAidRow> {
    diesel::insert_into(government_aid_records::table)
        .values(new)
        .returning(GovernmentAidRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Into::into)
}

pub async fn government_aid_of(conn: &mut Conn, person_id: Uuid) -> Result<Vec<GovernmentAidRow>> {
    government_aid_records::table
        .filter(government_aid_records::person_id.eq(person_id))
        .select(GovernmentAidRow::as_select())
        .order((
            government_aid_records::period_start.desc(),
            government_aid_records::id.desc(),
        ))
        .load(conn)
        .await
        .map_err(Into::into)
}

pub async fn find_many(conn: &mut Conn, ids: &[Uuid]) -> Result<Vec<PersonRow>> {
    persons::table
        .filter(persons::id.eq_any(ids))
        .select(PersonRow::as_select())
        .load(conn)
        .await
        .map_err(Into::into)
}
