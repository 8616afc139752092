//! The id another system (an ERP, a CRM) knows a customer by: `customer.external_id`,
//! unique among live customers when set, like the email (a partial unique index, the
//! same SQL on both backends). Imports match on it (`upsertCustomer`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customer {
    Table,
    ExternalId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Customer::Table)
                    .add_column(ColumnDef::new(Customer::ExternalId).string_len(255).null())
                    .take(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_customer_live_external_id ON customer (external_id) \
                 WHERE deleted_at IS NULL AND external_id IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX uq_customer_live_external_id")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Customer::Table)
                    .drop_column(Customer::ExternalId)
                    .take(),
            )
            .await
    }
}
