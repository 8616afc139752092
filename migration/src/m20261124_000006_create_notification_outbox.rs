//! The transactional outbox: messages to customers (reset links, confirmation and
//! claim tokens) are rows written in the same transaction as the change that causes
//! them, then delivered by a background worker. A message exists exactly when its
//! change committed, and a crash between commit and delivery only delays it.

use sea_orm_migration::prelude::*;

use crate::{nullable_timestamp, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OutboxMessage {
    Table,
    Id,
    Recipient,
    Kind,
    Payload,
    CreatedAt,
    Attempts,
    NextAttemptAt,
    DeliveredAt,
    LastError,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OutboxMessage::Table)
                    .col(
                        ColumnDef::new(OutboxMessage::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OutboxMessage::Recipient)
                            .string_len(320)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OutboxMessage::Kind)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OutboxMessage::Payload)
                            .json_binary()
                            .not_null(),
                    )
                    .col(timestamp(OutboxMessage::CreatedAt))
                    .col(
                        ColumnDef::new(OutboxMessage::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(timestamp(OutboxMessage::NextAttemptAt))
                    .col(nullable_timestamp(OutboxMessage::DeliveredAt))
                    .col(
                        ColumnDef::new(OutboxMessage::LastError)
                            .string_len(500)
                            .null(),
                    )
                    .take(),
            )
            .await?;
        // The worker's query: pending messages due now, oldest first.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_outbox_message_pending ON outbox_message \
                 (next_attempt_at, id) WHERE delivered_at IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OutboxMessage::Table).take())
            .await
    }
}
