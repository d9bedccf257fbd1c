//! Special funds (专项基金/冠名基金): a charity's money for a purpose, with a named donor and a
//! ledger whose balance never goes negative, also when expenditures race.

use chrono::NaiveDate;
use serde_json::json;
use uuid::Uuid;

use super::events::{self, Event};
use super::{audit, transaction, Context, Error, Result};
use crate::auth::Caller;
use crate::db::funds::{self, EntryRow, FundRow, NewEntry, NewFund};
use crate::db::{organizations, Conn};
use crate::domain::aid::{delta, EntryKind, FundStatus};
use crate::domain::role::Role;

#[derive(Debug)]
pub struct NewFundInput {
    pub name: String,
    pub donor: String,
    pub purpose: String,
    pub agreement_ref: String,
}

/// Sets up a fund for the caller's charity; its name must contain the charity's full name.
pub async fn create(ctx: &Context, caller: &Caller, input: NewFundInput) -> Result<FundRow> {
    caller.require_any(&[Role::Charity])?;
    let id = Uuid::now_v7();
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, "fund.create", "fund", id);
    let org_id = caller.organization_id;
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let org = organizations::find(conn, org_id)
                .await?
                .ok_or_else(|| Error::forbidden("the caller's organisation no longer exists"))?;
            if !input.name.contains(&org.name) {
                return Err(Error::field(
                    "name",
                    "missing_owner_name",
                    format!(
                        "a fund's name contains its charity's full name ({})",
                        org.name
                    ),
                ));
            }
            let row = funds::insert(
                conn,
                &NewFund {
                    id,
                    organization_id: org_id,
                    name: input.name,
                    donor: input.donor,
                    purpose: input.purpose,
                    agreement_ref: input.agreement_ref,
                    created_at: now,
                    updated_at: now,
                },
            )
            .await
            .map_err(|e| match e {
                crate::db::Error::Duplicate { .. } => {
                    Error::conflict("duplicate", "the charity already has a fund of this name")
                        .with_extra("field", "name")
                }
                other => other.into(),
            })?;
            let e = Event::new("fund.created", "fund", row.id);
            events::emit_for_organization(conn, e, row.organization_id, now).await?;
            audit::append(conn, ev.details(json!({"name": row.name}))).await?;
            Ok(row)
        })
    })
    .await
}

async fn load(conn: &mut Conn, id: Uuid) -> Result<FundRow> {
    funds::find(conn, id)
        .await?
        .ok_or_else(|| Error::not_found("fund"))
}

/// A fund and its balance: public information, for every signed-in caller.
pub async fn get(ctx: &Context, id: Uuid) -> Result<FundRow> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    load(&mut conn, id).await
}

/// An organisation's funds (the caller's own by default).
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    organization: Option<Uuid>,
) -> Result<Vec<FundRow>> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    Ok(funds::of_organization(&mut conn, organization.unwrap_or(caller.organization_id)).await?)
}

/// Who reads a fund's entries (donor names among them): its charity, civil-affairs staff and
/// auditors.
fn may_read_entries(caller: &Caller, fund: &FundRow) -> Result<()> {
    if (caller.has(Role::Charity) && caller.organization_id == fund.organization_id)
        || caller.has(Role::CivilAffairs)
        || caller.has(Role::Auditor)
    {
        Ok(())
    } else {
        Err(Error::forbidden(
            "a fund's ledger is read by its charity and by supervision",
        ))
    }
}

pub async fn entries(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    after_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<EntryRow>> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let fund = load(&mut conn, id).await?;
    may_read_entries(caller, &fund)?;
    Ok(funds::entries(&mut conn, id, after_seq, limit).await?)
}

#[derive(Debug, Clone)]
pub struct EntryInput {
    pub kind: EntryKind,
    pub amount_fen: i64,
    pub reverses_id: Option<Uuid>,
    pub counterparty: Option<String>,
    pub note: Option<String>,
    pub occurred_on: NaiveDate,
    pub aid_record_id: Option<Uuid>,
}

fn insufficient(balance: Option<i64>) -> Error {
    let e = Error::conflict(
        "insufficient_balance",
        "the fund's balance does not cover this expenditure",
    );
    match balance {
        Some(b) => e.with_extra("balance_fen", b),
        None => e,
    }
}

/// Appends `input` to the fund's ledger in the caller's transaction (an aid record's
/// expenditure goes through here too). The owner only; a reversal undoes one entry of the
/// same fund, once.
pub async fn append_entry(
    conn: &mut Conn,
    caller: &Caller,
    fund_id: Uuid,
    input: EntryInput,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<EntryRow> {
    let fund = load(conn, fund_id).await?;
    if fund.organization_id != caller.organization_id {
        return Err(Error::forbidden(
            "only the fund's own charity records in its ledger",
        ));
    }
    if fund.status == FundStatus::Closed {
        return Err(Error::conflict("fund_closed", "the fund is closed"));
    }
    let reversed = match input.reverses_id {
        Some(rid) => {
            let r = funds::entry(conn, rid)
                .await?
                .filter(|r| r.fund_id == fund_id)
                .ok_or_else(|| {
                    Error::field("reverses_id", "not_found", "no such entry in this fund")
                })?;
            if r.kind == EntryKind::Aid {
                return Err(Error::field(
                    "reverses_id",
                    "aid_entry",
                    "aid paid from a fund belongs to its aid record and is not reversed alone",
                ));
            }
            if r.kind == EntryKind::Reversal {
                return Err(Error::field(
                    "reverses_id",
                    "is_reversal",
                    "a reversal is not itself reversed; record a new entry",
                ));
            }
            if r.amount_fen != input.amount_fen {
                return Err(Error::field(
                    "amount_fen",
                    "must_equal_reversed",
                    format!("a reversal is for the whole entry: {} fen", r.amount_fen),
                ));
            }
            Some(r.delta_fen)
        }
        None => None,
    };
    let delta_fen = delta(input.kind, input.amount_fen, reversed)
        .ok_or_else(|| Error::field("reverses_id", "required", "name the entry to reverse"))?;
    let new = NewEntry {
        id: Uuid::now_v7(),
        fund_id,
        kind: input.kind,
        amount_fen: input.amount_fen,
        delta_fen,
        reverses_id: input
            .reverses_id
            .filter(|_| input.kind == EntryKind::Reversal),
        counterparty: input.counterparty,
        note: input.note,
        occurred_on: input.occurred_on,
        aid_record_id: input.aid_record_id,
        recorded_by: caller.id,
        recorded_at: now,
    };
    funds::append(conn, &new).await.map_err(|e| match e {
        crate::db::Error::RuleBroken { constraint } if constraint == funds::BALANCE_CONSTRAINT => {
            insufficient(None)
        }
        crate::db::Error::RuleBroken { constraint } if constraint == funds::LIMIT_CONSTRAINT => {
            Error::field(
                "amount_fen",
                "balance_limit",
                "the fund's balance would exceed 10^15 fen",
            )
        }
        crate::db::Error::Duplicate { constraint }
            if constraint == funds::REVERSED_ONCE_CONSTRAINT =>
        {
            Error::conflict("already_reversed", "this entry has already been reversed")
        }
        other => other.into(),
    })
}

/// Records a donation, a grant or a reversal (aid is recorded with its aid record).
pub async fn record_entry(
    ctx: &Context,
    caller: &Caller,
    fund_id: Uuid,
    input: EntryInput,
) -> Result<(EntryRow, i64)> {
    caller.require_any(&[Role::Charity])?;
    if input.kind == EntryKind::Aid {
        return Err(Error::field(
            "kind",
            "recorded_with_aid",
            "aid paid from a fund is recorded as an aid record naming the fund",
        ));
    }
    let now = ctx.clock.now();
    let ev = audit::by(ctx, caller, "fund.entry", "fund", fund_id);
    let caller = caller.clone();
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            let entry = append_entry(conn, &caller, fund_id, input, now).await?;
            let balance = load(conn, fund_id).await?.balance_fen;
            let e = Event::new("fund.entry_recorded", "fund", fund_id)
                .payload(json!({"entry_id": entry.id, "kind": entry.kind}));
            events::emit_for_organization(conn, e, caller.organization_id, now).await?;
            audit::append(
                conn,
                ev.details(
                    json!({"entry_id": entry.id, "kind": entry.kind, "delta_fen": entry.delta_fen}),
                ),
            )
            .await?;
            Ok((entry, balance))
        })
    })
    .await
}
