//! Admin users and bearer-token sessions.
//!
//! Admins are a separate identity table from customers, so an admin's email never
//! collides with a customer's. One `session` table serves both kinds of principal:
//! exactly one of `admin_user_id` / `customer_id` is set (a CHECK keeps it so). Only
//! the SHA-256 of a token is stored: a leaked table does not yield usable tokens.

use sea_orm_migration::prelude::*;

use crate::m20261124_000001_create_customers_and_addresses::Customer;
use crate::timestamp;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AdminUser {
    Table,
    Id,
    Email,
    PasswordHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Session {
    Table,
    Id,
    TokenHash,
    AdminUserId,
    CustomerId,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AdminUser::Table)
                    .col(
                        ColumnDef::new(AdminUser::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AdminUser::Email)
                            .string_len(320)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(AdminUser::PasswordHash)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(timestamp(AdminUser::CreatedAt))
                    .col(timestamp(AdminUser::UpdatedAt))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Session::Table)
                    .col(ColumnDef::new(Session::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Session::TokenHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Session::AdminUserId).uuid().null())
                    .col(ColumnDef::new(Session::CustomerId).uuid().null())
                    .col(timestamp(Session::CreatedAt))
                    .col(timestamp(Session::ExpiresAt))
                    .check(Expr::cust(
                        "(admin_user_id IS NULL) <> (customer_id IS NULL)",
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_session_admin_user")
                            .from(Session::Table, Session::AdminUserId)
                            .to(AdminUser::Table, AdminUser::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_session_customer")
                            .from(Session::Table, Session::CustomerId)
                            .to(Customer::Table, Customer::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        for (name, col) in [
            ("ix_session_admin_user", Session::AdminUserId),
            ("ix_session_customer", Session::CustomerId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Session::Table)
                        .col(col)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Session::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(AdminUser::Table).take())
            .await
    }
}
