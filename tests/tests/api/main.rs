//! End-to-end tests: each starts a real server over HTTP on a fresh database (SQLite,
//! or PostgreSQL when `TEST_DATABASE_URL` is set). One binary, so it links once.

// Tests and their helpers: an unwrap that fails is a test that fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod accounts;
mod address_book;
mod admin_customers;
mod admin_groups;
mod auth;
mod bad_input;
mod claims;
mod clients;
mod connections;
mod consents;
mod credentials;
mod docs;
mod errors;
mod events;
mod exchange;
mod filters;
mod fuzz;
mod instances;
mod lifecycle;
mod merges;
mod orders;
mod pagination;
mod plain;
mod privacy;
mod protection;
mod relations;
mod scale_out;
mod schema;
mod seed;
mod shutdown;
mod statements;
mod subscriptions;
mod sync;
mod typed_client;
mod upgrades;
mod visibility;
