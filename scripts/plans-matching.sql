-- After scripts/plans.sql (same database): 200 charities with 20,000 projects (a third
-- published per category, regions from city to township), matching consents for a third of the
-- persons, and the plans of the two match queries as the repositories issue them.
-- Usage: psql "$DATABASE_URL" -f scripts/plans-matching.sql   (docs/BENCHMARKS.md, "Matching")
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
INSERT INTO organizations (id, kind, name, region_code)
SELECT (lpad(to_hex(2000000 + g), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
       'charity', '慈善' || g, '23' || lpad((1 + g % 13)::text, 2, '0')
FROM generate_series(1, 200) g;
INSERT INTO projects (id, organization_id, name, categories, aid_form, region_prefixes, tiers,
    circumstances, min_age, capacity, places_left, budget_fen, starts_on, ends_on, procedures,
    standards, status, published_at, created_at, updated_at)
SELECT gen_random_uuid(),
    (lpad(to_hex(2000000 + 1 + g % 200), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(1 + g % 200), 12, '0'))::uuid,
    'project ' || g,
    ARRAY[(ARRAY['medical', 'education', 'living', 'care_service', 'employment'])[1 + g % 5]],
    'material',
    ARRAY[CASE g % 3
        WHEN 0 THEN '23' || lpad((1 + g % 13)::text, 2, '0')
        WHEN 1 THEN '23' || lpad((1 + g % 13)::text, 2, '0') || lpad((1 + (g / 13) % 10)::text, 2, '0')
        ELSE '23' || lpad((1 + g % 13)::text, 2, '0') || lpad((1 + (g / 13) % 10)::text, 2, '0')
             || lpad((1 + (g / 130) % 10)::text, 3, '0') END],
    CASE WHEN g % 4 = 0 THEN ARRAY['subsistence_allowance'] ELSE '{}' END,
    CASE WHEN g % 6 = 0 THEN ARRAY['major_illness'] ELSE '{}' END,
    CASE WHEN g % 8 = 0 THEN 60 END,
    20, CASE WHEN g % 10 = 0 THEN 0 ELSE 10 END, 10000000,
    date '2026-01-01', date '2027-12-31', 'p', 's',
    (ARRAY['published', 'published', 'draft', 'closed'])[1 + g % 4],
    now(), now(), now()
FROM generate_series(1, 20000) g;
INSERT INTO consents (id, person_id, recipient_organization_id, recipient_region_code, purposes,
    data_categories, method, notice_version, notice_sha256, evidence_ref, given_by, given_at,
    recorded_by_organization_id, recorded_by, created_at)
SELECT gen_random_uuid(), p.id,
    CASE WHEN n % 2 = 0 THEN (lpad(to_hex(2000000 + 1 + n % 200), 8, '0') || '-0000-7000-8000-'
        || lpad(to_hex(1 + n % 200), 12, '0'))::uuid END,
    CASE WHEN n % 2 = 1 THEN left(p.region_code, 4) END,
    ARRAY['matching'], CASE WHEN n % 2 = 0 THEN ARRAY['identity'] ELSE '{}' END,
    'written', 'v1', repeat('a', 64), 'e', 'subject', now() - interval '1 day',
    p.registered_by_organization_id, p.registered_by_organization_id, now()
FROM (SELECT id, region_code, registered_by_organization_id, row_number() OVER () AS n
      FROM persons WHERE name ~ '[147]$') p;
COMMIT;
CREATE INDEX IF NOT EXISTS consents_recipient_region_idx ON consents (recipient_region_code)
    WHERE recipient_region_code IS NOT NULL;
ANALYZE;

\echo '== a need''s projects (GET /needs/{id}/matches): published, places left, regions overlapping the person''s prefixes, the category'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT id FROM projects
WHERE status = 'published' AND region_prefixes && ARRAY['23', '2301', '230101', '230101001']
  AND categories @> ARRAY['medical'] AND ends_on >= date '2026-11-29' AND places_left > 0
ORDER BY id LIMIT 500;

\echo '== a project''s needs (GET /projects/{id}/matches): open needs of the categories and regions whose person consented to matching'
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)
SELECT n.id AS need_id, n.person_id FROM needs n
WHERE n.status = 'open' AND n.category = ANY(ARRAY['medical']) AND n.region_code LIKE ANY(ARRAY['2301%'])
  AND EXISTS (SELECT 1 FROM consents c WHERE c.person_id = n.person_id
        AND 'matching' = ANY(c.purposes) AND c.withdrawn_at IS NULL
        AND c.given_at <= now() AND (c.expires_at IS NULL OR c.expires_at > now())
        AND (c.recipient_organization_id = '00000000-0000-7000-8000-000000000002'::uuid
             OR c.recipient_region_code = ANY(ARRAY['23', '2301'])))
ORDER BY n.id LIMIT 1000;
