//! An entry in a customer's address book.

use sea_orm::entity::prelude::*;

use crate::stored_json::StoredJson;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[sea_orm(table_name = "address")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    #[sea_orm(column_name = "address_1")]
    pub address_1: Option<String>,
    #[sea_orm(column_name = "address_2")]
    pub address_2: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, upper-case.
    pub country_code: String,
    pub phone: Option<String>,
    #[sea_orm(column_type = "Json", nullable)]
    pub metadata: Option<StoredJson>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "Column::CustomerId",
        to = "super::customer::Column::Id"
    )]
    Customer,
}

impl Related<super::customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
