//! A change of an order's owner: a confirmed claim or an admin's transfer.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[sea_orm(table_name = "order_transfer")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub order_id: Uuid,
    pub from_customer_id: Uuid,
    pub to_customer_id: Uuid,
    pub kind: TransferKind,
    /// The claim that moved the order, for `Claim`.
    pub order_claim_id: Option<Uuid>,
    /// The admin who moved the order, for `AdminTransfer`.
    pub admin_user_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum TransferKind {
    #[sea_orm(string_value = "claim")]
    Claim,
    #[sea_orm(string_value = "admin_transfer")]
    AdminTransfer,
    /// The order's customer was merged into another (`mergeCustomers`).
    #[sea_orm(string_value = "merge")]
    Merge,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
