//! Statistics reports (数据统计报告) per region and period: aid by source, kind and form, and
//! who in hardship is helped by whom. Civil-affairs staff for their region; auditors anywhere
//! (their reads recorded).

use chrono::{Datelike, NaiveDate};
use serde_json::json;

use super::{access, audit, Context, Error, Result};
use crate::auth::Caller;
use crate::db::stats::{self, AidRow, CoverageRow, OverdueRow, ReferralStatsRow};
use crate::domain::time::local_date;

/// A report's scope: the region prefix, the length of the regions it is grouped by, the period.
#[derive(Debug, Clone)]
pub struct Scope {
    pub region: String,
    pub level: i32,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The next administrative level below a prefix (province → city → county → township → village).
fn level_below(prefix: &str) -> i32 {
    match prefix.len() {
        0 | 1 => 2,
        2 | 3 => 4,
        4 | 5 => 6,
        6..=8 => 9,
        _ => 12,
    }
}

async fn scope(
    ctx: &Context,
    caller: &Caller,
    region: Option<&str>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Scope> {
    let prefix = access::list_scope(caller, region)?;
    let today = local_date(ctx.clock.now());
    let to = to.unwrap_or(today);
    let from = from
        .or_else(|| NaiveDate::from_ymd_opt(to.year(), 1, 1))
        .unwrap_or(to);
    if from > to {
        return Err(Error::bad_parameter(
            "invalid_query",
            "from",
            "after_to",
            "the period starts after it ends",
        ));
    }
    Ok(Scope {
        level: level_below(&prefix),
        region: prefix,
        from,
        to,
    })
}

pub async fn aid(
    ctx: &Context,
    caller: &Caller,
    region: Option<&str>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<(Scope, Vec<AidRow>)> {
    let s = scope(ctx, caller, region, from, to).await?;
    let rows = {
        let mut conn = crate::db::connect(&ctx.read_pool).await?;
        stats::aid(&mut conn, &s.region, s.level, s.from, s.to).await?
    };
    audit::record_supervision_read(
        ctx,
        caller,
        "stats.aid",
        "stats",
        None,
        json!({"region": s.region, "from": s.from, "to": s.to}),
    )
    .await?;
    Ok((s, rows))
}

pub async fn coverage(
    ctx: &Context,
    caller: &Caller,
    region: Option<&str>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<(Scope, Vec<CoverageRow>)> {
    let s = scope(ctx, caller, region, from, to).await?;
    let rows = {
        let mut conn = crate::db::connect(&ctx.read_pool).await?;
        stats::coverage(&mut conn, &s.region, s.level, s.from, s.to).await?
    };
    audit::record_supervision_read(
        ctx,
        caller,
        "stats.coverage",
        "stats",
        None,
        json!({"region": s.region, "from": s.from, "to": s.to}),
    )
    .await?;
    Ok((s, rows))
}

/// Referrals and leads per region (转介与线索统计). Civil-affairs staff (their region) and auditors.
pub async fn referrals(
    ctx: &Context,
    caller: &Caller,
    region: Option<&str>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<(Scope, Vec<ReferralStatsRow>)> {
    let s = scope(ctx, caller, region, from, to).await?;
    let rows = {
        let mut conn = crate::db::connect(&ctx.read_pool).await?;
        stats::referrals(&mut conn, &s.region, s.level, s.from, s.to).await?
    };
    audit::record_supervision_read(
        ctx,
        caller,
        "stats.referrals",
        "stats",
        None,
        json!({"region": s.region, "from": s.from, "to": s.to}),
    )
    .await?;
    Ok((s, rows))
}

/// What is past its deadline under a region (逾期清单): referrals unanswered or without their
/// outcome, leads not acknowledged, emergency referrals still without consent. Civil-affairs
/// staff (their region) and auditors (recorded).
pub async fn overdue(
    ctx: &Context,
    caller: &Caller,
    region: Option<&str>,
    limit: i64,
) -> Result<(String, Vec<OverdueRow>)> {
    let prefix = access::list_scope(caller, region)?;
    let now = ctx.clock.now();
    let hours = ctx.config.deadlines.emergency_consent.num_hours();
    let rows = {
        let mut conn = crate::db::connect(&ctx.read_pool).await?;
        stats::overdue(&mut conn, &prefix, now, hours, limit).await?
    };
    audit::record_supervision_read(
        ctx,
        caller,
        "supervision.overdue",
        "stats",
        None,
        json!({"region": prefix}),
    )
    .await?;
    Ok((prefix, rows))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reports_group_by_the_level_below() {
        use super::level_below;
        assert_eq!(level_below(""), 2);
        assert_eq!(level_below("23"), 4);
        assert_eq!(level_below("2301"), 6);
        assert_eq!(level_below("230102"), 9);
        assert_eq!(level_below("230102001"), 12);
        assert_eq!(level_below("230102001001"), 12);
    }
}
