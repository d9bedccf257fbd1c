//! Consents (知情同意): recorded once, never edited; withdrawal sets `withdrawn_at`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::consents;
use super::{Conn, Result};
use crate::domain::consent::{
    ConsentFacts, ConsentMethod, DataCategory, GivenBy, Purpose, Recipient,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = consents)]
pub struct ConsentRow {
    pub id: Uuid,
    pub person_id: Uuid,
    pub recipient_organization_id: Option<Uuid>,
    pub recipient_region_code: Option<String>,
    pub purposes: Vec<Purpose>,
    pub data_categories: Vec<DataCategory>,
    pub method: ConsentMethod,
    pub notice_version: String,
    pub notice_sha256: String,
    pub evidence_ref: String,
    pub given_by: GivenBy,
    pub guardian_name: Option<String>,
    pub guardian_relation: Option<String>,
    pub guardian_id_number_encrypted: Option<String>,
    pub guardian_id_number_hash: Option<String>,
    pub given_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdrawal_reason: Option<String>,
    pub recorded_by_organization_id: Uuid,
    pub recorded_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl ConsentRow {
    /// The facts coverage depends on.
    pub fn facts(&self) -> ConsentFacts {
        let recipient = match (&self.recipient_organization_id, &self.recipient_region_code) {
            (Some(id), _) => Recipient::Organization(*id),
            (None, Some(r)) => Recipient::CharitiesIn(r.clone()),
            (None, None) => Recipient::CharitiesIn(String::new()),
        };
        ConsentFacts {
            recipient,
            purposes: self.purposes.to_vec(),
            categories: self.data_categories.to_vec(),
            given_at: self.given_at,
            expires_at: self.expires_at,
            withdrawn_at: self.withdrawn_at,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = consents)]
pub struct NewConsent {
    pub id: Uuid,
    pub person_id: Uuid,
    pub recipient_organization_id: Option<Uuid>,
    pub recipient_region_code: Option<String>,
    pub purposes: Vec<Purpose>,
    pub data_categories: Vec<DataCategory>,
    pub method: ConsentMethod,
    pub notice_version: String,
    pub notice_sha256: String,
    pub evidence_ref: String,
    pub given_by: GivenBy,
    pub guardian_name: Option<String>,
    pub guardian_relation: Option<String>,
    pub guardian_id_number_encrypted: Option<String>,
    pub guardian_id_number_hash: Option<String>,
    pub given_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub recorded_by_organization_id: Uuid,
    pub recorded_by: Uuid,
}

pub async fn insert(conn: &mut Conn, new: &NewConsent) -> Result<ConsentRow> {
    diesel::insert_into(consents::table)
        .values(new)
        .returning(ConsentRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Into::into)
}

pub async fn of_person(conn: &mut Conn, person_id: Uuid) -> Result<Vec<ConsentRow>> {
    consents::table
        .filter(consents::person_id.eq(person_id))
        .select(ConsentRow::as_select())
        .order(consents::given_at.desc())
        .load(conn)
        .await
        .map_err(Into::into)
}

/// Locks the consent row for the withdrawal transaction.
pub async fn find_for_update(conn: &mut Conn, id: Uuid) -> Result<Option<ConsentRow>> {
    consents::table
        .find(id)
        .select(ConsentRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// Sets the withdrawal once; returns `None` when it was already withdrawn.
pub async fn withdraw(
    conn: &mut Conn,
    id: Uuid,
    at: DateTime<Utc>,
    reason: Option<&str>,
) -> Result<Option<ConsentRow>> {
    diesel::update(
        consents::table
            .find(id)
            .filter(consents::withdrawn_at.is_null()),
    )
    .set((
        consents::withdrawn_at.eq(at),
        consents::withdrawal_reason.eq(reason),
    ))
    .returning(ConsentRow::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(Into::into)
}

/// The consents of many people at once.
pub async fn of_persons(conn: &mut Conn, person_ids: &[Uuid]) -> Result<Vec<ConsentRow>> {
    consents::table
        .filter(consents::person_id.eq_any(person_ids))
        .select(ConsentRow::as_select())
        .load(conn)
        .await
        .map_err(Into::into)
}
