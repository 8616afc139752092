//! The orders a claim covers.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[sea_orm(table_name = "order_claim_order")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub order_claim_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub order_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::order_claim::Entity",
        from = "Column::OrderClaimId",
        to = "super::order_claim::Column::Id"
    )]
    Claim,
}

impl Related<super::order_claim::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Claim.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
