//! Writing many rows fast: multi-row INSERTs sized for the connection, with the
//! foreign keys and secondary indexes out of the way while they go in.
//!
//! Measured on PostgreSQL with 100,000 customers (about 950,000 rows): two thirds of
//! the database's time went to maintaining indexes and to the per-row triggers that
//! check foreign keys. Building an index once over the loaded table (a sort) and
//! checking a foreign key once (a join) cost a fraction of that, which is how
//! `pg_restore` loads a dump too. Everything happens in the seed's transaction, so
//! a failed seed leaves the schema as it was.

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, Iterable, QueryTrait, Statement,
};

use crate::error::DomainResult;

/// What [`set_aside`] took off the tables, as the DDL that puts it back.
pub(super) struct SetAside {
    /// `CREATE INDEX` statements, then `ALTER TABLE ... ADD CONSTRAINT` ones.
    restore: Vec<String>,
}

/// Takes the foreign keys and the secondary indexes (those no constraint uses) off
/// `tables` until [`SetAside::restore`]. PostgreSQL writes the DDL from its own
/// catalog (`pg_get_indexdef`, `pg_get_constraintdef`), so nothing here repeats the
/// migrations. SQLite instead checks foreign keys at commit (`defer_foreign_keys`),
/// and keeps its indexes: it maintains them in-process, without the round trips.
pub(super) async fn set_aside(
    txn: &impl ConnectionTrait,
    tables: &[&str],
) -> DomainResult<SetAside> {
    let backend = txn.get_database_backend();
    if backend != DbBackend::Postgres {
        txn.execute_unprepared("PRAGMA defer_foreign_keys = ON")
            .await?;
        return Ok(SetAside {
            restore: Vec::new(),
        });
    }
    txn.execute_unprepared("SET LOCAL maintenance_work_mem = '256MB'")
        .await?;
    let placeholders: Vec<String> = (1..=tables.len()).map(|n| format!("${n}")).collect();
    let ours = format!(
        "SELECT oid FROM pg_class WHERE relnamespace = current_schema()::regnamespace \
         AND relname IN ({})",
        placeholders.join(", ")
    );
    let names = tables.iter().map(|t| (*t).into());
    let foreign_keys = txn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname) \
                 AS take, format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, \
                 conname, pg_get_constraintdef(oid)) AS put \
                 FROM pg_constraint WHERE contype = 'f' AND conrelid IN ({ours})"
            ),
            names.clone(),
        ))
        .await?;
    let indexes = txn
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT format('DROP INDEX %s', i.indexrelid::regclass) AS take, \
                 pg_get_indexdef(i.indexrelid) AS put FROM pg_index i \
                 WHERE i.indrelid IN ({ours}) \
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
            ),
            names,
        ))
        .await?;
    let mut restore = Vec::new();
    // Foreign keys first: one may rest on an index.
    for row in foreign_keys.iter().chain(&indexes) {
        let take: String = row.try_get("", "take")?;
        txn.execute_unprepared(&take).await?;
    }
    for row in indexes.iter().chain(&foreign_keys) {
        restore.push(row.try_get::<String>("", "put")?);
    }
    Ok(SetAside { restore })
}

impl SetAside {
    /// Builds the indexes and adds the foreign keys back, each checked over every row.
    pub(super) async fn restore(self, txn: &impl ConnectionTrait) -> DomainResult<()> {
        for statement in &self.restore {
            txn.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}

/// Largest INSERT, in bytes (its SQL text and values). With TLS (what sqlx uses when
/// the server offers it, as PostgreSQL on Debian does even on loopback) rustls sends
/// a message in records of 16 KB, one `sendto` each, and sqlx 0.9.0 leaves Nagle's
/// algorithm on (it does not set TCP_NODELAY; upstream sqlx#4335): every record
/// after the first waits for PostgreSQL's delayed ACK. With 48 KB statements the seed
/// of 100,000 customers took 449 s over TLS and 34 s without; a statement within one
/// record never waits.
const BYTES_PER_INSERT: usize = 12 * 1024;
/// SQLite allows at most 32,766 bind parameters in one statement.
const MAX_PARAMS_PER_INSERT: usize = 30_000;

/// Roughly what a value takes in a statement.
fn value_bytes(value: &sea_orm::Value) -> usize {
    use sea_orm::Value;
    let bytes = match value {
        Value::String(Some(text)) => text.len(),
        Value::Json(Some(json)) => json.to_string().len(),
        Value::Bytes(Some(bytes)) => bytes.len(),
        _ => 16,
    };
    bytes + 4
}

/// Inserts `rows` in multi-row INSERTs of at most about [`BYTES_PER_INSERT`].
pub(super) async fn insert_chunked<A>(db: &impl ConnectionTrait, rows: Vec<A>) -> DomainResult<()>
where
    A: ActiveModelTrait + Send,
{
    let backend = db.get_database_backend();
    let bytes = |rows: &[A]| {
        let statement = A::Entity::insert_many(rows.to_vec()).build(backend);
        let values = statement.values.map(|v| v.0).unwrap_or_default();
        statement.sql.len() + values.iter().map(value_bytes).sum::<usize>()
    };
    // What one more row adds (the column list is written once per statement), from
    // a sample, with a margin for rows longer than the sample's.
    let sample = rows.len().min(16);
    let row_bytes = match sample {
        0 | 1 => BYTES_PER_INSERT,
        n => (bytes(&rows[..n]) - bytes(&rows[..1])) / (n - 1) * 3 / 2,
    };
    let columns = <<A::Entity as EntityTrait>::Column as Iterable>::iter().count();
    let per_insert =
        (BYTES_PER_INSERT / row_bytes.max(1)).clamp(1, MAX_PARAMS_PER_INSERT / columns);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per_insert).collect();
        A::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
