//! Special funds (专项基金/冠名基金) and their ledger. The balance is kept by the ledger's trigger
//! and can never go negative (a CHECK on the fund row); entries are never changed or removed.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::schema::{fund_entries, funds};
use super::{Conn, Result};
use crate::domain::aid::{EntryKind, FundStatus};

/// The constraint that refuses an expenditure the balance cannot carry.
pub const BALANCE_CONSTRAINT: &str = "funds_balance_not_negative";
/// The constraint that keeps a balance within what the register counts (10^15 fen).
pub const LIMIT_CONSTRAINT: &str = "funds_balance_limit";
/// The constraint that refuses a second reversal of one entry.
pub const REVERSED_ONCE_CONSTRAINT: &str = "fund_entries_reverses_id_key";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = funds)]
pub struct FundRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub donor: String,
    pub purpose: String,
    pub agreement_ref: String,
    pub status: FundStatus,
    pub balance_fen: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = funds)]
pub struct NewFund {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub donor: String,
    pub purpose: String,
    pub agreement_ref: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut Conn, new: &NewFund) -> Result<FundRow> {
    diesel::insert_into(funds::table)
        .values(new)
        .returning(FundRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Into::into)
}

pub async fn find(conn: &mut Conn, id: Uuid) -> Result<Option<FundRow>> {
    funds::table
        .find(id)
        .select(FundRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

pub async fn of_organization(conn: &mut Conn, organization_id: Uuid) -> Result<Vec<FundRow>> {
    funds::table
        .filter(funds::organization_id.eq(organization_id))
        .select(FundRow::as_select())
        .order(funds::id.asc())
        .load(conn)
        .await
        .map_err(Into::into)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = fund_entries)]
pub struct EntryRow {
    pub id: Uuid,
    pub seq: i64,
    pub fund_id: Uuid,
    pub kind: EntryKind,
    pub amount_fen: i64,
    pub delta_fen: i64,
    pub reverses_id: Option<Uuid>,
    pub counterparty: Option<String>,
    pub note: Option<String>,
    pub occurred_on: NaiveDate,
    pub aid_record_id: Option<Uuid>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = fund_entries)]
pub struct NewEntry {
    pub id: Uuid,
    pub fund_id: Uuid,
    pub kind: EntryKind,
    pub amount_fen: i64,
    pub delta_fen: i64,
    pub reverses_id: Option<Uuid>,
    pub counterparty: Option<String>,
    pub note: Option<String>,
    pub occurred_on: NaiveDate,
    pub aid_record_id: Option<Uuid>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

/// Appends an entry; the trigger moves the balance in the same statement, and the balance's
/// CHECK refuses it ([`BALANCE_CONSTRAINT`]) when it would go below zero.
pub async fn append(conn: &mut Conn, new: &NewEntry) -> Result<EntryRow> {
    diesel::insert_into(fund_entries::table)
        .values(new)
        .returning(EntryRow::as_returning())
        .get_result(conn)
        .await
        .map_err(Into::into)
}

pub async fn entry(conn: &mut Conn, id: Uuid) -> Result<Option<EntryRow>> {
    fund_entries::table
        .find(id)
        .select(EntryRow::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(Into::into)
}

/// A fund's entries in ledger order, after `after_seq`.
pub async fn entries(
    conn: &mut Conn,
    fund_id: Uuid,
    after_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<EntryRow>> {
    fund_entries::table
        .filter(fund_entries::fund_id.eq(fund_id))
        .filter(fund_entries::seq.gt(after_seq.unwrap_or(0)))
        .select(EntryRow::as_select())
        .order(fund_entries::seq.asc())
        .limit(limit)
        .load(conn)
        .await
        .map_err(Into::into)
}
