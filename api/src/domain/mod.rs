//! The business rules, one module per area. Plain async functions over a connection
//! or transaction, typed inputs, typed errors; nothing here knows about GraphQL.

pub mod addresses;
pub mod admins;
pub mod customers;
pub mod email;
pub mod groups;
pub mod orders;
pub mod pagination;
