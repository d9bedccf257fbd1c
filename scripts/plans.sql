-- Fills a migrated, empty database with a synthetic province (100 k persons, 60 k needs,
-- 40 k government aid records, 200 k audit events) and prints the plans of the list queries.
-- Usage: psql "$DATABASE_URL" -f scripts/plans.sql   (see docs/BENCHMARKS.md, "Query plans")
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
INSERT INTO organizations (id, kind, name, region_code)
VALUES ('00000000-0000-7000-8000-000000000001', 'civil_affairs_bureau', '演示民政局', '23');
-- 13 prefecture-level divisions, 10 counties each, 10 townships each.
INSERT INTO persons (id, name, id_number_encrypted, id_number_hash, id_number_masked, birth_date,
    sex, region_code, tier, tier_certifying_region, tier_valid_from, special_circumstances,
    registered_by_organization_id)
SELECT
    (lpad(to_hex(1000000 + g), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
    'p' || g,
    'v1:k1:x' || g,
    encode(sha256(('id' || g)::bytea), 'hex'),
    '**************' || lpad((g % 10000)::text, 4, '0'),
    date '1940-01-01' + (g % 25000),
    CASE WHEN g % 2 = 0 THEN 'male' ELSE 'female' END,
    '23' || lpad((1 + g % 13)::text, 2, '0') || lpad((1 + (g / 13) % 10)::text, 2, '0')
        || lpad((1 + (g / 130) % 10)::text, 3, '0'),
    (ARRAY['subsistence_allowance', 'extreme_poverty', 'marginal_low_income', NULL, NULL])[1 + g % 5],
    CASE WHEN g % 5 < 3 THEN '23' END,
    CASE WHEN g % 5 < 3 THEN date '2024-01-01' END,
    CASE WHEN g % 7 = 0 THEN ARRAY['disabled'] WHEN g % 11 = 0 THEN ARRAY['major_illness', 'income_loss']
         ELSE '{}' END,
    '00000000-0000-7000-8000-000000000001'
FROM generate_series(1, 100000) g;
INSERT INTO needs (id, person_id, region_code, category, description, urgency, source, status,
    recorded_by_organization_id)
SELECT gen_random_uuid(), p.id, p.region_code,
    (ARRAY['medical', 'education', 'living', 'care_service'])[1 + n % 4], 'need',
    'normal', 'screening', (ARRAY['open', 'open', 'referred', 'met', 'closed'])[1 + n % 5],
    p.registered_by_organization_id
FROM (SELECT id, region_code, registered_by_organization_id, row_number() OVER () AS n
      FROM persons WHERE name::text ~ '[02468]$' OR name ~ '5$') p
LIMIT 60000;
INSERT INTO government_aid_records (id, person_id, programme, amount_fen, period_start, period_end,
    source_system, certifying_region, recorded_by_organization_id)
SELECT gen_random_uuid(), id, 'subsistence_allowance', 68000, date '2026-01-01', date '2026-12-31',
    'dibao', '23', registered_by_organization_id
FROM persons WHERE name ~ '[0-3]$' LIMIT 40000;
ALTER TABLE audit_events DISABLE TRIGGER USER;
INSERT INTO audit_events (id, occurred_at, actor_kind, action, entity_type, entity_id, details,
    prev_hash, hash)
SELECT gen_random_uuid(), now() - (g || ' seconds')::interval, 'system',
    (ARRAY['person.read', 'person.create', 'need.create'])[1 + g % 3], 'person',
    (lpad(to_hex(1000000 + 1 + g % 100000), 8, '0') || '-0000-7000-8000-'
        || lpad(to_hex(1 + g % 100000), 12, '0'))::uuid,
    '{}', repeat('0', 64), repeat('0', 64)
FROM generate_series(1, 200000) g;
ALTER TABLE audit_events ENABLE TRIGGER USER;
COMMIT;
ANALYZE;

\echo '== persons in a city, first page'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT id FROM persons WHERE region_code LIKE '2301%' ORDER BY id LIMIT 51;
\echo '== persons in a county with a circumstance'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT id FROM persons WHERE region_code LIKE '230102%' AND special_circumstances @> '{disabled}'
ORDER BY id LIMIT 51;
\echo '== persons by circumstance, province-wide (auditor)'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT id FROM persons WHERE region_code LIKE '23%' AND special_circumstances @> '{major_illness}'
ORDER BY id LIMIT 51;
\echo '== persons still in hardship after government aid, in a city'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT id FROM persons p WHERE region_code LIKE '2301%'
  AND EXISTS (SELECT 1 FROM government_aid_records g WHERE g.person_id = p.id)
  AND EXISTS (SELECT 1 FROM needs n WHERE n.person_id = p.id AND n.status = 'open')
ORDER BY id LIMIT 51;
\echo '== open needs in a county'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT id FROM needs WHERE region_code LIKE '230103%' AND status = 'open' ORDER BY id LIMIT 51;
\echo '== open needs in a city'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT id FROM needs WHERE region_code LIKE '2301%' AND status = 'open' ORDER BY id LIMIT 51;
\echo '== one person''s audit history, newest first'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT seq FROM audit_events WHERE entity_type = 'person'
  AND entity_id = '000f4241-0000-7000-8000-000000000001' ORDER BY seq DESC LIMIT 51;
