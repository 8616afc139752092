//! Writing many rows fast, all in one transaction so a failed seed leaves the database
//! as it was: COPY on PostgreSQL, multi-row INSERTs on SQLite.
//!
//! PostgreSQL, measured with 100,000 customers (about 950,000 rows):
//! - two thirds of the database's time went to maintaining indexes and to the per-row
//!   triggers that check foreign keys. Building an index once over the loaded table (a
//!   sort) and checking a foreign key once (a join) cost a fraction of that, which is
//!   how `pg_restore` loads a dump too; so [`Loader::begin`] sets them aside;
//! - multi-row INSERTs were bound by the database parsing and planning statements of
//!   thousands of parameters, one round trip each (25 s of rows). COPY streams the rows
//!   as text without either. SeaORM has no COPY, so the PostgreSQL loader holds the
//!   pool's sqlx connection itself, in a transaction of its own.
//!
//! SQLite checks foreign keys at commit instead (`defer_foreign_keys`) and keeps its
//! indexes: it maintains them in-process, without round trips.

use std::sync::Arc;

use sea_orm::sqlx::{self, Postgres};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityName,
    EntityTrait, IdenStatic, Iterable, QueryTrait, RuntimeErr, Value,
};
use tokio::sync::mpsc::Receiver;

use crate::db::Db;
use crate::error::DomainResult;

/// One transaction the seed writes through.
pub(super) enum Loader {
    /// SQLite: multi-row INSERTs through SeaORM.
    Insert(DatabaseTransaction),
    /// PostgreSQL: COPY on the connection's own sqlx handle. `restore` is the DDL that
    /// puts back what [`set_aside`] took off: `CREATE INDEX` statements, then
    /// `ALTER TABLE ... ADD CONSTRAINT` ones.
    Copy {
        txn: sqlx::Transaction<'static, Postgres>,
        restore: Vec<String>,
    },
}

impl Loader {
    /// Opens the seed's transaction on one of `db`'s connections; on PostgreSQL, with
    /// the foreign keys and secondary indexes of `tables` set aside.
    pub(super) async fn begin(db: &Db, tables: &[&str]) -> DomainResult<Self> {
        if db.get_database_backend() != DbBackend::Postgres {
            let txn = crate::db::begin_write(db).await?;
            txn.execute_unprepared("PRAGMA defer_foreign_keys = ON")
                .await?;
            return Ok(Self::Insert(txn));
        }
        let mut txn = db
            .pool()
            .get_postgres_connection_pool()
            .begin()
            .await
            .map_err(db_err)?;
        let restore = set_aside(&mut txn, tables).await?;
        Ok(Self::Copy { txn, restore })
    }

    /// Writes the rows of one table as they arrive, a chunk at a time, and counts them.
    pub(super) async fn write<A>(&mut self, mut chunks: Receiver<Vec<A>>) -> DomainResult<usize>
    where
        A: ActiveModelTrait + Send,
    {
        match self {
            Self::Insert(txn) => {
                let mut written = 0;
                while let Some(rows) = chunks.recv().await {
                    written += rows.len();
                    insert_chunked(txn, rows).await?;
                }
                Ok(written)
            }
            Self::Copy { txn, .. } => copy(txn, chunks).await,
        }
    }

    /// Runs one statement of the seed's own (no parameters, nothing returned).
    pub(super) async fn execute(&mut self, sql: &str) -> DomainResult<()> {
        match self {
            Self::Insert(txn) => {
                txn.execute_unprepared(sql).await?;
            }
            Self::Copy { txn, .. } => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut **txn)
                    .await
                    .map_err(db_err)?;
            }
        }
        Ok(())
    }

    /// Builds the indexes and adds the foreign keys back, each checked over every row.
    pub(super) async fn restore(&mut self) -> DomainResult<()> {
        if let Self::Copy { restore, .. } = self {
            for statement in std::mem::take(restore) {
                self.execute(&statement).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn commit(self) -> DomainResult<()> {
        match self {
            Self::Insert(txn) => txn.commit().await?,
            Self::Copy { txn, .. } => txn.commit().await.map_err(db_err)?,
        }
        Ok(())
    }
}

fn db_err(error: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(error)))
}

/// Takes the foreign keys and the secondary indexes (those no constraint uses) off
/// `tables` and returns the DDL that puts them back. PostgreSQL writes that DDL from
/// its own catalog (`pg_get_indexdef`, `pg_get_constraintdef`), so nothing here
/// repeats the migrations.
async fn set_aside(conn: &mut sqlx::PgConnection, tables: &[&str]) -> DomainResult<Vec<String>> {
    sqlx::raw_sql("SET LOCAL maintenance_work_mem = '256MB'")
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let tables: Vec<String> = tables.iter().map(|t| (*t).to_owned()).collect();
    let ours = "SELECT oid FROM pg_class WHERE relnamespace = current_schema()::regnamespace \
                AND relname = ANY($1)";
    let foreign_keys: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname), \
         format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, \
         pg_get_constraintdef(oid)) \
         FROM pg_constraint WHERE contype = 'f' AND conrelid IN ({ours})"
    )))
    .bind(&tables)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let indexes: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid) \
         FROM pg_index i WHERE i.indrelid IN ({ours}) \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
    )))
    .bind(&tables)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    // Foreign keys first: one may rest on an index.
    for (take, _) in foreign_keys.iter().chain(&indexes) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(take.as_str()))
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(indexes
        .into_iter()
        .chain(foreign_keys)
        .map(|(_, put)| put)
        .collect())
}

/// Bytes of COPY text sent at a time.
const COPY_BUFFER: usize = 1 << 20;

/// Streams the rows into their table with one `COPY ... FROM STDIN` (text format). The
/// columns are those the first row has a value for; every row must have the same ones.
async fn copy<A>(conn: &mut sqlx::PgConnection, mut chunks: Receiver<Vec<A>>) -> DomainResult<usize>
where
    A: ActiveModelTrait,
{
    let Some(mut rows) = chunks.recv().await else {
        return Ok(0);
    };
    let Some(first) = rows.first() else {
        return Ok(0);
    };
    let table = A::Entity::default().table_name();
    let columns: Vec<_> = <<A::Entity as EntityTrait>::Column as Iterable>::iter()
        .filter(|column| !first.get(*column).is_not_set())
        .collect();
    let names: Vec<String> = columns
        .iter()
        .map(|column| format!("\"{}\"", column.as_str()))
        .collect();
    let statement = format!("COPY \"{table}\" ({}) FROM STDIN", names.join(", "));
    let mut copy = conn.copy_in_raw(&statement).await.map_err(db_err)?;
    let mut buffer = String::with_capacity(COPY_BUFFER + 4096);
    let mut written = 0;
    loop {
        for row in &rows {
            for (n, column) in columns.iter().enumerate() {
                if n > 0 {
                    buffer.push('\t');
                }
                // A column the first row set and this one did not is refused, as are
                // types the seed never writes.
                let value = row.get(*column).into_value();
                if !value.is_some_and(|value| write_copy_value(&mut buffer, &value)) {
                    return Err(DbErr::Custom(format!(
                        "seed cannot copy the value of {table}.{}",
                        column.as_str()
                    ))
                    .into());
                }
            }
            buffer.push('\n');
            if buffer.len() >= COPY_BUFFER {
                copy.send(std::mem::take(&mut buffer).into_bytes())
                    .await
                    .map_err(db_err)?;
                buffer.reserve(COPY_BUFFER + 4096);
            }
        }
        written += rows.len();
        match chunks.recv().await {
            Some(next) => rows = next,
            None => break,
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.into_bytes()).await.map_err(db_err)?;
    }
    copy.finish().await.map_err(db_err)?;
    Ok(written)
}

/// One value in COPY's text format: `\N` for NULL; backslash, tab, newline and carriage
/// return escaped. False for a type the seed has no use for.
fn write_copy_value(out: &mut String, value: &Value) -> bool {
    let text = match value {
        Value::Bool(Some(b)) => b.then_some("t").unwrap_or("f").to_owned(),
        Value::SmallInt(Some(n)) => n.to_string(),
        Value::Int(Some(n)) => n.to_string(),
        Value::BigInt(Some(n)) => n.to_string(),
        Value::Uuid(Some(id)) => id.hyphenated().to_string(),
        Value::ChronoDateTimeUtc(Some(time)) => time.to_rfc3339(),
        Value::String(Some(text)) => text.clone(),
        Value::Json(Some(json)) => json.to_string(),
        other if !other.is_some() => {
            out.push_str("\\N");
            return true;
        }
        _ => return false,
    };
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    true
}

/// Largest INSERT, in bytes (its SQL text and values).
const BYTES_PER_INSERT: usize = 48 * 1024;
/// SQLite allows at most 32,766 bind parameters in one statement.
const MAX_PARAMS_PER_INSERT: usize = 30_000;

/// Roughly what a value takes in a statement.
fn value_bytes(value: &Value) -> usize {
    let bytes = match value {
        Value::String(Some(text)) => text.len(),
        Value::Json(Some(json)) => json.to_string().len(),
        Value::Bytes(Some(bytes)) => bytes.len(),
        _ => 16,
    };
    bytes + 4
}

/// Inserts `rows` in multi-row INSERTs of at most about [`BYTES_PER_INSERT`].
async fn insert_chunked<A>(db: &impl ConnectionTrait, rows: Vec<A>) -> DomainResult<()>
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

#[cfg(test)]
mod tests {
    use super::*;

    fn copied(value: Value) -> Option<String> {
        let mut out = String::new();
        write_copy_value(&mut out, &value).then_some(out)
    }

    #[test]
    fn copy_text_escapes_what_the_format_reserves() {
        assert_eq!(
            copied(Value::String(Some("a\tb\\c\nd\re".into()))).as_deref(),
            Some("a\\tb\\\\c\\nd\\re")
        );
        assert_eq!(copied(Value::String(None)).as_deref(), Some("\\N"));
        assert_eq!(copied(Value::Bool(Some(false))).as_deref(), Some("f"));
        assert_eq!(
            copied(Value::Json(Some(Box::new(serde_json::json!({"k": "v\\"}))))).as_deref(),
            Some("{\"k\":\"v\\\\\\\\\"}")
        );
        assert_eq!(copied(Value::Double(Some(1.5))), None);
    }
}
