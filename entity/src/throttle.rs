//! Attempts of one kind for one subject within a fixed window (logins, registrations,
//! guest orders, mail), shared by every server instance on the database.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "throttle")]
pub struct Model {
    /// Hex SHA-256 of the throttle's kind and its subject; the subject is not stored.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_hash: String,
    pub window_started_at: DateTimeUtc,
    /// Attempts counted in the window.
    pub hits: i32,
    /// The next attempt is refused before this time (the growing delay).
    pub next_allowed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
