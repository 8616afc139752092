//! SeaORM entities, one module per table. Relations are declared in both directions.
//!
//! Timestamps are UTC with whole-second resolution (see README: SQLite stores them as
//! fixed-width text, which then orders correctly).

pub mod address;
pub mod admin_action;
pub mod admin_user;
pub mod counter;
pub mod customer;
pub mod customer_consent;
pub mod customer_credential;
pub mod customer_group;
pub mod customer_group_customer;
pub mod customer_note;
pub mod customer_spend;
pub mod customer_token;
pub mod event;
pub mod line_item;
pub mod order;
pub mod order_claim;
pub mod order_claim_order;
pub mod order_transfer;
pub mod outbox_message;
pub mod rows;
pub mod session;
pub mod stored_json;
pub mod throttle;
