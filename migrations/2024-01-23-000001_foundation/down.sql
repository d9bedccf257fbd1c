DROP TABLE audit_events;
DROP FUNCTION audit_events_reject_change();
DROP TABLE login_throttle;
DROP TABLE api_clients;
DROP TABLE users;
DROP TABLE organizations;
