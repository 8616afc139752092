//! Consents a customer gave or withdrew (email or SMS marketing), as a log: one row
//! per change, with when and through whom, so the store can show what it was told
//! and when (GDPR article 7). The current consent is a purpose's latest row.

use sea_orm_migration::prelude::*;

use crate::timestamp;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CustomerConsent {
    Table,
    Id,
    CustomerId,
    Purpose,
    Granted,
    Source,
    RecordedAt,
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
                    .table(CustomerConsent::Table)
                    .col(
                        ColumnDef::new(CustomerConsent::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CustomerConsent::CustomerId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomerConsent::Purpose)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomerConsent::Granted)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomerConsent::Source)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(timestamp(CustomerConsent::RecordedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CustomerConsent::Table, CustomerConsent::CustomerId)
                            .to(Customer::Table, Customer::Id),
                    )
                    .take(),
            )
            .await?;
        // A customer's log, by purpose, newest last (ids are time-ordered).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_customer_consent_customer ON customer_consent \
                 (customer_id, purpose, id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerConsent::Table).take())
            .await
    }
}
