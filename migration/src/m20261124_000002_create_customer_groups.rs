//! Customer groups and the many-to-many membership.

use sea_orm_migration::prelude::*;

use crate::m20261124_000001_create_customers_and_addresses::Customer;
use crate::{nullable_timestamp, sortable_text, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CustomerGroup {
    Table,
    Id,
    Name,
    Metadata,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum CustomerGroupCustomer {
    Table,
    CustomerGroupId,
    CustomerId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CustomerGroup::Table)
                    .col(
                        ColumnDef::new(CustomerGroup::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(sortable_text(manager, CustomerGroup::Name, 200).not_null())
                    .col(ColumnDef::new(CustomerGroup::Metadata).json_binary().null())
                    .col(timestamp(CustomerGroup::CreatedAt))
                    .col(timestamp(CustomerGroup::UpdatedAt))
                    .col(nullable_timestamp(CustomerGroup::DeletedAt))
                    .take(),
            )
            .await?;
        // A deleted group's name may be reused by a new group.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_customer_group_live_name ON customer_group \
                 (LOWER(name)) WHERE deleted_at IS NULL",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CustomerGroupCustomer::Table)
                    .col(
                        ColumnDef::new(CustomerGroupCustomer::CustomerGroupId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomerGroupCustomer::CustomerId)
                            .uuid()
                            .not_null(),
                    )
                    .col(timestamp(CustomerGroupCustomer::CreatedAt))
                    // One membership per (group, customer): adding twice cannot duplicate.
                    .primary_key(
                        Index::create()
                            .col(CustomerGroupCustomer::CustomerGroupId)
                            .col(CustomerGroupCustomer::CustomerId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_membership_group")
                            .from(
                                CustomerGroupCustomer::Table,
                                CustomerGroupCustomer::CustomerGroupId,
                            )
                            .to(CustomerGroup::Table, CustomerGroup::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_membership_customer")
                            .from(
                                CustomerGroupCustomer::Table,
                                CustomerGroupCustomer::CustomerId,
                            )
                            .to(Customer::Table, Customer::Id),
                    )
                    .take(),
            )
            .await?;
        // The primary key serves group -> customers; this one serves customer -> groups.
        manager
            .create_index(
                Index::create()
                    .name("ix_membership_customer")
                    .table(CustomerGroupCustomer::Table)
                    .col(CustomerGroupCustomer::CustomerId)
                    .col(CustomerGroupCustomer::CustomerGroupId)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_customer_group_name_id")
                    .table(CustomerGroup::Table)
                    .col(CustomerGroup::Name)
                    .col(CustomerGroup::Id)
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomerGroupCustomer::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(CustomerGroup::Table).take())
            .await
    }
}
