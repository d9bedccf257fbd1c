DROP TABLE person_imports;
