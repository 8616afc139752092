//! One event in the life of a customer or group: what happened, who did it (an admin,
//! the customer, a guest checkout), to which customer or group, and when. Admins'
//! rows are the audit trail; all of a customer's rows are their timeline.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[sea_orm(table_name = "admin_action")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The admin who acted; null when the customer or a guest checkout did.
    pub admin_user_id: Option<Uuid>,
    /// `admin`, `customer` or `guest`.
    pub actor: String,
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
