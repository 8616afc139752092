//! A default shipping address beside the billing one: `customer.default_shipping_address_id`.
//!
//! Like the billing address it can only be one of the customer's own addresses. On
//! PostgreSQL that is a composite foreign key, `(default_shipping_address_id, id)` to
//! `address (id, customer_id)`, as for billing. SQLite cannot add a constraint to an
//! existing table, nor a composite key with a column, so two triggers refuse the same
//! rows there (an address of another customer, or none).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customer {
    Table,
    Id,
    DefaultShippingAddressId,
}

#[derive(DeriveIden)]
enum Address {
    Table,
    Id,
    CustomerId,
}

const FOREIGN_KEY: &str = "fk_customer_default_shipping_address";

/// The check of both SQLite triggers, over the changed row `NEW`.
const SQLITE_CHECK: &str = "WHEN NEW.default_shipping_address_id IS NOT NULL AND NOT EXISTS \
     (SELECT 1 FROM address WHERE address.id = NEW.default_shipping_address_id \
      AND address.customer_id = NEW.id) \
     BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: default shipping address'); END";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Customer::Table)
                    .add_column(
                        ColumnDef::new(Customer::DefaultShippingAddressId)
                            .uuid()
                            .null(),
                    )
                    .take(),
            )
            .await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                manager
                    .create_foreign_key(
                        ForeignKey::create()
                            .name(FOREIGN_KEY)
                            .from(
                                Customer::Table,
                                (Customer::DefaultShippingAddressId, Customer::Id),
                            )
                            .to(Address::Table, (Address::Id, Address::CustomerId))
                            .take(),
                    )
                    .await?;
            }
            _ => {
                let db = manager.get_connection();
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER customer_default_shipping_insert BEFORE INSERT ON customer \
                     {SQLITE_CHECK}"
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER customer_default_shipping_update \
                     BEFORE UPDATE OF default_shipping_address_id ON customer {SQLITE_CHECK}"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                manager
                    .drop_foreign_key(
                        ForeignKey::drop()
                            .name(FOREIGN_KEY)
                            .table(Customer::Table)
                            .to_owned(),
                    )
                    .await?;
            }
            _ => {
                let db = manager.get_connection();
                db.execute_unprepared("DROP TRIGGER customer_default_shipping_insert")
                    .await?;
                db.execute_unprepared("DROP TRIGGER customer_default_shipping_update")
                    .await?;
            }
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Customer::Table)
                    .drop_column(Customer::DefaultShippingAddressId)
                    .take(),
            )
            .await
    }
}
