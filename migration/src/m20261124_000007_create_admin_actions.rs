//! The admin audit trail: one row per change an admin makes to customers and groups,
//! written in the same transaction as the change.

use sea_orm_migration::prelude::*;

use crate::timestamp;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AdminAction {
    Table,
    Id,
    AdminUserId,
    Action,
    CustomerId,
    CustomerGroupId,
    Details,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AdminAction::Table)
                    .col(
                        ColumnDef::new(AdminAction::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    // No foreign keys: the trail outlives the admins and rows it names.
                    .col(ColumnDef::new(AdminAction::AdminUserId).uuid().not_null())
                    .col(
                        ColumnDef::new(AdminAction::Action)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AdminAction::CustomerId).uuid().null())
                    .col(ColumnDef::new(AdminAction::CustomerGroupId).uuid().null())
                    .col(ColumnDef::new(AdminAction::Details).json_binary().null())
                    .col(timestamp(AdminAction::CreatedAt))
                    .take(),
            )
            .await?;
        for (name, column) in [
            ("ix_admin_action_customer", AdminAction::CustomerId),
            (
                "ix_admin_action_customer_group",
                AdminAction::CustomerGroupId,
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AdminAction::Table)
                        .col(column)
                        .col(AdminAction::Id)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AdminAction::Table).take())
            .await
    }
}
