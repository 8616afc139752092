//! A customer's password hash: a second view of the `customer` table, with only the id
//! and the hash. `customer::Model` has no hash, so every read of customers (lists,
//! relations, the admin's views) leaves it in the database; only authentication and
//! password changes read or write it, through this entity.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customer")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Argon2id PHC string; `None` for guests. Never leaves the server.
    pub password_hash: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
