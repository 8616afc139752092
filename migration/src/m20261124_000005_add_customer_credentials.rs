//! What registered customers log in with: a password hash on the customer, and
//! single-use tokens for password resets and email changes.
//!
//! Guests have no password (`password_hash` is NULL). Tokens are stored as SHA-256
//! hashes, like session tokens: the table alone never yields a usable token.

use sea_orm_migration::prelude::*;

use crate::m20261124_000001_create_customers_and_addresses::Customer;
use crate::{nullable_timestamp, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CustomerToken {
    Table,
    Id,
    CustomerId,
    Purpose,
    TokenHash,
    NewEmail,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Customer::Table)
                    .add_column(
                        ColumnDef::new(Customer::PasswordHash)
                            .string_len(255)
                            .null(),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CustomerToken::Table)
                    .col(
                        ColumnDef::new(CustomerToken::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CustomerToken::CustomerId).uuid().not_null())
                    .col(
                        ColumnDef::new(CustomerToken::Purpose)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomerToken::TokenHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    // The address an email change switches to, once confirmed.
                    .col(
                        ColumnDef::new(CustomerToken::NewEmail)
                            .string_len(320)
                            .null(),
                    )
                    .col(timestamp(CustomerToken::CreatedAt))
                    .col(timestamp(CustomerToken::ExpiresAt))
                    .col(nullable_timestamp(CustomerToken::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_customer_token_customer")
                            .from(CustomerToken::Table, CustomerToken::CustomerId)
                            .to(Customer::Table, Customer::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_customer_token_customer_purpose")
                    .table(CustomerToken::Table)
                    .col(CustomerToken::CustomerId)
                    .col(CustomerToken::Purpose)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerToken::Table).take())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Customer::Table)
                    .drop_column(Customer::PasswordHash)
                    .take(),
            )
            .await
    }
}
