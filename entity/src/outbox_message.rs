//! A message to a customer, written with the change that causes it and delivered
//! later by the outbox worker.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox_message")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The email address the message is for.
    pub recipient: String,
    /// What the message is, e.g. `password_reset`.
    pub kind: String,
    /// What the message says. Secrets in it are removed once it is delivered.
    pub payload: Json,
    pub created_at: DateTimeUtc,
    pub attempts: i32,
    /// Not before this time; also the lease a worker takes while it delivers.
    pub next_attempt_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
