//! Staff notes on a customer: what the store's people know that the record does not
//! say ("prefers phone calls", "disputed order #1042"). Admin-only.
//!
//! A note belongs to its customer (the foreign key; notes stay when the customer is
//! soft-deleted). Its author and last editor are admin ids without foreign keys, as in
//! the audit trail: a note outlives the admin account that wrote it.

use sea_orm_migration::prelude::*;

use crate::timestamp;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CustomerNote {
    Table,
    Id,
    CustomerId,
    Body,
    AuthorAdminId,
    EditedByAdminId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Customer {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CustomerNote::Table)
                    .col(
                        ColumnDef::new(CustomerNote::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CustomerNote::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(CustomerNote::Body).text().not_null())
                    .col(
                        ColumnDef::new(CustomerNote::AuthorAdminId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(CustomerNote::EditedByAdminId).uuid().null())
                    .col(timestamp(CustomerNote::CreatedAt))
                    .col(timestamp(CustomerNote::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_customer_note_customer")
                            .from(CustomerNote::Table, CustomerNote::CustomerId)
                            .to(Customer::Table, Customer::Id),
                    )
                    .take(),
            )
            .await?;
        // A customer's notes, newest first (ids are time-ordered).
        manager
            .create_index(
                Index::create()
                    .name("ix_customer_note_customer")
                    .table(CustomerNote::Table)
                    .col(CustomerNote::CustomerId)
                    .col(CustomerNote::Id)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerNote::Table).take())
            .await
    }
}
