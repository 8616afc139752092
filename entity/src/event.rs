//! A change merchant systems may subscribe to, recorded with the change itself.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[sea_orm(table_name = "event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The event type, dotted: `customer.created`, `order.placed`.
    pub kind: String,
    /// The customer the change is about, where there is one.
    pub customer_id: Option<Uuid>,
    /// Ids and what changed; never personal data.
    pub data: Json,
    pub created_at: DateTimeUtc,
    /// When the worker fanned it out to the webhook endpoints; null until then.
    pub dispatched_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
