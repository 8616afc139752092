//! The event log: one row per change a merchant system may want to hear of
//! (`customer.created`, `order.placed`, ...), written in the transaction of the
//! change, so an event exists exactly when its change committed. The outbox worker
//! fans each event out to the webhook endpoints that want its type and marks it
//! dispatched; housekeeping removes dispatched events after a day.

use sea_orm_migration::prelude::*;

use crate::{nullable_timestamp, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
    Kind,
    CustomerId,
    Data,
    CreatedAt,
    DispatchedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Event::Table)
                    .col(ColumnDef::new(Event::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Event::Kind).string_len(64).not_null())
                    // No foreign key: the event describes a change, even of a customer
                    // erased since (it holds ids only).
                    .col(ColumnDef::new(Event::CustomerId).uuid().null())
                    .col(ColumnDef::new(Event::Data).json_binary().not_null())
                    .col(timestamp(Event::CreatedAt))
                    .col(nullable_timestamp(Event::DispatchedAt))
                    .take(),
            )
            .await?;
        // The dispatcher's query: events not fanned out yet, oldest first.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_event_undispatched ON event (id) WHERE dispatched_at IS NULL",
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("CREATE INDEX ix_event_customer ON event (customer_id)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Event::Table).take())
            .await
    }
}
