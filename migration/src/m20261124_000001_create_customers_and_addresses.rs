//! Customers and their address book.
//!
//! `customer.billing_address_id` and `address.customer_id` point at each other. The
//! billing foreign key is composite, `(billing_address_id, id)` to
//! `address (id, customer_id)`, so a customer's billing address can only be one of
//! that customer's own addresses. SQLite cannot add a constraint to an existing table
//! but accepts a forward reference, so there the key is declared inline; PostgreSQL
//! needs the target table first, so there it is added afterwards.

use sea_orm_migration::prelude::*;

use crate::{nullable_timestamp, sortable_text, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Customer {
    Table,
    Id,
    Email,
    FirstName,
    LastName,
    Phone,
    HasAccount,
    BillingAddressId,
    Metadata,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
    /// Added by the credentials migration.
    PasswordHash,
}

#[derive(DeriveIden)]
enum Address {
    Table,
    Id,
    CustomerId,
    FirstName,
    LastName,
    Company,
    #[sea_orm(iden = "address_1")]
    Address1,
    #[sea_orm(iden = "address_2")]
    Address2,
    City,
    Province,
    PostalCode,
    CountryCode,
    Phone,
    Metadata,
    CreatedAt,
    UpdatedAt,
}

fn billing_address_fk() -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name("fk_customer_billing_address")
        .from(Customer::Table, (Customer::BillingAddressId, Customer::Id))
        .to(Address::Table, (Address::Id, Address::CustomerId))
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sqlite = manager.get_database_backend() == sea_orm::DbBackend::Sqlite;

        let mut customer = Table::create()
            .table(Customer::Table)
            .col(ColumnDef::new(Customer::Id).uuid().not_null().primary_key())
            .col(sortable_text(manager, Customer::Email, 320).not_null())
            .col(ColumnDef::new(Customer::FirstName).string_len(200).null())
            .col(sortable_text(manager, Customer::LastName, 200).null())
            .col(ColumnDef::new(Customer::Phone).string_len(50).null())
            .col(ColumnDef::new(Customer::HasAccount).boolean().not_null())
            .col(ColumnDef::new(Customer::BillingAddressId).uuid().null())
            .col(ColumnDef::new(Customer::Metadata).json_binary().null())
            .col(timestamp(Customer::CreatedAt))
            .col(timestamp(Customer::UpdatedAt))
            .col(nullable_timestamp(Customer::DeletedAt))
            .take();
        if sqlite {
            customer.foreign_key(&mut billing_address_fk());
        }
        manager.create_table(customer).await?;

        manager
            .create_table(
                Table::create()
                    .table(Address::Table)
                    .col(ColumnDef::new(Address::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Address::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(Address::FirstName).string_len(200).null())
                    .col(ColumnDef::new(Address::LastName).string_len(200).null())
                    .col(ColumnDef::new(Address::Company).string_len(200).null())
                    .col(ColumnDef::new(Address::Address1).string_len(300).null())
                    .col(ColumnDef::new(Address::Address2).string_len(300).null())
                    .col(ColumnDef::new(Address::City).string_len(200).null())
                    .col(ColumnDef::new(Address::Province).string_len(200).null())
                    .col(ColumnDef::new(Address::PostalCode).string_len(20).null())
                    .col(
                        ColumnDef::new(Address::CountryCode)
                            .string_len(2)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Address::Phone).string_len(50).null())
                    .col(ColumnDef::new(Address::Metadata).json_binary().null())
                    .col(timestamp(Address::CreatedAt))
                    .col(timestamp(Address::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_address_customer")
                            .from(Address::Table, Address::CustomerId)
                            .to(Customer::Table, Customer::Id),
                    )
                    .take(),
            )
            .await?;

        let db = manager.get_connection();
        // At most one live guest and one live registered customer per email.
        // Soft-deleted rows do not count, so a deleted customer's email is free again.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX uq_customer_live_email ON customer (email, has_account) \
             WHERE deleted_at IS NULL",
        )
        .await?;
        // Keyset pagination orders by (created_at, id), (email, id) and the folded
        // last name; the expression is the one the list query sorts by.
        db.execute_unprepared(
            "CREATE INDEX ix_customer_last_name_id ON customer \
             (LOWER(COALESCE(last_name, '')), id)",
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_customer_created_at_id")
                    .table(Customer::Table)
                    .col(Customer::CreatedAt)
                    .col(Customer::Id)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_customer_email_id")
                    .table(Customer::Table)
                    .col(Customer::Email)
                    .col(Customer::Id)
                    .take(),
            )
            .await?;
        // Target of the composite billing-address key; also serves "addresses of a customer".
        manager
            .create_index(
                Index::create()
                    .name("uq_address_customer_id")
                    .table(Address::Table)
                    .col(Address::CustomerId)
                    .col(Address::Id)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_address_id_customer")
                    .table(Address::Table)
                    .col(Address::Id)
                    .col(Address::CustomerId)
                    .unique()
                    .take(),
            )
            .await?;
        // PostgreSQL wants the referenced key to exist when the constraint is added;
        // SQLite cannot add constraints later, so there it is part of CREATE TABLE.
        if !sqlite {
            manager.create_foreign_key(billing_address_fk()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Sqlite {
            manager
                .drop_foreign_key(
                    ForeignKey::drop()
                        .name("fk_customer_billing_address")
                        .table(Customer::Table)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Address::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(Customer::Table).take())
            .await
    }
}
