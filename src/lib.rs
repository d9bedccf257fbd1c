//! AidBridge (善桥): the exchange between government social assistance and charity aid.

pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod embedded_pg;
pub mod error;
pub mod generate;
pub mod openapi;
pub mod privacy;
pub mod secrets;
pub mod seed;
pub mod service;
pub mod startup;
