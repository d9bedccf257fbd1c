DROP TABLE audit_checkpoints;
DROP TABLE audit_seals;
-- The first design's columns stay nullable: events written since have no chain there.
