//! A single-use token sent to a customer: a password reset, an email change, an email
//! verification or an account deletion.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[sea_orm(table_name = "customer_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    pub purpose: TokenPurpose,
    /// Hex SHA-256 of the token; the token itself is never stored.
    #[sea_orm(unique)]
    /// A hash of the secret; never exported.
    #[serde(skip)]
    pub token_hash: String,
    /// For an email change: the address it switches to.
    pub new_email: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// Set when the token is spent; a spent token never works again.
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum TokenPurpose {
    #[sea_orm(string_value = "password_reset")]
    PasswordReset,
    #[sea_orm(string_value = "email_change")]
    EmailChange,
    /// Proves the customer receives mail at their email; `new_email` holds the
    /// address it was sent to.
    #[sea_orm(string_value = "email_verification")]
    EmailVerification,
    /// Confirms that the customer asked to delete their account.
    #[sea_orm(string_value = "account_deletion")]
    AccountDeletion,
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
