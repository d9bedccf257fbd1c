ALTER TABLE needs DROP COLUMN version;
ALTER TABLE persons DROP COLUMN version;
ALTER TABLE api_clients DROP COLUMN version;
ALTER TABLE users DROP COLUMN version;
ALTER TABLE organizations DROP COLUMN version;
