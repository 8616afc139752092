//! When a customer proved they receive mail at their login email:
//! `customer.email_verified_at`, null until then. Customers written before this
//! migration are unverified (nothing proved otherwise); with
//! `--require-email-verification` on they verify at their next login attempt.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customer {
    Table,
    EmailVerifiedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Customer::Table)
                    .add_column(crate::nullable_timestamp(Customer::EmailVerifiedAt))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Customer::Table)
                    .drop_column(Customer::EmailVerifiedAt)
                    .take(),
            )
            .await
    }
}
