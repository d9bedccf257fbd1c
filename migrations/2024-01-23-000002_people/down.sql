DROP TABLE needs;
DROP TABLE government_aid_records;
DROP TABLE consents;
DROP TABLE persons;
