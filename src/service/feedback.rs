//! Periodic feedback reports (定期反馈): a charity reports many aid records at once; the report
//! is accepted whole or not at all, and a refusal lists every bad record by number and field.

use chrono::NaiveDate;
use serde_json::json;
use uuid::Uuid;

use super::aid::{record_in, AidInput, Recorded};
use super::{access, audit, transaction, Context, Error, FieldError, Result};
use crate::auth::Caller;
use crate::db::aid::AidRecordRow;
use crate::db::feedback::{self, ReportRow};
use crate::domain::region;
use crate::domain::role::Role;

/// A refusal of record `i` as field errors naming it.
fn row_errors(e: Error, i: usize) -> Vec<FieldError> {
    if e.errors.is_empty() {
        vec![FieldError::new(format!("records[{i}]"), e.code, e.detail)]
    } else {
        e.errors
    }
}

/// Submits a report (the caller's charity): every record is recorded as a single aid record
/// would be (places, budget, cap, fund, flags), each in a savepoint so that every bad record is
/// found; any failure rejects the whole report and nothing is written.
pub async fn submit(
    ctx: &Context,
    caller: &Caller,
    period: (NaiveDate, NaiveDate),
    format: &'static str,
    records: Vec<AidInput>,
) -> Result<(ReportRow, Vec<Recorded>)> {
    caller.require_any(&[Role::Charity])?;
    let mut errors = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if r.aid_on < period.0 || r.aid_on > period.1 {
            errors.push(FieldError::new(
                format!("records[{i}].aid_on"),
                "outside_report_period",
                "the aid was given outside the report's period",
            ));
        }
    }
    Error::check(errors)?;
    let mut people: Vec<Uuid> = records.iter().map(|r| r.person_id).collect();
    people.sort();
    people.dedup();
    for p in people {
        super::conflicts::guard(ctx, caller, p, "feedback_report.submit").await?;
    }
    let now = ctx.clock.now();
    let report = ReportRow {
        id: Uuid::now_v7(),
        organization_id: caller.organization_id,
        period_start: period.0,
        period_end: period.1,
        format: format.to_owned(),
        record_count: records.len() as i32,
        total_value_fen: records.iter().filter_map(|r| r.value_fen).sum(),
        total_service_minutes: records
            .iter()
            .filter_map(|r| r.service_minutes)
            .map(i64::from)
            .sum(),
        submitted_by: caller.id,
        submitted_at: now,
    };
    let mut ev = audit::by(
        ctx,
        caller,
        "feedback_report.submit",
        "feedback_report",
        report.id,
    );
    ev = ev.details(json!({"records": report.record_count, "format": format,
                          "period_start": period.0, "period_end": period.1}));
    let (ctx2, caller) = (ctx.clone(), caller.clone());
    transaction(&ctx.pool, |conn| {
        Box::pin(async move {
            feedback::insert(conn, &report).await?;
            let mut errors = Vec::new();
            let mut done = Vec::new();
            for (i, input) in records.into_iter().enumerate() {
                let prefix = format!("records[{i}].");
                let (ctx, caller, report_id) = (ctx2.clone(), caller.clone(), report.id);
                let outcome = crate::db::savepoint(conn, |c| {
                    Box::pin(async move {
                        record_in(c, &ctx, &caller, input, Some(report_id), &prefix).await
                    })
                })
                .await;
                match outcome {
                    Ok(r) => done.push(r),
                    // Not the record's fault (the database, a deadlock, a bug): the whole report
                    // fails as such, and may be sent again.
                    Err(e)
                        if matches!(e.kind, super::Kind::Unavailable | super::Kind::Internal)
                            || e.code == "concurrent_update" =>
                    {
                        return Err(e)
                    }
                    Err(e) => errors.extend(row_errors(e, i)),
                }
            }
            if !errors.is_empty() {
                let mut e = Error::validation(errors);
                e.detail = format!("the report is rejected as a whole: {}", e.detail);
                return Err(e);
            }
            audit::append(conn, ev).await?;
            Ok((report, super::aid::for_caller(&caller, done)))
        })
    })
    .await
}

/// Reports: a charity its own; civil-affairs staff those of charities registered in their
/// region; auditors all.
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    region: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ReportRow>> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    if caller.has(Role::Charity) && !caller.has(Role::CivilAffairs) {
        Ok(feedback::list(&mut conn, Some(caller.organization_id), None, after, limit).await?)
    } else {
        let prefix = access::list_scope(caller, region)?;
        Ok(feedback::list(&mut conn, None, Some(&prefix), after, limit).await?)
    }
}

/// One report with its records, for the same readers.
pub async fn get(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
) -> Result<(ReportRow, Vec<AidRecordRow>)> {
    let mut conn = crate::db::connect(&ctx.pool).await?;
    let (report, org_region) = feedback::find(&mut conn, id)
        .await?
        .ok_or_else(|| Error::not_found("feedback report"))?;
    let own = caller.has(Role::Charity) && report.organization_id == caller.organization_id;
    let bureau =
        caller.has(Role::CivilAffairs) && region::covers(caller.region.as_str(), &org_region);
    if !(own || bureau || caller.has(Role::Auditor)) {
        return Err(Error::not_found("feedback report"));
    }
    let mut records = feedback::records(&mut conn, id).await?;
    if bureau && !own {
        // A bureau sees the records of people in its own region only.
        let ids: Vec<Uuid> = records.iter().map(|r| r.person_id).collect();
        let people = crate::db::persons::find_many(&mut conn, &ids).await?;
        records.retain(|r| {
            people
                .iter()
                .any(|p| p.id == r.person_id && caller.covers_region(&p.region_code))
        });
    }
    drop(conn);
    audit::record_supervision_read(
        ctx,
        caller,
        "feedback_report.read",
        "feedback_report",
        Some(id),
        json!({}),
    )
    .await?;
    Ok((report, records))
}
