DROP TABLE referral_history;
DROP TABLE referrals;
