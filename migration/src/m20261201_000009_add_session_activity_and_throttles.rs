//! Session activity (for the idle timeout and the customer's list of sessions) and the
//! throttle table that several server instances share.
//!
//! `session.last_used_at` is added nullable and filled from `created_at`, because
//! SQLite cannot add a NOT NULL column without a constant default; every session
//! written after this migration sets it.
//!
//! A throttle row counts attempts of one kind for one subject (an account's email, a
//! client address, a mail recipient) in a fixed window. Its key is a SHA-256 of the
//! kind and the subject: the table says how often, never who.

use sea_orm_migration::prelude::*;

use crate::timestamp;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Session {
    Table,
    CreatedAt,
    LastUsedAt,
    UserAgent,
}

#[derive(DeriveIden)]
enum Throttle {
    Table,
    KeyHash,
    WindowStartedAt,
    Hits,
    NextAllowedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Session::Table)
                    .add_column(crate::nullable_timestamp(Session::LastUsedAt))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Session::Table)
                    .add_column(ColumnDef::new(Session::UserAgent).string_len(256).null())
                    .take(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(Session::Table)
                    .value(Session::LastUsedAt, Expr::col(Session::CreatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Throttle::Table)
                    .col(
                        ColumnDef::new(Throttle::KeyHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(timestamp(Throttle::WindowStartedAt))
                    .col(ColumnDef::new(Throttle::Hits).integer().not_null())
                    .col(timestamp(Throttle::NextAllowedAt))
                    .take(),
            )
            .await?;
        // The sweep deletes rows whose window ended long ago.
        manager
            .create_index(
                Index::create()
                    .name("ix_throttle_window_started_at")
                    .table(Throttle::Table)
                    .col(Throttle::WindowStartedAt)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Throttle::Table).take())
            .await?;
        for column in [Session::UserAgent, Session::LastUsedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Session::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
