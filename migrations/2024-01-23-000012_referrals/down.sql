DROP TABLE staff_relations;
DROP TABLE referral_notes;
DROP TABLE referral_history;
DROP TABLE referrals;
