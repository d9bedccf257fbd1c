//! Statistics for joint-meeting reports (数据统计报告): aid by region, source, kind and form, and
//! the coverage of people in hardship. Counts and sums only.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::sql_types::{BigInt, Date, Double, Integer, Nullable, Text, Timestamptz};
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

/// Referrals and leads per region for the joint-meeting report: referrals made in the period by
/// status, answers and their times, outcomes and decline reasons; leads reported in the period
/// by outcome. Regions are the people's (referrals) and the leads' own.
#[derive(Debug, Clone, QueryableByName, Serialize)]
pub struct ReferralStatsRow {
    #[diesel(sql_type = Text)]
    pub region: String,
    #[diesel(sql_type = BigInt)]
    pub referrals: i64,
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    #[diesel(sql_type = BigInt)]
    pub accepted: i64,
    #[diesel(sql_type = BigInt)]
    pub in_progress: i64,
    #[diesel(sql_type = BigInt)]
    pub completed: i64,
    #[diesel(sql_type = BigInt)]
    pub declined: i64,
    #[diesel(sql_type = BigInt)]
    pub expired: i64,
    #[diesel(sql_type = BigInt)]
    pub cancelled: i64,
    /// Accepted at some point (whatever happened after).
    #[diesel(sql_type = BigInt)]
    pub ever_accepted: i64,
    #[diesel(sql_type = BigInt)]
    pub emergency_basis: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub median_response_hours: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub median_completion_hours: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub got_help: i64,
    #[diesel(sql_type = BigInt)]
    pub partly_helped: i64,
    #[diesel(sql_type = BigInt)]
    pub could_not_help: i64,
    #[diesel(sql_type = BigInt)]
    pub outcome_unreachable: i64,
    #[diesel(sql_type = BigInt)]
    pub declined_by_person: i64,
    #[diesel(sql_type = BigInt)]
    pub decline_no_capacity: i64,
    #[diesel(sql_type = BigInt)]
    pub decline_not_eligible: i64,
    #[diesel(sql_type = BigInt)]
    pub decline_unreachable: i64,
    #[diesel(sql_type = BigInt)]
    pub decline_duplicate: i64,
    #[diesel(sql_type = BigInt)]
    pub decline_outside_scope: i64,
    #[diesel(sql_type = BigInt)]
    pub decline_other: i64,
    #[diesel(sql_type = BigInt)]
    pub leads: i64,
    #[diesel(sql_type = BigInt)]
    pub leads_open: i64,
    #[diesel(sql_type = BigInt)]
    pub leads_aid_granted: i64,
    #[diesel(sql_type = BigInt)]
    pub leads_not_eligible: i64,
    #[diesel(sql_type = BigInt)]
    pub leads_duplicate: i64,
    #[diesel(sql_type = BigInt)]
    pub leads_unreachable: i64,
}

pub async fn referrals(
    conn: &mut Conn,
    prefix: &str,
    level: i32,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<ReferralStatsRow>> {
    diesel::sql_query(
        "WITH r AS (
           SELECT left(p.region_code, $4) AS region, r.status, r.outcome, r.decline_reason,
                  r.legal_basis, r.created_at,
                  (SELECT min(h.at) FROM referral_history h WHERE h.referral_id = r.id
                     AND h.to_status IN ('accepted', 'declined')) AS answered_at,
                  (SELECT min(h.at) FROM referral_history h WHERE h.referral_id = r.id
                     AND h.to_status = 'accepted') AS accepted_at,
                  (SELECT min(h.at) FROM referral_history h WHERE h.referral_id = r.id
                     AND h.to_status = 'completed') AS completed_at
           FROM referrals r JOIN persons p ON p.id = r.person_id
           WHERE p.region_code LIKE $1
             AND (r.created_at AT TIME ZONE 'Asia/Shanghai')::date BETWEEN $2 AND $3
             -- A forward continues the case under a new referral: count the case once.
             AND r.cancel_reason IS DISTINCT FROM 'forwarded'
         ), ra AS (
           SELECT region, count(*) AS referrals,
             count(*) FILTER (WHERE status = 'pending') AS pending,
             count(*) FILTER (WHERE status = 'accepted') AS accepted,
             count(*) FILTER (WHERE status = 'in_progress') AS in_progress,
             count(*) FILTER (WHERE status = 'completed') AS completed,
             count(*) FILTER (WHERE status = 'declined') AS declined,
             count(*) FILTER (WHERE status = 'expired') AS expired,
             count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
             count(*) FILTER (WHERE accepted_at IS NOT NULL) AS ever_accepted,
             count(*) FILTER (WHERE legal_basis = 'emergency') AS emergency_basis,
             percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM answered_at - created_at) / 3600) AS median_response_hours,
             percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM completed_at - created_at) / 3600) AS median_completion_hours,
             count(*) FILTER (WHERE outcome = 'got_help') AS got_help,
             count(*) FILTER (WHERE outcome = 'partly_helped') AS partly_helped,
             count(*) FILTER (WHERE outcome = 'could_not_help') AS could_not_help,
             count(*) FILTER (WHERE outcome = 'unreachable') AS outcome_unreachable,
             count(*) FILTER (WHERE outcome = 'declined_by_person') AS declined_by_person,
             count(*) FILTER (WHERE decline_reason = 'no_capacity') AS decline_no_capacity,
             count(*) FILTER (WHERE decline_reason = 'not_eligible') AS decline_not_eligible,
             count(*) FILTER (WHERE decline_reason = 'unreachable') AS decline_unreachable,
             count(*) FILTER (WHERE decline_reason = 'duplicate') AS decline_duplicate,
             count(*) FILTER (WHERE decline_reason = 'outside_scope') AS decline_outside_scope,
             count(*) FILTER (WHERE decline_reason = 'other') AS decline_other
           FROM r GROUP BY region
         ), la AS (
           SELECT left(l.region_code, $4) AS region, count(*) AS leads,
             count(*) FILTER (WHERE l.status <> 'closed') AS leads_open,
             count(*) FILTER (WHERE l.outcome = 'aid_granted') AS leads_aid_granted,
             count(*) FILTER (WHERE l.outcome = 'not_eligible') AS leads_not_eligible,
             count(*) FILTER (WHERE l.outcome = 'duplicate') AS leads_duplicate,
             count(*) FILTER (WHERE l.outcome = 'unreachable') AS leads_unreachable
           FROM leads l
           WHERE l.region_code LIKE $1
             AND (l.created_at AT TIME ZONE 'Asia/Shanghai')::date BETWEEN $2 AND $3
           GROUP BY 1
         )
         SELECT coalesce(ra.region, la.region) AS region,
           coalesce(ra.referrals, 0) AS referrals, coalesce(ra.pending, 0) AS pending,
           coalesce(ra.accepted, 0) AS accepted, coalesce(ra.in_progress, 0) AS in_progress,
           coalesce(ra.completed, 0) AS completed, coalesce(ra.declined, 0) AS declined,
           coalesce(ra.expired, 0) AS expired, coalesce(ra.cancelled, 0) AS cancelled,
           coalesce(ra.ever_accepted, 0) AS ever_accepted,
           coalesce(ra.emergency_basis, 0) AS emergency_basis,
           ra.median_response_hours, ra.median_completion_hours,
           coalesce(ra.got_help, 0) AS got_help, coalesce(ra.partly_helped, 0) AS partly_helped,
           coalesce(ra.could_not_help, 0) AS could_not_help,
           coalesce(ra.outcome_unreachable, 0) AS outcome_unreachable,
           coalesce(ra.declined_by_person, 0) AS declined_by_person,
           coalesce(ra.decline_no_capacity, 0) AS decline_no_capacity,
           coalesce(ra.decline_not_eligible, 0) AS decline_not_eligible,
           coalesce(ra.decline_unreachable, 0) AS decline_unreachable,
           coalesce(ra.decline_duplicate, 0) AS decline_duplicate,
           coalesce(ra.decline_outside_scope, 0) AS decline_outside_scope,
           coalesce(ra.decline_other, 0) AS decline_other,
           coalesce(la.leads, 0) AS leads, coalesce(la.leads_open, 0) AS leads_open,
           coalesce(la.leads_aid_granted, 0) AS leads_aid_granted,
           coalesce(la.leads_not_eligible, 0) AS leads_not_eligible,
           coalesce(la.leads_duplicate, 0) AS leads_duplicate,
           coalesce(la.leads_unreachable, 0) AS leads_unreachable
         FROM ra FULL JOIN la ON la.region = ra.region
         ORDER BY 1",
    )
    .bind::<Text, _>(format!("{prefix}%"))
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .bind::<Integer, _>(level)
    .load(conn)
    .await
    .map_err(Into::into)
}

/// Something past its deadline (DESIGN §3 Supervision, overdue lists).
#[derive(Debug, Clone, QueryableByName)]
pub struct OverdueRow {
    /// `response` (a referral not answered), `feedback` (accepted, no outcome reported),
    /// `lead_acknowledgement`, `emergency_consent` (a referral on the emergency basis still
    /// without the person's consent; due when it will be cancelled).
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub entity_type: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub entity_id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    pub region_code: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub urgency: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub due_at: DateTime<Utc>,
    /// Who must act: the charity (referrals), none for leads (the bureau of the region).
    #[diesel(sql_type = Nullable<diesel::sql_types::Uuid>)]
    pub responsible_organization_id: Option<uuid::Uuid>,
}

/// What is overdue at `now` under `prefix` (emergency referrals without consent are listed from
/// the start: `due_at` is when they will be cancelled), soonest due first.
pub async fn overdue(
    conn: &mut Conn,
    prefix: &str,
    now: DateTime<Utc>,
    emergency_consent_hours: i64,
    limit: i64,
) -> Result<Vec<OverdueRow>> {
    diesel::sql_query(
        "SELECT * FROM (
           SELECT 'response' AS kind, 'referral' AS entity_type, r.id AS entity_id, p.region_code,
                  r.urgency, r.response_due_at AS due_at,
                  coalesce(r.owner_organization_id, r.target_organization_id) AS responsible_organization_id
           FROM referrals r JOIN persons p ON p.id = r.person_id
           WHERE p.region_code LIKE $1 AND r.response_due_at < $2
             AND (r.status = 'pending'
                  -- Expired (the sweeper's work) and not referred again while a need waits.
                  OR (r.status = 'expired'
                      AND NOT EXISTS (SELECT 1 FROM referrals n WHERE n.previous_referral_id = r.id)
                      AND EXISTS (SELECT 1 FROM needs d WHERE d.id = ANY (r.need_ids)
                                  AND d.status = 'open')))
           UNION ALL
           SELECT 'feedback', 'referral', r.id, p.region_code, r.urgency, r.feedback_due_at,
                  r.owner_organization_id
           FROM referrals r JOIN persons p ON p.id = r.person_id
           WHERE r.status IN ('accepted', 'in_progress') AND r.feedback_due_at < $2
             AND p.region_code LIKE $1
           UNION ALL
           SELECT 'lead_acknowledgement', 'lead', l.id, l.region_code, NULL, l.acknowledge_due_at, NULL
           FROM leads l
           WHERE l.status = 'submitted' AND l.acknowledge_due_at < $2 AND l.region_code LIKE $1
           UNION ALL
           SELECT 'emergency_consent', 'referral', r.id, p.region_code, r.urgency,
                  r.emergency_since + make_interval(hours => $3::int),
                  coalesce(r.owner_organization_id, r.target_organization_id)
           FROM referrals r JOIN persons p ON p.id = r.person_id
           WHERE r.legal_basis = 'emergency' AND r.status IN ('pending', 'accepted', 'in_progress')
             AND p.region_code LIKE $1
         ) o ORDER BY due_at, entity_id LIMIT $4",
    )
    .bind::<Text, _>(format!("{prefix}%"))
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(emergency_consent_hours)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
    .map_err(Into::into)
}
