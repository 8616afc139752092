//! Clientele: a GraphQL API server that owns an online store's customers.
//!
//! `main.rs` parses the configuration and runs a sub-command; the `tests` crate builds
//! an [`app::App`] in-process and talks HTTP to it.

pub mod app;
pub mod auth;
pub mod broker;
pub mod config;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod exchange;
pub mod graphql;
pub mod http;
pub mod live;
pub mod metrics;
pub mod seed;
pub mod standbys;
pub mod telemetry;
