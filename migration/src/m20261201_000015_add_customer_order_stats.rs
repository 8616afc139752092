//! The numbers admins sort and filter customers by, kept on the customer instead of
//! aggregated over every order on each request: `customer.order_count` (every order
//! the customer owns), `customer.last_order_at`, and `customer_spend`, the total of
//! their orders that are not canceled, one row per currency.
//!
//! The domain refreshes them in the same transaction as every change of an order's
//! owner or existence (placing, claiming, transferring), under the customers' row
//! locks. This migration computes them once for the orders already there.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customer {
    Table,
    Id,
    OrderCount,
    LastOrderAt,
}

#[derive(DeriveIden)]
enum CustomerSpend {
    Table,
    CustomerId,
    CurrencyCode,
    Amount,
}

/// Recomputes the stored numbers of every customer from their orders; the domain's
/// `stats::refresh` runs the same statements for a few customers.
pub const BACKFILL: [&str; 2] = [
    "UPDATE customer SET \
     order_count = (SELECT COUNT(*) FROM \"order\" o WHERE o.customer_id = customer.id), \
     last_order_at = (SELECT MAX(o.created_at) FROM \"order\" o WHERE o.customer_id = customer.id)",
    "INSERT INTO customer_spend (customer_id, currency_code, amount) \
     SELECT customer_id, currency_code, SUM(total) FROM \"order\" \
     WHERE status <> 'canceled' GROUP BY customer_id, currency_code",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Customer::Table)
                    .add_column(
                        ColumnDef::new(Customer::OrderCount)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Customer::Table)
                    .add_column(crate::nullable_timestamp(Customer::LastOrderAt))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CustomerSpend::Table)
                    .col(ColumnDef::new(CustomerSpend::CustomerId).uuid().not_null())
                    .col(
                        ColumnDef::new(CustomerSpend::CurrencyCode)
                            .string_len(3)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomerSpend::Amount)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(CustomerSpend::CustomerId)
                            .col(CustomerSpend::CurrencyCode),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_customer_spend_customer")
                            .from(CustomerSpend::Table, CustomerSpend::CustomerId)
                            .to(Customer::Table, Customer::Id),
                    )
                    .take(),
            )
            .await?;
        // The admin list sorts and filters by these.
        for (name, column) in [
            ("ix_customer_order_count", Customer::OrderCount),
            ("ix_customer_last_order_at", Customer::LastOrderAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Customer::Table)
                        .col(column)
                        .col(Customer::Id)
                        .take(),
                )
                .await?;
        }
        let db = manager.get_connection();
        for statement in BACKFILL {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerSpend::Table).take())
            .await?;
        for name in ["ix_customer_order_count", "ix_customer_last_order_at"] {
            manager
                .drop_index(Index::drop().name(name).table(Customer::Table).to_owned())
                .await?;
        }
        for column in [Customer::LastOrderAt, Customer::OrderCount] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Customer::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
