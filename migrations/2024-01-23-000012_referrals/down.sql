DROP TABLE referral_notes;
DROP TABLE referral_history;
DROP TABLE referrals;
