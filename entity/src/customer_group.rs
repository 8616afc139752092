//! A merchant-defined group of customers (pricing, discounts, marketing).

use sea_orm::entity::prelude::*;

use crate::stored_json::StoredJson;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_group")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    #[sea_orm(column_type = "Json", nullable)]
    pub metadata: Option<StoredJson>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::customer_group_customer::Entity")]
    Memberships,
}

impl Related<super::customer_group_customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Memberships.def()
    }
}

impl Related<super::customer::Entity> for Entity {
    fn to() -> RelationDef {
        super::customer_group_customer::Relation::Customer.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::customer_group_customer::Relation::Group.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
