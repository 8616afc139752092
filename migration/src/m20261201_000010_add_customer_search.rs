//! An index behind the customer search, so a search page costs about what an
//! unfiltered page costs instead of a scan of every customer.
//!
//! The searched text is the email, first name and last name joined by single spaces.
//! A search word never contains whitespace, so a word found in the joined text lies
//! inside one of the three fields: the semantics stay "every word appears in the
//! email, first or last name".
//!
//! - PostgreSQL: a generated column `customer.search_text` (lower-cased) with a
//!   `pg_trgm` GIN index, which answers `LIKE '%word%'` from trigrams. `pg_trgm` ships
//!   with PostgreSQL and is a trusted extension (13+): the database owner may create
//!   it without being a superuser.
//! - SQLite: an FTS5 table with the trigram tokenizer, kept by triggers. It is keyed
//!   by the customer's id, not its rowid: VACUUM (and `VACUUM INTO`, which `backup`
//!   uses) may renumber the rowids of a table without an INTEGER PRIMARY KEY.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The joined text, as SQL over a `customer` row reached as `row` (migration 18's
/// search rows index the same text).
pub(crate) fn joined(row: &str) -> String {
    format!(
        "{row}.email || ' ' || coalesce({row}.first_name, '') || ' ' || \
         coalesce({row}.last_name, '')"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                    .await?;
                db.execute_unprepared(&format!(
                    "ALTER TABLE customer ADD COLUMN search_text text \
                     GENERATED ALWAYS AS (lower({})) STORED",
                    joined("customer")
                ))
                .await?;
                db.execute_unprepared(
                    "CREATE INDEX customer_search_text_trgm ON customer \
                     USING gin (search_text gin_trgm_ops)",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(
                    "CREATE VIRTUAL TABLE customer_search \
                     USING fts5(customer_id UNINDEXED, text, tokenize = 'trigram')",
                )
                .await?;
                db.execute_unprepared(&format!(
                    "INSERT INTO customer_search (customer_id, text) \
                     SELECT id, {} FROM customer",
                    joined("customer")
                ))
                .await?;
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER customer_search_insert AFTER INSERT ON customer BEGIN \
                     INSERT INTO customer_search (customer_id, text) VALUES (new.id, {}); END",
                    joined("new")
                ))
                .await?;
                // Only when a searched field changed: most updates (billing address,
                // metadata, deletion) leave the text alone, and finding the row by an
                // unindexed id costs a pass over the search table.
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER customer_search_update AFTER UPDATE ON customer \
                     WHEN old.email IS NOT new.email OR old.first_name IS NOT new.first_name \
                     OR old.last_name IS NOT new.last_name OR old.id IS NOT new.id BEGIN \
                     DELETE FROM customer_search WHERE customer_id = old.id; \
                     INSERT INTO customer_search (customer_id, text) VALUES (new.id, {}); END",
                    joined("new")
                ))
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER customer_search_delete AFTER DELETE ON customer BEGIN \
                     DELETE FROM customer_search WHERE customer_id = old.id; END",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared("DROP INDEX IF EXISTS customer_search_text_trgm")
                    .await?;
                db.execute_unprepared("ALTER TABLE customer DROP COLUMN IF EXISTS search_text")
                    .await?;
            }
            _ => {
                for trigger in ["insert", "update", "delete"] {
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS customer_search_{trigger}"
                    ))
                    .await?;
                }
                db.execute_unprepared("DROP TABLE IF EXISTS customer_search")
                    .await?;
            }
        }
        Ok(())
    }
}
