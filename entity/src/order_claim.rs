//! A claim token sent to an order email: proof that the requesting customer controls
//! the address the orders were placed with.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[sea_orm(table_name = "order_claim")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The `requestOrderClaim` call this claim came from.
    pub request_id: Uuid,
    /// The registered customer who asked, and the only one who may confirm.
    pub customer_id: Uuid,
    /// The order email the token was sent to.
    pub email: String,
    /// Hex SHA-256 of the token; the token itself is never stored.
    #[sea_orm(unique)]
    /// A hash of the secret; never exported.
    #[serde(skip)]
    pub token_hash: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
    pub canceled_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::order_claim_order::Entity")]
    Orders,
}

impl Related<super::order_claim_order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Orders.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
