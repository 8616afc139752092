//! A customer: a guest (`has_account = false`) or a registered account.

use sea_orm::entity::prelude::*;

use crate::stored_json::StoredJson;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[sea_orm(table_name = "customer")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Normalised: trimmed and lower-cased.
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub has_account: bool,
    pub billing_address_id: Option<Uuid>,
    /// Where orders ship by default: one of the customer's own addresses.
    pub default_shipping_address_id: Option<Uuid>,
    #[sea_orm(column_type = "Json", nullable)]
    pub metadata: Option<StoredJson>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
    /// When an admin disabled the account; null while it is active.
    pub disabled_at: Option<DateTimeUtc>,
    /// When the customer proved they receive mail at `email`; null until then.
    pub email_verified_at: Option<DateTimeUtc>,
    /// Orders the customer owns, every status (kept by `domain::stats`).
    pub order_count: i32,
    /// When the newest of those orders was placed.
    pub last_order_at: Option<DateTimeUtc>,
    /// The id another system knows the customer by; unique among live customers.
    pub external_id: Option<String>,
    /// When the person's data was anonymised (erasure); null for everyone else.
    /// Irreversible: an erased customer is never restored.
    pub erased_at: Option<DateTimeUtc>,
    // `password_hash` is in the table but not here: see `customer_credential`.
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The address book (shipping addresses).
    #[sea_orm(has_many = "super::address::Entity")]
    Addresses,
    #[sea_orm(
        belongs_to = "super::address::Entity",
        from = "Column::BillingAddressId",
        to = "super::address::Column::Id"
    )]
    BillingAddress,
    #[sea_orm(has_many = "super::order::Entity")]
    Orders,
    /// Staff notes (admin-only).
    #[sea_orm(has_many = "super::customer_note::Entity")]
    Notes,
    /// Spend per currency.
    #[sea_orm(has_many = "super::customer_spend::Entity")]
    Spend,
    #[sea_orm(has_many = "super::customer_group_customer::Entity")]
    Memberships,
    #[sea_orm(has_many = "super::session::Entity")]
    Sessions,
    #[sea_orm(has_many = "super::customer_token::Entity")]
    Tokens,
}

impl Related<super::address::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Addresses.def()
    }
}

impl Related<super::customer_token::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tokens.def()
    }
}

impl Related<super::customer_note::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Notes.def()
    }
}

impl Related<super::customer_spend::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Spend.def()
    }
}

impl Related<super::order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Orders.def()
    }
}

impl Related<super::customer_group_customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Memberships.def()
    }
}

impl Related<super::customer_group::Entity> for Entity {
    fn to() -> RelationDef {
        super::customer_group_customer::Relation::Group.def()
    }
    fn via() -> Option<RelationDef> {
        Some(
            super::customer_group_customer::Relation::Customer
                .def()
                .rev(),
        )
    }
}

impl ActiveModelBehavior for ActiveModel {}
