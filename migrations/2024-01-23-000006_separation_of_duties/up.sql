-- Separation of duties: an auditor or administrator holds no other role. Accounts that did
-- are cut back to that one role (supervision and operation win over case work), and the rule
-- is kept by the database from now on.
UPDATE users SET roles = ARRAY['auditor'] WHERE 'auditor' = ANY (roles) AND cardinality(roles) > 1;
UPDATE users SET roles = ARRAY['admin'] WHERE 'admin' = ANY (roles) AND cardinality(roles) > 1;
UPDATE api_clients SET roles = ARRAY['auditor'] WHERE 'auditor' = ANY (roles) AND cardinality(roles) > 1;
ALTER TABLE users ADD CONSTRAINT users_separation_of_duties_check CHECK (
    NOT (roles && ARRAY['auditor', 'admin']) OR cardinality(roles) = 1);
ALTER TABLE api_clients ADD CONSTRAINT api_clients_separation_of_duties_check CHECK (
    NOT (roles && ARRAY['auditor', 'admin']) OR cardinality(roles) = 1);

-- Regions are stored normalised, as the API writes them now: 230100 is 2301, 230000 is 23.
UPDATE users SET region_code = left(region_code, 2) WHERE region_code ~ '^[0-9]{2}0000$';
UPDATE users SET region_code = left(region_code, 4) WHERE region_code ~ '^[0-9]{4}00$';
