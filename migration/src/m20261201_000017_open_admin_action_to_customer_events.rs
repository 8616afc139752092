//! The admin audit trail becomes the customer's timeline too: one table of events,
//! not two that overlap. `admin_action.admin_user_id` may now be null, for what the
//! customer (or a guest checkout) did, and `actor` says who acted: `admin`,
//! `customer` or `guest`. Existing rows were all admins'.
//!
//! PostgreSQL alters the column in place. SQLite cannot drop a NOT NULL, so the table
//! is rebuilt from the same column definitions and its rows copied over (it has no
//! foreign keys either way: the trail outlives the rows it names).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::timestamp;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum AdminAction {
    Table,
    Id,
    AdminUserId,
    Actor,
    Action,
    CustomerId,
    CustomerGroupId,
    Details,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AdminActionRebuilt {
    Table,
}

const INDEXES: [(&str, AdminAction); 2] = [
    ("ix_admin_action_customer", AdminAction::CustomerId),
    (
        "ix_admin_action_customer_group",
        AdminAction::CustomerGroupId,
    ),
];

fn actor() -> ColumnDef {
    ColumnDef::new(AdminAction::Actor)
        .string_len(16)
        .not_null()
        .default("admin")
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            return manager
                .alter_table(
                    Table::alter()
                        .table(AdminAction::Table)
                        .modify_column(ColumnDef::new(AdminAction::AdminUserId).uuid().null())
                        .add_column(actor())
                        .take(),
                )
                .await;
        }
        // One batch, so one connection runs it all: on a pool, a second connection
        // still reading the old schema would find `admin_action` there at the rename.
        let create = Table::create()
            .table(AdminActionRebuilt::Table)
            .col(
                ColumnDef::new(AdminAction::Id)
                    .uuid()
                    .not_null()
                    .primary_key(),
            )
            .col(ColumnDef::new(AdminAction::AdminUserId).uuid().null())
            .col(actor())
            .col(
                ColumnDef::new(AdminAction::Action)
                    .string_len(64)
                    .not_null(),
            )
            .col(ColumnDef::new(AdminAction::CustomerId).uuid().null())
            .col(ColumnDef::new(AdminAction::CustomerGroupId).uuid().null())
            .col(ColumnDef::new(AdminAction::Details).json_binary().null())
            .col(timestamp(AdminAction::CreatedAt))
            .to_string(SqliteQueryBuilder);
        let mut batch = vec![
            create,
            "INSERT INTO admin_action_rebuilt \
             (id, admin_user_id, actor, action, customer_id, customer_group_id, details, created_at) \
             SELECT id, admin_user_id, 'admin', action, customer_id, customer_group_id, details, created_at \
             FROM admin_action"
                .to_owned(),
            "DROP TABLE admin_action".to_owned(),
            "ALTER TABLE admin_action_rebuilt RENAME TO admin_action".to_owned(),
        ];
        for (name, column) in INDEXES {
            batch.push(
                Index::create()
                    .name(name)
                    .table(AdminAction::Table)
                    .col(column)
                    .col(AdminAction::Id)
                    .to_string(SqliteQueryBuilder),
            );
        }
        crate::execute_batch(manager, &batch).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The customers' own events have no admin to keep them under.
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM admin_action WHERE admin_user_id IS NULL")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AdminAction::Table)
                    .drop_column(AdminAction::Actor)
                    .take(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .alter_table(
                    Table::alter()
                        .table(AdminAction::Table)
                        .modify_column(ColumnDef::new(AdminAction::AdminUserId).uuid().not_null())
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
