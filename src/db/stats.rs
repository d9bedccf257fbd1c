//! Statistics for joint-meeting reports (数据统计报告): aid by region, source, kind and form, and
//! the coverage of people in hardship. Counts and sums only.

use chrono::NaiveDate;
use diesel::sql_types::{BigInt, Date, Integer, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use super::{Conn, Result};

#[derive(Debug, Clone, QueryableByName, Serialize)]
pub struct AidRow {
    #[diesel(sql_type = Text)]
    pub region: String,
    /// `government` or `charity`.
    #[diesel(sql_type = Text)]
    pub source: String,
    /// The need category (charity aid) or the programme (government aid).
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub form: String,
    #[diesel(sql_type = BigInt)]
    pub records: i64,
    #[diesel(sql_type = BigInt)]
    pub people: i64,
    #[diesel(sql_type = BigInt)]
    pub value_fen: i64,
    #[diesel(sql_type = BigInt)]
    pub service_minutes: i64,
}

/// Aid given between `from` and `to` to people living under `prefix`, grouped by the region
/// `level` digits long.
pub async fn aid(
    conn: &mut Conn,
    prefix: &str,
    level: i32,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<AidRow>> {
    diesel::sql_query(
        "SELECT left(p.region_code, $4) AS region, 'charity' AS source, a.category AS kind,
                a.form, count(*) AS records, count(DISTINCT a.person_id) AS people,
                coalesce(sum(a.value_fen), 0)::bigint AS value_fen,
                coalesce(sum(a.service_minutes), 0)::bigint AS service_minutes
         FROM aid_records a JOIN persons p ON p.id = a.person_id
         WHERE p.region_code LIKE $1 AND a.aid_on BETWEEN $2 AND $3
         GROUP BY 1, 2, 3, 4
         UNION ALL
         SELECT left(p.region_code, $4), 'government', g.programme, 'cash', count(*),
                count(DISTINCT g.person_id), coalesce(sum(g.amount_fen), 0)::bigint, 0
         FROM government_aid_records g JOIN persons p ON p.id = g.person_id
         WHERE p.region_code LIKE $1 AND g.period_start <= $3 AND g.period_end >= $2
         GROUP BY 1, 2, 3, 4
         ORDER BY 1, 2, 3, 4",
    )
    .bind::<Text, _>(format!("{prefix}%"))
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .bind::<Integer, _>(level)
    .load(conn)
    .await
    .map_err(Into::into)
}

#[derive(Debug, Clone, QueryableByName, Serialize)]
pub struct CoverageRow {
    #[diesel(sql_type = Text)]
    pub region: String,
    /// People on the register.
    #[diesel(sql_type = BigInt)]
    pub persons: i64,
    /// With a low-income tier or relapse monitoring in force during the period.
    #[diesel(sql_type = BigInt)]
    pub in_hardship: i64,
    #[diesel(sql_type = BigInt)]
    pub government_aided: i64,
    #[diesel(sql_type = BigInt)]
    pub charity_aided: i64,
    /// In hardship, helped by government aid and by no charity (where charity help is wanted).
    #[diesel(sql_type = BigInt)]
    pub government_only: i64,
    /// In hardship and helped by neither.
    #[diesel(sql_type = BigInt)]
    pub unaided: i64,
    /// Duplicate-aid flags on aid given in the period.
    #[diesel(sql_type = BigInt)]
    pub duplicate_flags: i64,
}

pub async fn coverage(
    conn: &mut Conn,
    prefix: &str,
    level: i32,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<CoverageRow>> {
    diesel::sql_query(
        "SELECT left(region_code, $4) AS region, count(*) AS persons,
                count(*) FILTER (WHERE h) AS in_hardship,
                count(*) FILTER (WHERE g) AS government_aided,
                count(*) FILTER (WHERE c) AS charity_aided,
                count(*) FILTER (WHERE h AND g AND NOT c) AS government_only,
                count(*) FILTER (WHERE h AND NOT g AND NOT c) AS unaided,
                coalesce(sum(f), 0)::bigint AS duplicate_flags
         FROM (
           SELECT p.region_code,
             (p.tier IS NOT NULL AND coalesce(p.tier_valid_from, $2) <= $3
                AND coalesce(p.tier_valid_to, $3) >= $2)
             OR (p.relapse_monitoring AND coalesce(p.relapse_valid_from, $2) <= $3
                AND coalesce(p.relapse_valid_to, $3) >= $2) AS h,
             EXISTS (SELECT 1 FROM government_aid_records g WHERE g.person_id = p.id
                     AND g.period_start <= $3 AND g.period_end >= $2) AS g,
             EXISTS (SELECT 1 FROM aid_records a WHERE a.person_id = p.id
                     AND a.aid_on BETWEEN $2 AND $3) AS c,
             (SELECT count(*) FROM aid_duplicate_flags d JOIN aid_records a ON a.id = d.aid_record_id
              WHERE d.person_id = p.id AND a.aid_on BETWEEN $2 AND $3) AS f
           FROM persons p WHERE p.region_code LIKE $1
         ) x
         GROUP BY 1 ORDER BY 1",
    )
    .bind::<Text, _>(format!("{prefix}%"))
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .bind::<Integer, _>(level)
    .load(conn)
    .await
    .map_err(Into::into)
}
