//! Erased customers: `customer.erased_at`, null until an admin (or the guest retention
//! rule) anonymised the record. An erased customer keeps its id, its orders' amounts,
//! lines, dates and currency; everything that named the person is gone, and the mark
//! is what keeps `restoreCustomer` from bringing back an empty shell.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customer {
    Table,
    ErasedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Customer::Table)
                    .add_column(crate::nullable_timestamp(Customer::ErasedAt))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Customer::Table)
                    .drop_column(Customer::ErasedAt)
                    .take(),
            )
            .await
    }
}
