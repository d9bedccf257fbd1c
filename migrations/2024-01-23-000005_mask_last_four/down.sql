-- The region and birth date cannot be restored from the mask: the old form is refilled with
-- zeros, which keeps the old rule satisfiable (reveal still decrypts the real number).
ALTER TABLE persons DROP CONSTRAINT persons_id_number_masked_check;
UPDATE persons SET id_number_masked = '000000********' || right(id_number_masked, 4);
ALTER TABLE persons ADD CONSTRAINT persons_id_number_masked_check
    CHECK (id_number_masked ~ '^[0-9]{6}\*{8}[0-9]{3}[0-9X]$');
