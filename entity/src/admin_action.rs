//! One change an admin made: who, what, to which customer or group, and when.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_action")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub admin_user_id: Uuid,
    /// What was done, e.g. `customer.delete`.
    pub action: String,
    pub customer_id: Option<Uuid>,
    pub customer_group_id: Option<Uuid>,
    /// What changed, as the admin asked for it (never secrets).
    pub details: Option<Json>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
