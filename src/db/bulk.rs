//! Bulk writes for the generator (`aidbridge generate`): people through `unnest` (one statement
//! per batch, a handful of parameters whatever its size), everything else derived on the server
//! from the people and the seed by the statements of [`STAGES`]. Identifiers derive from the seed
//! (`md5(seed:kind:n)`), so the same seed gives the same rows.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Int4, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::{Conn, Result};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Rows in one of the generator's tables (the name is one of ours, never a caller's).
pub async fn count(conn: &mut Conn, table: &'static str) -> Result<i64> {
    let row: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
        .get_result(conn)
        .await?;
    Ok(row.n)
}

/// Accounts other than those named.
pub async fn other_users(conn: &mut Conn, names: &[&str]) -> Result<i64> {
    let row: Count =
        diesel::sql_query("SELECT count(*) AS n FROM users WHERE username <> ALL ($1)")
            .bind::<Array<Text>, _>(names)
            .get_result(conn)
            .await?;
    Ok(row.n)
}

pub async fn bureau_of(conn: &mut Conn, region: &str) -> Result<Option<Uuid>> {
    let rows: Vec<Id> = diesel::sql_query(
        "SELECT id FROM organizations WHERE kind = 'civil_affairs_bureau' AND region_code = $1
         ORDER BY created_at LIMIT 1",
    )
    .bind::<Text, _>(region)
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().map(|r| r.id))
}

pub async fn organization_named(conn: &mut Conn, name: &str) -> Result<Option<Uuid>> {
    let rows: Vec<Id> = diesel::sql_query("SELECT id FROM organizations WHERE name = $1")
        .bind::<Text, _>(name)
        .load(conn)
        .await?;
    Ok(rows.into_iter().next().map(|r| r.id))
}

/// (id, name, region) of each bureau to add.
pub async fn insert_bureaus(
    conn: &mut Conn,
    bureaus: &[(Uuid, String, String)],
    now: DateTime<Utc>,
) -> Result<usize> {
    diesel::sql_query(
        "INSERT INTO organizations (id, kind, name, region_code, created_at, updated_at)
         SELECT id, 'civil_affairs_bureau', name, region, $4, $4
         FROM unnest($1::uuid[], $2::text[], $3::text[]) AS t(id, name, region)",
    )
    .bind::<Array<SqlUuid>, _>(bureaus.iter().map(|b| b.0).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(bureaus.iter().map(|b| b.1.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(bureaus.iter().map(|b| b.2.clone()).collect::<Vec<_>>())
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await
    .map_err(Into::into)
}

pub struct CountyRow {
    pub code: String,
    pub name: String,
    pub prefecture: String,
    pub prefecture_name: String,
    pub prefecture_index: i32,
    pub index_in_prefecture: i32,
    pub counties_in_prefecture: i32,
    pub bureau: Uuid,
}

/// The counties as a temporary table of this connection, for the stages to join.
pub async fn create_county_table(conn: &mut Conn, rows: &[CountyRow]) -> Result<()> {
    diesel::sql_query(
        "CREATE TEMPORARY TABLE gen_counties AS
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[],
                              $7::int[], $8::uuid[])
             AS t(code, name, prefecture, prefecture_name, p_idx, c_idx, n_in_pref, bureau)",
    )
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.code.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(
        rows.iter()
            .map(|r| r.prefecture.clone())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Text>, _>(
        rows.iter()
            .map(|r| r.prefecture_name.clone())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Int4>, _>(rows.iter().map(|r| r.prefecture_index).collect::<Vec<_>>())
    .bind::<Array<Int4>, _>(
        rows.iter()
            .map(|r| r.index_in_prefecture)
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Int4>, _>(
        rows.iter()
            .map(|r| r.counties_in_prefecture)
            .collect::<Vec<_>>(),
    )
    .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.bureau).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// What every stage may use: `$1` seed, `$2` now, `$3` charities, `$4` projects, `$5` the demo
/// charity, `$6`/`$7` the guardian's encrypted ID number and its hash.
pub struct Params {
    pub seed: String,
    pub now: DateTime<Utc>,
    pub charities: i64,
    pub projects: i64,
    pub demo_charity: Uuid,
    pub guardian_encrypted: String,
    pub guardian_hash: String,
}

pub struct Stage {
    pub name: &'static str,
    sql: &'static str,
}

pub async fn run_stage(conn: &mut Conn, stage: &Stage, p: &Params) -> Result<usize> {
    diesel::sql_query(stage.sql)
        .bind::<Text, _>(&p.seed)
        .bind::<Timestamptz, _>(p.now)
        .bind::<BigInt, _>(p.charities)
        .bind::<BigInt, _>(p.projects)
        .bind::<SqlUuid, _>(p.demo_charity)
        .bind::<Text, _>(&p.guardian_encrypted)
        .bind::<Text, _>(&p.guardian_hash)
        .execute(conn)
        .await
        .map_err(Into::into)
}

/// After a bulk load: statistics for the planner, and the GIN indexes' pending lists merged
/// (until then every array match scans them).
pub async fn vacuum_analyze(conn: &mut Conn) -> Result<()> {
    diesel::sql_query("VACUUM ANALYZE").execute(conn).await?;
    Ok(())
}

/// `(hashtext(…) & 2147483647)` below is a deterministic pseudo-random number per row.
pub const STAGES: &[Stage] = &[
    Stage {
        name: "charities",
        sql: "INSERT INTO organizations (id, kind, name, region_code, public_fundraising,
                  created_at, updated_at)
              SELECT md5($1 || ':charity:' || g)::uuid, 'charity',
                     c.prefecture_name
                       || (ARRAY['仁爱','春晖','阳光','博爱','同心','善行','暖心','启明','康宁','关爱'])[1 + (g / 13) % 10]
                       || (ARRAY['慈善基金会','慈善协会','社会工作服务中心','公益促进会'])[1 + (g / 130) % 4]
                       || '（' || g || '）',
                     CASE WHEN g % 3 = 0 THEN c.prefecture ELSE c.code END,
                     g % 4 = 0, $2 - interval '3 years', $2 - interval '3 years'
              FROM generate_series(0, $3 - 1) g
              JOIN gen_counties c ON c.p_idx = g % 13 AND c.c_idx = (g / 13) % c.n_in_pref",
    },
    Stage {
        name: "projects",
        sql: "INSERT INTO projects (id, organization_id, name, categories, aid_form,
                  region_prefixes, tiers, relapse_monitoring, circumstances, min_age, max_age,
                  per_person_cap_fen, capacity, places_left, budget_fen, spent_fen, starts_on,
                  ends_on, procedures, standards, contact, status, published_at, closed_at,
                  created_at, updated_at)
              SELECT id, org, name, ARRAY[cat], form, ARRAY[region], tiers, relapse, circ,
                     CASE WHEN cat = 'care_service' THEN 60 END,
                     CASE WHEN cat = 'education' THEN 22 END,
                     cap_fen, capacity, capacity, capacity * cap_fen, 0,
                     starts, starts + (365 + j % 365)::int,
                     '向户籍所在地乡镇（街道）或社区提出申请，经初审、公示后帮扶',
                     '按家庭困难程度分档，每人每年不超过上限',
                     '0451-' || lpad((j % 10000000)::text, 8, '0'),
                     status,
                     CASE WHEN status <> 'draft' THEN created END,
                     CASE WHEN status = 'closed' THEN created + make_interval(days => ((j % 365) / 2)::int) END,
                     created, created
              FROM (
                  SELECT j, md5($1 || ':project:' || j)::uuid AS id, o.id AS org, o.region_code AS region,
                         cat.code AS cat, cat.label || '帮扶项目（' || j || '）' AS name,
                         (ARRAY['material','service','both'])[1 + j % 3] AS form,
                         CASE j % 4 WHEN 0 THEN ARRAY['subsistence_allowance','extreme_poverty']
                                    WHEN 1 THEN ARRAY['marginal_low_income'] ELSE '{}' END AS tiers,
                         j % 9 = 0 AS relapse,
                         CASE WHEN cat.code = 'medical' AND j % 2 = 0 THEN ARRAY['major_illness','seriously_ill']
                              WHEN cat.code = 'education' THEN ARRAY['minor','schooling_costs']
                              ELSE '{}' END AS circ,
                         (1 + j % 20)::bigint * 50000 AS cap_fen,
                         20 + (j * 37) % 480 AS capacity,
                         ($2 - make_interval(days => (j % 365)::int))::date AS starts,
                         $2 - make_interval(days => (j % 365)::int) AS created,
                         CASE WHEN j % 10 = 0 THEN 'draft' WHEN j % 10 < 3 THEN 'closed'
                              ELSE 'published' END AS status
                  FROM generate_series(0, $4 - 1) j
                  JOIN organizations o ON o.id = md5($1 || ':charity:' || (j % $3))::uuid
                  JOIN (VALUES (0, 'medical', '大病医疗'), (1, 'education', '助学'),
                               (2, 'employment', '就业'), (3, 'emergency', '急难'),
                               (4, 'housing', '住房改善'), (5, 'living', '生活'),
                               (6, 'care_service', '照料服务'), (7, 'psychological', '心理关爱'),
                               (8, 'rehabilitation', '康复'), (9, 'skills', '技能培训'))
                       AS cat(i, code, label) ON cat.i = (j + j / $3) % 10
              ) p",
    },
    Stage {
        name: "projects of the demo charity",
        sql: "INSERT INTO projects (id, organization_id, name, categories, aid_form,
                  region_prefixes, capacity, places_left, budget_fen, starts_on, ends_on,
                  procedures, standards, contact, status, published_at, created_at, updated_at)
              SELECT md5($1 || ':demo-project:' || cat)::uuid, $5, label, ARRAY[cat], 'both',
                     ARRAY['230102'], 100000, 100000, 100000000000, ($2 - interval '30 days')::date,
                     ($2 + interval '700 days')::date, '社区申请，中心评估', '按评估结果', '0451-84600000',
                     'published', $2 - interval '30 days', $2 - interval '30 days', $2 - interval '30 days'
              FROM (VALUES ('living', '道里区困难群众生活关爱'), ('care_service', '道里区居家照料服务'),
                           ('medical', '道里区大病患者关爱')) AS t(cat, label)",
    },
    Stage {
        name: "government aid",
        sql: "INSERT INTO government_aid_records (id, person_id, programme, amount_fen,
                  period_start, period_end, source_system, certifying_region,
                  recorded_by_organization_id, created_at)
              SELECT md5($1 || ':gov:' || p.id || ':' || k)::uuid, p.id,
                     CASE WHEN k = 1 AND p.tier = 'subsistence_allowance' THEN 'subsistence_allowance'
                          WHEN k = 1 AND p.tier = 'extreme_poverty' THEN 'extreme_poverty_support'
                          ELSE (ARRAY['medical_aid','education_aid','housing_aid','employment_aid',
                                      'temporary_aid','disaster_relief'])[1 + (hashtext($1 || p.id::text || k) & 2147483647) % 6]
                     END,
                     300000 + (hashtext($1 || p.id::text) & 2147483647) % 300000,
                     (date_trunc('month', $2) - make_interval(months => 6 * k))::date,
                     (date_trunc('month', $2) - make_interval(months => 6 * (k - 1)) - interval '1 day')::date,
                     '黑龙江省社会救助信息系统', p.tier_certifying_region, p.registered_by_organization_id,
                     $2 - make_interval(months => 6 * (k - 1))
              FROM persons p CROSS JOIN generate_series(1, 2) k
              WHERE p.tier IS NOT NULL AND (k = 1 OR (hashtext($1 || p.id::text) & 2147483647) % 3 = 0)",
    },
    Stage {
        name: "needs (one person in five)",
        sql: "INSERT INTO needs (id, person_id, region_code, category, description,
                  amount_requested_fen, urgency, source, status, recorded_by_organization_id,
                  created_at, updated_at)
              SELECT md5($1 || ':need:' || id)::uuid, id, region_code, category,
                     CASE category
                         WHEN 'medical' THEN '住院治疗自付费用较高，家庭难以承担'
                         WHEN 'education' THEN '子女就学费用有缺口'
                         WHEN 'employment' THEN '劳动年龄内失业，需要就业帮扶'
                         WHEN 'emergency' THEN '突发变故，基本生活暂时困难'
                         WHEN 'housing' THEN '住房老旧，冬季取暖困难'
                         WHEN 'care_service' THEN '独居老人需要上门照料'
                         WHEN 'psychological' THEN '需要心理疏导'
                         WHEN 'rehabilitation' THEN '需要康复训练'
                         WHEN 'skills' THEN '希望参加技能培训'
                         ELSE '基本生活困难，需要物资帮扶' END,
                     CASE WHEN category IN ('medical', 'education', 'emergency', 'housing')
                          THEN 100000 + (h % 50) * 100000 END,
                     CASE WHEN (h / 100) % 100 < 3 THEN 'emergency'
                          WHEN (h / 100) % 100 < 15 THEN 'urgent' ELSE 'normal' END,
                     (ARRAY['screening','screening','screening','screening','screening',
                            'application','application','application','lead','charity_report'])[1 + (h / 10000) % 10],
                     CASE WHEN (h / 5) % 20 < 6 THEN 'open' WHEN (h / 5) % 20 < 11 THEN 'referred'
                          WHEN (h / 5) % 20 < 18 THEN 'met' ELSE 'closed' END,
                     registered_by_organization_id,
                     $2 - make_interval(days => 150 + ((h / 7) % 700)::int),
                     $2 - make_interval(days => 150 + ((h / 7) % 700)::int)
              FROM (
                  SELECT p.*, (hashtext($1 || p.id::text) & 2147483647) AS h,
                         CASE WHEN 'major_illness' = ANY (p.special_circumstances) THEN 'medical'
                              WHEN 'minor' = ANY (p.special_circumstances) THEN 'education'
                              WHEN 'elderly_dependent' = ANY (p.special_circumstances) THEN 'care_service'
                              ELSE (ARRAY['medical','education','employment','emergency','housing',
                                          'living','living','living','care_service','psychological',
                                          'rehabilitation','skills'])[1 + (hashtext($1 || 'c' || p.id::text) & 2147483647) % 12]
                         END AS category
                  FROM persons p
              ) p
              WHERE h % 5 = 0",
    },
    Stage {
        name: "referrals (chains per need, every state)",
        sql: "INSERT INTO referrals (id, person_id, need_ids, referring_organization_id,
                  referred_by, target_organization_id, owner_organization_id, project_id,
                  urgency, note, legal_basis, emergency_justification, status, response_due_at,
                  feedback_due_at, decline_reason, outcome, cancel_reason, previous_referral_id,
                  created_at, updated_at, emergency_since)
              SELECT id, person_id, ARRAY[need_id], bureau, bureau, target,
                     CASE WHEN status IN ('accepted', 'in_progress', 'completed') THEN target END,
                     CASE WHEN status IN ('pending', 'declined', 'expired', 'cancelled')
                               AND h2 % 5 < 2 AND target <> $5 AND project_j % 10 >= 3
                          THEN md5($1 || ':project:' || project_j)::uuid END,
                     urgency, '请协助核实并帮扶', basis,
                     CASE WHEN basis = 'emergency' THEN '突发重病，本人暂时无法表示同意' END,
                     status,
                     created + CASE urgency WHEN 'emergency' THEN interval '4 hours'
                                            WHEN 'urgent' THEN interval '24 hours' ELSE interval '72 hours' END,
                     CASE WHEN status IN ('accepted', 'in_progress', 'completed')
                          THEN created + interval '32 days' END,
                     CASE WHEN status = 'declined' THEN (ARRAY['no_capacity','not_eligible','unreachable',
                          'duplicate','outside_scope','other'])[1 + (h2 / 3) % 6] END,
                     CASE WHEN status = 'completed' AND need_status = 'met'
                          THEN (ARRAY['got_help','got_help','partly_helped'])[1 + (h2 / 3) % 3]
                          WHEN status = 'completed'
                          THEN (ARRAY['could_not_help','unreachable','declined_by_person'])[1 + (h2 / 3) % 3] END,
                     CASE WHEN status = 'cancelled' THEN '需求已由其他渠道解决' END,
                     prev, created,
                     CASE status WHEN 'pending' THEN created
                          WHEN 'declined' THEN created + make_interval(hours => 1 + (h2 % 48)::int)
                          WHEN 'expired' THEN created + CASE urgency WHEN 'emergency' THEN interval '4 hours'
                               WHEN 'urgent' THEN interval '24 hours' ELSE interval '72 hours' END
                          WHEN 'cancelled' THEN created + make_interval(hours => 2 + (h2 % 96)::int)
                          WHEN 'accepted' THEN created + make_interval(hours => 1 + (h2 % 24)::int)
                          WHEN 'in_progress' THEN created + make_interval(hours => 25 + (h2 % 24)::int)
                          ELSE created + make_interval(days => 10 + (h2 % 20)::int) END,
                     CASE WHEN basis = 'emergency' THEN created END
              FROM (
                  SELECT chain.*,
                         md5($1 || ':referral:' || need_id || ':' || step)::uuid AS id,
                         CASE WHEN step > 1 THEN md5($1 || ':referral:' || need_id || ':' || (step - 1))::uuid END AS prev,
                         CASE WHEN region_code = '230102' AND h2 % 2 = 0 THEN $5
                              ELSE md5($1 || ':charity:' || (p_idx + 13 * (h2 % ($3 / 13))))::uuid END AS target,
                         p_idx + 13 * (h2 % ($3 / 13)) + $3 * ((h2 / 7) % ($4 / $3)) AS project_j,
                         CASE WHEN urgency = 'emergency' AND h2 % 4 = 0
                                   AND NOT (step = k AND need_status = 'referred')
                              THEN 'emergency' ELSE 'consent' END AS basis,
                         -- Open ones recent (pending within their deadline), earlier attempts
                         -- three weeks apart, each ended before the next began.
                         CASE WHEN step = k AND need_status = 'referred' AND (h2 % 3) = 0
                              THEN $2 - make_interval(mins => (h2 % 180)::int)
                              WHEN step = k AND need_status = 'referred'
                              THEN $2 - make_interval(days => 3 + (h2 % 20)::int)
                              ELSE need_at + make_interval(days => 1 + (step - 1) * 21, hours => (h2 % 24)::int)
                         END AS created,
                         CASE WHEN step < k THEN (ARRAY['declined','expired'])[1 + h2 % 2]
                              WHEN need_status = 'open'
                              THEN (ARRAY['declined','expired','cancelled'])[1 + h2 % 3]
                              WHEN need_status = 'referred'
                              THEN (ARRAY['pending','accepted','in_progress'])[1 + (h2 % 3)]
                              ELSE 'completed' END AS status
                  FROM (
                      SELECT n.*, s.step, (hashtext($1 || ':s:' || n.need_id || ':' || s.step) & 2147483647) AS h2
                      FROM (
                          SELECT n.id AS need_id, n.person_id, n.region_code, n.urgency,
                                 n.status AS need_status, n.created_at AS need_at,
                                 n.recorded_by_organization_id AS bureau, c.p_idx,
                                 (hashtext($1 || ':r:' || n.id) & 2147483647) AS h,
                                 CASE n.status WHEN 'open' THEN (hashtext($1 || ':r:' || n.id) & 2147483647) % 4
                                               WHEN 'closed' THEN 1 + (hashtext($1 || ':r:' || n.id) & 2147483647) % 2
                                               ELSE 1 + (hashtext($1 || ':r:' || n.id) & 2147483647) % 5 END AS k
                          FROM needs n JOIN gen_counties c ON c.code = n.region_code
                      ) n
                      CROSS JOIN LATERAL generate_series(1, n.k) s(step)
                  ) chain
              ) r",
    },
    Stage {
        name: "consents behind the referrals",
        sql: "INSERT INTO consents (id, person_id, recipient_organization_id, purposes,
                  data_categories, method, notice_version, notice_sha256, evidence_ref, given_by,
                  guardian_name, guardian_relation, guardian_id_number_encrypted,
                  guardian_id_number_hash, given_at, expires_at, recorded_by_organization_id,
                  recorded_by, created_at)
              SELECT md5($1 || ':consent:' || r.id)::uuid, r.person_id, r.target_organization_id,
                     ARRAY['referral', 'follow_up'], ARRAY['identity', 'contact', 'household'],
                     (ARRAY['written', 'electronic', 'oral_witnessed'])[1 + (hashtext(r.id::text) & 2147483647) % 3],
                     'hlj-referral-notice-2024.1',
                     '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
                     'scan-' || left(r.id::text, 8),
                     CASE WHEN minor THEN 'guardian' ELSE 'subject' END,
                     CASE WHEN minor THEN '监护人' END, CASE WHEN minor THEN 'parent' END,
                     CASE WHEN minor THEN $6 END, CASE WHEN minor THEN $7 END,
                     r.created_at - interval '1 day', r.created_at + interval '1 year',
                     r.referring_organization_id, r.referring_organization_id,
                     r.created_at - interval '1 day'
              FROM (SELECT r.*, p.birth_date > (r.created_at - interval '18 years')::date AS minor
                    FROM referrals r JOIN persons p ON p.id = r.person_id
                    WHERE r.legal_basis = 'consent') r",
    },
    Stage {
        name: "referral history",
        sql: "INSERT INTO referral_history (id, referral_id, from_status, to_status,
                  actor_organization_id, at)
              SELECT md5($1 || ':history:' || r.id || ':' || t.n)::uuid, r.id, t.from_status,
                     t.to_status, t.org, t.at
              FROM referrals r
              CROSS JOIN LATERAL (VALUES
                  (0, NULL, 'pending', r.referring_organization_id, r.created_at),
                  (1, 'pending', 'accepted', r.target_organization_id,
                   CASE WHEN r.status = 'accepted' THEN r.updated_at ELSE r.created_at + interval '1 hour' END),
                  (2, 'accepted', 'in_progress', r.target_organization_id,
                   CASE WHEN r.status = 'in_progress' THEN r.updated_at ELSE r.created_at + interval '25 hours' END),
                  (3, 'in_progress', 'completed', r.target_organization_id, r.updated_at),
                  (4, 'pending', r.status,
                   CASE r.status WHEN 'declined' THEN r.target_organization_id
                                 WHEN 'cancelled' THEN r.referring_organization_id END,
                   r.updated_at)
              ) AS t(n, from_status, to_status, org, at)
              WHERE t.n = 0
                 OR (t.n = 1 AND r.status IN ('accepted', 'in_progress', 'completed'))
                 OR (t.n = 2 AND r.status IN ('in_progress', 'completed'))
                 OR (t.n = 3 AND r.status = 'completed')
                 OR (t.n = 4 AND r.status IN ('declined', 'expired', 'cancelled'))",
    },
    Stage {
        name: "load-run pool: open needs in 230102",
        sql: "INSERT INTO needs (id, person_id, region_code, category, description, urgency,
                  source, status, recorded_by_organization_id, created_at, updated_at)
              SELECT md5($1 || ':pool-need:' || p.id)::uuid, p.id, p.region_code,
                     (ARRAY['living', 'care_service', 'medical'])[1 + (hashtext(p.id::text) & 2147483647) % 3],
                     '入户排查发现生活困难，需要帮扶', 'normal', 'screening', 'open',
                     p.registered_by_organization_id, $2 - interval '10 days', $2 - interval '10 days'
              FROM persons p
              WHERE p.region_code = '230102'
                AND NOT EXISTS (SELECT 1 FROM needs n WHERE n.person_id = p.id)",
    },
    Stage {
        name: "load-run pool: consents to the demo charity",
        sql: "INSERT INTO consents (id, person_id, recipient_organization_id, purposes,
                  data_categories, method, notice_version, notice_sha256, evidence_ref, given_by,
                  guardian_name, guardian_relation, guardian_id_number_encrypted,
                  guardian_id_number_hash, given_at, expires_at, recorded_by_organization_id,
                  recorded_by, created_at)
              SELECT md5($1 || ':pool-consent:' || p.id)::uuid, p.id, $5,
                     ARRAY['referral', 'matching', 'follow_up'], ARRAY['identity', 'contact', 'household'],
                     'written', 'hlj-referral-notice-2024.1',
                     '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
                     'scan-' || left(p.id::text, 8),
                     CASE WHEN minor THEN 'guardian' ELSE 'subject' END,
                     CASE WHEN minor THEN '监护人' END, CASE WHEN minor THEN 'parent' END,
                     CASE WHEN minor THEN $6 END, CASE WHEN minor THEN $7 END,
                     $2 - interval '10 days', $2 + interval '1 year',
                     p.registered_by_organization_id, p.registered_by_organization_id,
                     $2 - interval '10 days'
              FROM (SELECT p.*, p.birth_date > ($2 - interval '18 years')::date AS minor
                    FROM persons p WHERE p.region_code = '230102'
                      AND EXISTS (SELECT 1 FROM needs n WHERE n.person_id = p.id AND n.status = 'open')) p",
    },
];
