//! Schema migrations, one per coherent step, applied at server start.
//!
//! Every migration runs on SQLite and PostgreSQL. Uniqueness rules that hold only
//! among live rows are partial unique indexes, written as plain SQL because the
//! syntax is the same on both backends and sea-query has no builder for them.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_create_customers_and_addresses;
mod m20261124_000002_create_customer_groups;
mod m20261124_000003_create_orders;
mod m20261124_000004_create_admin_users_and_sessions;
mod m20261124_000005_add_customer_credentials;
mod m20261124_000006_create_notification_outbox;
mod m20261124_000007_create_admin_actions;
mod m20261124_000008_create_order_claims;
mod m20261201_000009_add_session_activity_and_throttles;
mod m20261201_000010_add_customer_search;
mod m20261201_000011_add_default_shipping_address;
mod m20261201_000012_add_customer_deactivation;
mod m20261201_000013_create_customer_notes;
mod m20261201_000014_add_email_verification;
pub mod m20261201_000015_add_customer_order_stats;
mod m20261201_000016_add_customer_external_id;
mod m20261201_000017_open_admin_action_to_customer_events;
mod m20261202_000018_index_customer_search_rows;
mod m20261202_000019_add_customer_erasure;
mod m20261202_000020_create_events;
mod m20261202_000021_create_customer_consents;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_customers_and_addresses::Migration),
            Box::new(m20261124_000002_create_customer_groups::Migration),
            Box::new(m20261124_000003_create_orders::Migration),
            Box::new(m20261124_000004_create_admin_users_and_sessions::Migration),
            Box::new(m20261124_000005_add_customer_credentials::Migration),
            Box::new(m20261124_000006_create_notification_outbox::Migration),
            Box::new(m20261124_000007_create_admin_actions::Migration),
            Box::new(m20261124_000008_create_order_claims::Migration),
            Box::new(m20261201_000009_add_session_activity_and_throttles::Migration),
            Box::new(m20261201_000010_add_customer_search::Migration),
            Box::new(m20261201_000011_add_default_shipping_address::Migration),
            Box::new(m20261201_000012_add_customer_deactivation::Migration),
            Box::new(m20261201_000013_create_customer_notes::Migration),
            Box::new(m20261201_000014_add_email_verification::Migration),
            Box::new(m20261201_000015_add_customer_order_stats::Migration),
            Box::new(m20261201_000016_add_customer_external_id::Migration),
            Box::new(m20261201_000017_open_admin_action_to_customer_events::Migration),
            Box::new(m20261202_000018_index_customer_search_rows::Migration),
            Box::new(m20261202_000019_add_customer_erasure::Migration),
            Box::new(m20261202_000020_create_events::Migration),
            Box::new(m20261202_000021_create_customer_consents::Migration),
        ]
    }
}

/// Runs `statements` as one batch. On a pool, one batch is one connection: a SQLite
/// table rebuilt by separate statements could be renamed on one connection while
/// another still saw the old table (migration 17 found it).
async fn execute_batch(manager: &SchemaManager<'_>, statements: &[String]) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(&statements.join(";\n"))
        .await?;
    Ok(())
}

/// A `created_at`/`updated_at`-style column: UTC, whole seconds (see README).
fn timestamp<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

fn nullable_timestamp<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .take()
}

/// Text that lists sort by, compared byte-wise on both backends. SQLite compares text
/// with BINARY by default; PostgreSQL would use the database's locale, which sorts the
/// same rows differently from one server to the next (and from SQLite), so the
/// column is given the "C" collation there.
fn sortable_text<T: IntoIden>(manager: &SchemaManager, name: T, max_len: u32) -> ColumnDef {
    let mut column = ColumnDef::new(name).string_len(max_len).take();
    if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
        column.extra("COLLATE \"C\"");
    }
    column
}
