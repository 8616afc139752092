//! The business rules, one module per area. Plain async functions over a connection
//! or transaction, typed inputs, typed errors; nothing here knows about GraphQL.

pub mod accounts;
pub mod addresses;
pub mod admins;
pub mod audit;
pub mod claims;
pub mod consents;
pub mod country;
pub mod counts;
pub mod currency;
pub mod customers;
pub mod email;
pub mod events;
pub mod fields;
pub mod groups;
pub mod housekeeping;
pub mod merges;
pub mod nodes;
pub mod notes;
pub mod orders;
pub mod outbox;
pub mod pagination;
pub mod privacy;
pub mod search;
pub mod stats;
pub mod sync;
pub mod throttles;
