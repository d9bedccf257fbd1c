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

#[derive(diesel::QueryableByName)]
struct Inserted {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

/// Inserts many people in one statement with a parameter per column (`unnest`; circumstances as
/// array literals, since `unnest` would flatten a two-dimensional array), skipping any that clash
/// with a registration made meanwhile. Returns the ids inserted.
pub async fn insert_many(
    conn: &mut Conn,
    people: &[NewPerson],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    if people.is_empty() {
        return Ok(Vec::new());
    }
    use diesel::sql_types::{
        Array, Bool, Date, Int4, Int8, Nullable, Text, Timestamptz, Uuid as SqlUuid,
    };
    fn col<T, F: Fn(&NewPerson) -> T>(people: &[NewPerson], f: F) -> Vec<T> {
        people.iter().map(f).collect()
    }
    diesel::sql_query(
        "INSERT INTO persons (id, name, id_number_encrypted, id_number_hash, id_number_masked,
             birth_date, sex, phone_encrypted, phone_masked, region_code, household_key,
             household_size, household_income_per_capita_fen, tier, tier_certifying_region,
             tier_valid_from, tier_valid_to, relapse_monitoring, relapse_certifying_region,
             relapse_valid_from, relapse_valid_to, special_circumstances, external_id,
             registered_by_organization_id, created_at, updated_at)
         SELECT id, name, ie, ih, im, bd, sex, pe, pm, rc, hk, hs, hi, tier, tcr, tvf, tvt, rm,
                rcr, rvf, rvt, sc::text[], ext, reg, $25, $25
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[],
                     $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int[],
                     $13::bigint[], $14::text[], $15::text[], $16::date[], $17::date[],
                     $18::bool[], $19::text[], $20::date[], $21::date[], $22::text[],
                     $23::text[], $24::uuid[])
             AS t(id, name, ie, ih, im, bd, sex, pe, pm, rc, hk, hs, hi, tier, tcr, tvf, tvt, rm,
                  rcr, rvf, rvt, sc, ext, reg)
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind::<Array<SqlUuid>, _>(col(people, |p| p.id))
    .bind::<Array<Text>, _>(col(people, |p| p.name.clone()))
    .bind::<Array<Text>, _>(col(people, |p| p.id_number_encrypted.clone()))
    .bind::<Array<Text>, _>(col(people, |p| p.id_number_hash.clone()))
    .bind::<Array<Text>, _>(col(people, |p| p.id_number_masked.clone()))
    .bind::<Array<Date>, _>(col(people, |p| p.birth_date))
    .bind::<Array<Text>, _>(col(people, |p| p.sex.as_str().to_owned()))
    .bind::<Array<Nullable<Text>>, _>(col(people, |p| p.phone_encrypted.clone()))
    .bind::<Array<Nullable<Text>>, _>(col(people, |p| p.phone_masked.clone()))
    .bind::<Array<Text>, _>(col(people, |p| p.region_code.clone()))
    .bind::<Array<Nullable<Text>>, _>(col(people, |p| p.household_key.clone()))
    .bind::<Array<Nullable<Int4>>, _>(col(people, |p| p.household_size))
    .bind::<Array<Nullable<Int8>>, _>(col(people, |p| p.household_income_per_capita_fen))
    .bind::<Array<Nullable<Text>>, _>(col(people, |p| p.tier.map(|t| t.as_str().to_owned())))
    .bind::<Array<Nullable<Text>>, _>(col(people, |p| p.tier_certifying_region.clone()))
    .bind::<Array<Nullable<Date>>, _>(col(people, |p| p.tier_valid_from))
    .bind::<Array<Nullable<Date>>, _>(col(people, |p| p.tier_valid_to))
    .bind::<Array<Bool>, _>(col(people, |p| p.relapse_monitoring))
    .bind::<Array<Nullable<Text>>, _>(col(people, |p| p.relapse_certifying_region.clone()))
    .bind::<Array<Nullable<Date>>, _>(col(people, |p| p.relapse_valid_from))
    .bind::<Array<Nullable<Date>>, _>(col(people, |p| p.relapse_valid_to))
    .bind::<Array<Text>, _>(col(people, |p| {
        let words: Vec<&str> = p.special_circumstances.iter().map(|c| c.as_str()).collect();
        format!("{{{}}}", words.join(","))
    }))
    .bind::<Array<Nullable<Text>>, _>(col(people, |p| p.external_id.clone()))
    .bind::<Array<SqlUuid>, _>(col(people, |p| p.registered_by_organization_id))
    .bind::<Timestamptz, _>(now)
    .load::<Inserted>(conn)
    .await
    .map(|rows| rows.into_iter().map(|r| r.id).collect())
    .map_err(Into::into)
}
