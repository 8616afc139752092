//! SQLite's customer search answers from its own rows, so a search page stops
//! costing a lookup of every matching customer.
//!
//! Measured with 100,000 customers and a word in one customer of 24 ("hopper", 4,254
//! matches): the FTS5 match itself took 1.5 ms, reading each match's `customer_id`
//! back out of the FTS table 11 ms more, and looking each customer up by id to check
//! it was live and to sort by creation 13 to 16 ms more, twice (the count and the
//! page): 63 ms for the page against 8.8 ms unfiltered.
//!
//! Now one small table, `customer_search_row`, holds per customer an integer `row`
//! (the FTS5 rowid: an INTEGER PRIMARY KEY, which VACUUM keeps), the customer's id,
//! whether it is live, and its creation time; the FTS5 table is contentless (the text
//! is only indexed, never read back). A plain search counts and orders on these rows
//! alone and looks up only the page's customers (`domain::customers`). Triggers keep
//! both in step with `customer`, as before. PostgreSQL is unchanged: its trigram
//! index is on the customer row itself.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

use crate::m20261201_000010_add_customer_search::joined;

const OLD_TRIGGERS: [&str; 3] = [
    "customer_search_insert",
    "customer_search_update",
    "customer_search_delete",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let row_of = |customer: &str| {
            format!("(SELECT row FROM customer_search_row WHERE customer_id = {customer}.id)")
        };
        let mut batch: Vec<String> = OLD_TRIGGERS
            .iter()
            .map(|name| format!("DROP TRIGGER IF EXISTS {name}"))
            .collect();
        batch.extend([
            "DROP TABLE IF EXISTS customer_search".to_owned(),
            "CREATE TABLE customer_search_row (\
             row INTEGER PRIMARY KEY, \
             customer_id uuid_text NOT NULL UNIQUE, \
             live boolean NOT NULL, \
             created_at timestamp_with_timezone_text NOT NULL)"
                .to_owned(),
            "CREATE INDEX ix_customer_search_row_created_at \
             ON customer_search_row (created_at, customer_id)"
                .to_owned(),
            "CREATE VIRTUAL TABLE customer_search USING fts5(\
             text, content = '', contentless_delete = 1, tokenize = 'trigram')"
                .to_owned(),
            // Rows in creation order, as new customers will get them.
            "INSERT INTO customer_search_row (customer_id, live, created_at) \
             SELECT id, deleted_at IS NULL, created_at FROM customer ORDER BY created_at, id"
                .to_owned(),
            format!(
                "INSERT INTO customer_search (rowid, text) SELECT r.row, {} \
                 FROM customer c JOIN customer_search_row r ON r.customer_id = c.id",
                joined("c")
            ),
            format!(
                "CREATE TRIGGER customer_search_insert AFTER INSERT ON customer BEGIN \
                 INSERT INTO customer_search_row (customer_id, live, created_at) \
                 VALUES (new.id, new.deleted_at IS NULL, new.created_at); \
                 INSERT INTO customer_search (rowid, text) VALUES ({}, {}); END",
                row_of("new"),
                joined("new")
            ),
            // Only when a searched field changed: most updates (billing address,
            // metadata, order numbers) leave the text alone.
            format!(
                "CREATE TRIGGER customer_search_update AFTER UPDATE ON customer \
                 WHEN old.email IS NOT new.email OR old.first_name IS NOT new.first_name \
                 OR old.last_name IS NOT new.last_name BEGIN \
                 DELETE FROM customer_search WHERE rowid = {row}; \
                 INSERT INTO customer_search (rowid, text) VALUES ({row}, {}); END",
                joined("new"),
                row = row_of("new"),
            ),
            "CREATE TRIGGER customer_search_row_update AFTER UPDATE ON customer \
             WHEN (old.deleted_at IS NULL) IS NOT (new.deleted_at IS NULL) \
             OR old.created_at IS NOT new.created_at OR old.id IS NOT new.id BEGIN \
             UPDATE customer_search_row SET customer_id = new.id, \
             live = new.deleted_at IS NULL, created_at = new.created_at \
             WHERE customer_id = old.id; END"
                .to_owned(),
            format!(
                "CREATE TRIGGER customer_search_delete AFTER DELETE ON customer BEGIN \
                 DELETE FROM customer_search WHERE rowid = {}; \
                 DELETE FROM customer_search_row WHERE customer_id = old.id; END",
                row_of("old")
            ),
        ]);
        crate::execute_batch(manager, &batch).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let mut batch: Vec<String> = OLD_TRIGGERS
            .iter()
            .chain(&["customer_search_row_update"])
            .map(|name| format!("DROP TRIGGER IF EXISTS {name}"))
            .collect();
        batch.extend([
            "DROP TABLE IF EXISTS customer_search".to_owned(),
            "DROP TABLE IF EXISTS customer_search_row".to_owned(),
        ]);
        crate::execute_batch(manager, &batch).await?;
        // Back to migration 10's index.
        crate::m20261201_000010_add_customer_search::Migration
            .up(manager)
            .await
    }
}
