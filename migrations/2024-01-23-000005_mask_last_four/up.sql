-- Masked ID numbers keep only the last four characters: with the region and birth date kept,
-- the mask plus the shown region and age band let anyone rebuild the number.
ALTER TABLE persons DROP CONSTRAINT persons_id_number_masked_check;
UPDATE persons SET id_number_masked = repeat('*', 14) || right(id_number_masked, 4);
ALTER TABLE persons ADD CONSTRAINT persons_id_number_masked_check
    CHECK (id_number_masked ~ '^\*{14}[0-9]{3}[0-9X]$');
