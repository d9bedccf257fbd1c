//! The one integration-test binary: every test drives the HTTP API of an in-process server
//! against its own PostgreSQL database, cloned from a migrated, demo-seeded template.

mod admin;
mod aid;
mod audit;
mod auth;
mod clock;
mod consents;
mod contract;
mod disclosures;
mod errors;
mod events;
mod faults;
mod feedback;
mod generate;
mod helpers;
mod idempotency;
mod imports;
mod keys;
mod leads;
mod matching;
mod needs;
mod pairings;
mod people;
mod projects;
mod public;
mod referrals;
mod replica;
mod scale_out;
mod service;
mod stats;
mod supervision;
mod sweep;
mod versions;
mod webhooks;
