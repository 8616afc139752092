//! Orders and their line items.
//!
//! An order is a snapshot: email, addresses (JSON), items and totals are copied at
//! placement so later edits to the customer or the address book never rewrite it.

use sea_orm_migration::prelude::*;

use crate::m20261124_000001_create_customers_and_addresses::Customer;
use crate::timestamp;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Order {
    Table,
    Id,
    DisplayId,
    CustomerId,
    Email,
    Status,
    CurrencyCode,
    Subtotal,
    Total,
    ShippingAddress,
    BillingAddress,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LineItem {
    Table,
    Id,
    OrderId,
    Position,
    Title,
    Sku,
    Quantity,
    UnitPrice,
    Total,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Order::Table)
                    .col(ColumnDef::new(Order::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Order::DisplayId)
                            .big_integer()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Order::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(Order::Email).string_len(320).not_null())
                    .col(ColumnDef::new(Order::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Order::CurrencyCode).string_len(3).not_null())
                    .col(ColumnDef::new(Order::Subtotal).big_integer().not_null())
                    .col(ColumnDef::new(Order::Total).big_integer().not_null())
                    .col(ColumnDef::new(Order::ShippingAddress).json_binary().null())
                    .col(ColumnDef::new(Order::BillingAddress).json_binary().null())
                    .col(timestamp(Order::CreatedAt))
                    .col(timestamp(Order::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_customer")
                            .from(Order::Table, Order::CustomerId)
                            .to(Customer::Table, Customer::Id),
                    )
                    .take(),
            )
            .await?;
        // customer.orders and the orders list are keyset-paginated by (created_at, id).
        manager
            .create_index(
                Index::create()
                    .name("ix_order_customer_created_at_id")
                    .table(Order::Table)
                    .col(Order::CustomerId)
                    .col(Order::CreatedAt)
                    .col(Order::Id)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_order_created_at_id")
                    .table(Order::Table)
                    .col(Order::CreatedAt)
                    .col(Order::Id)
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LineItem::Table)
                    .col(ColumnDef::new(LineItem::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(LineItem::OrderId).uuid().not_null())
                    .col(ColumnDef::new(LineItem::Position).integer().not_null())
                    .col(ColumnDef::new(LineItem::Title).string_len(300).not_null())
                    .col(ColumnDef::new(LineItem::Sku).string_len(100).null())
                    .col(ColumnDef::new(LineItem::Quantity).integer().not_null())
                    .col(ColumnDef::new(LineItem::UnitPrice).big_integer().not_null())
                    .col(ColumnDef::new(LineItem::Total).big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_line_item_order")
                            .from(LineItem::Table, LineItem::OrderId)
                            .to(Order::Table, Order::Id),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_line_item_order_position")
                    .table(LineItem::Table)
                    .col(LineItem::OrderId)
                    .col(LineItem::Position)
                    .unique()
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LineItem::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(Order::Table).take())
            .await
    }
}
