//! Placing and claiming orders: the display-id counter, claim tokens with the orders
//! they cover, and the history of every change of an order's owner.

use sea_orm_migration::prelude::*;

use crate::m20261124_000001_create_customers_and_addresses::Customer;
use crate::m20261124_000003_create_orders::Order;
use crate::{nullable_timestamp, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Counter {
    Table,
    Name,
    Value,
}

#[derive(DeriveIden)]
enum OrderClaim {
    Table,
    Id,
    RequestId,
    CustomerId,
    Email,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    CanceledAt,
}

#[derive(DeriveIden)]
enum OrderClaimOrder {
    Table,
    OrderClaimId,
    OrderId,
}

#[derive(DeriveIden)]
enum OrderTransfer {
    Table,
    Id,
    OrderId,
    FromCustomerId,
    ToCustomerId,
    Kind,
    OrderClaimId,
    AdminUserId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Display ids come from a counter row updated inside the order's transaction:
        // gapless, sequential, and the same on both backends (a PostgreSQL sequence
        // would leave gaps on rollback and does not exist on SQLite).
        manager
            .create_table(
                Table::create()
                    .table(Counter::Table)
                    .col(
                        ColumnDef::new(Counter::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Counter::Value).big_integer().not_null())
                    .take(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO counter (name, value) \
                 SELECT 'order_display_id', COALESCE(MAX(display_id), 0) FROM \"order\"",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OrderClaim::Table)
                    .col(
                        ColumnDef::new(OrderClaim::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    // One requestOrderClaim call: cancelling it cancels all its claims.
                    .col(ColumnDef::new(OrderClaim::RequestId).uuid().not_null())
                    .col(ColumnDef::new(OrderClaim::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(OrderClaim::Email).string_len(320).not_null())
                    .col(
                        ColumnDef::new(OrderClaim::TokenHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(timestamp(OrderClaim::CreatedAt))
                    .col(timestamp(OrderClaim::ExpiresAt))
                    .col(nullable_timestamp(OrderClaim::UsedAt))
                    .col(nullable_timestamp(OrderClaim::CanceledAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_claim_customer")
                            .from(OrderClaim::Table, OrderClaim::CustomerId)
                            .to(Customer::Table, Customer::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_order_claim_customer_request")
                    .table(OrderClaim::Table)
                    .col(OrderClaim::CustomerId)
                    .col(OrderClaim::RequestId)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrderClaimOrder::Table)
                    .col(
                        ColumnDef::new(OrderClaimOrder::OrderClaimId)
                            .uuid()
                            .not_null(),
                    )
                    .col(ColumnDef::new(OrderClaimOrder::OrderId).uuid().not_null())
                    .primary_key(
                        Index::create()
                            .col(OrderClaimOrder::OrderClaimId)
                            .col(OrderClaimOrder::OrderId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_claim_order_claim")
                            .from(OrderClaimOrder::Table, OrderClaimOrder::OrderClaimId)
                            .to(OrderClaim::Table, OrderClaim::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_claim_order_order")
                            .from(OrderClaimOrder::Table, OrderClaimOrder::OrderId)
                            .to(Order::Table, Order::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OrderTransfer::Table)
                    .col(
                        ColumnDef::new(OrderTransfer::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(OrderTransfer::OrderId).uuid().not_null())
                    .col(
                        ColumnDef::new(OrderTransfer::FromCustomerId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OrderTransfer::ToCustomerId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OrderTransfer::Kind)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(OrderTransfer::OrderClaimId).uuid().null())
                    .col(ColumnDef::new(OrderTransfer::AdminUserId).uuid().null())
                    .col(timestamp(OrderTransfer::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_transfer_order")
                            .from(OrderTransfer::Table, OrderTransfer::OrderId)
                            .to(Order::Table, Order::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_order_transfer_order")
                    .table(OrderTransfer::Table)
                    .col(OrderTransfer::OrderId)
                    .col(OrderTransfer::Id)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OrderTransfer::Table.into_iden(),
            OrderClaimOrder::Table.into_iden(),
            OrderClaim::Table.into_iden(),
            Counter::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
