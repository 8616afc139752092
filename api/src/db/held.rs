//! A request's one connection.
//!
//! Through the pool, every statement takes a connection and gives it back, and sqlx
//! tests each connection it is given back (on PostgreSQL a `Sync` and its
//! `ReadyForQuery`, a round trip; on SQLite a message to the connection's thread and
//! its answer), in a task of its own that no setting turns off. A customer by id and
//! its addresses and groups, four statements, paid four such tests and four trips
//! through the pool; removing the tests alone bought 16 % more requests per second
//! (docs/performance.md). A request's [`Db`](super::Db) instead takes one
//! connection at its first statement and gives it back once, when the request ends,
//! so sqlx still tests it once: a statement abandoned at the deadline leaves no
//! half-read answer on a connection that someone else is then given.
//!
//! The request's statements take turns on it (a mutex): a request's loaders run
//! side by side, but each batch is one short statement, and PostgreSQL runs one
//! statement at a time on a connection anyway.

use sea_orm::sqlx::{self, Database, Executor, IntoArguments, Pool};
use sea_orm::{
    ConnAcquireErr, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};
use sea_query_sqlx::SqlxValues;
use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Sqlite};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

#[derive(Debug, Default)]
pub struct Held(Mutex<State>);

#[derive(Debug, Default)]
enum State {
    /// No connection yet, or given back before a transaction.
    #[default]
    Idle,
    Holding(Connection),
    /// The request has ended: any statement still coming goes to the pool.
    Ended,
}

#[derive(Debug)]
pub enum Connection {
    Postgres(PoolConnection<Postgres>),
    Sqlite(PoolConnection<Sqlite>),
}

impl Held {
    /// The request's connection, taken from `pool` if the request holds none yet; the
    /// guard is the statement's turn. `None` once the request has ended: the caller
    /// uses the pool.
    pub async fn connection(
        &self,
        pool: &DatabaseConnection,
    ) -> Option<Result<MappedMutexGuard<'_, Connection>, DbErr>> {
        let mut state = self.0.lock().await;
        if let State::Idle = *state {
            match acquire(pool).await {
                Ok(connection) => *state = State::Holding(connection),
                Err(error) => return Some(Err(error)),
            }
        }
        MutexGuard::try_map(state, |state| match state {
            State::Holding(connection) => Some(connection),
            _ => None,
        })
        .ok()
        .map(Ok)
    }

    /// Gives the connection back to the pool, after the statement running on it.
    /// `ended`: for good, at the request's end; otherwise before a transaction (which
    /// takes a connection of its own), and the next statement takes one again.
    pub async fn give_back(&self, ended: bool) {
        let mut state = self.0.lock().await;
        let ended = ended || matches!(*state, State::Ended);
        *state = if ended { State::Ended } else { State::Idle };
    }
}

/// `stmt`'s rows (the first only, for `one`), bound and decoded as sea-orm's pool
/// binds and decodes them.
pub async fn rows(
    connection: &mut Connection,
    stmt: &Statement,
    one: bool,
) -> Result<Vec<QueryResult>, DbErr> {
    match connection {
        Connection::Postgres(conn) => rows_on::<Postgres>(&mut **conn, stmt, one).await,
        Connection::Sqlite(conn) => rows_on::<Sqlite>(&mut **conn, stmt, one).await,
    }
}

/// `stmt` run for its effect.
pub async fn execute(connection: &mut Connection, stmt: &Statement) -> Result<ExecResult, DbErr> {
    let failed = |error: sqlx::Error| DbErr::Exec(RuntimeErr::SqlxError(error.into()));
    match connection {
        Connection::Postgres(conn) => {
            let done = query::<Postgres>(stmt).execute(&mut **conn).await;
            done.map(Into::into).map_err(failed)
        }
        Connection::Sqlite(conn) => {
            let done = query::<Sqlite>(stmt).execute(&mut **conn).await;
            done.map(Into::into).map_err(failed)
        }
    }
}

async fn acquire(pool: &DatabaseConnection) -> Result<Connection, DbErr> {
    let taken = match pool.get_database_backend() {
        DbBackend::Postgres => {
            let pool: &Pool<Postgres> = pool.get_postgres_connection_pool();
            pool.acquire().await.map(Connection::Postgres)
        }
        _ => {
            let pool: &Pool<Sqlite> = pool.get_sqlite_connection_pool();
            pool.acquire().await.map(Connection::Sqlite)
        }
    };
    // The errors sea-orm's pool gives for the same failures, so that the error
    // policy (`error.rs`) classifies both paths alike.
    taken.map_err(|error| match error {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        error => DbErr::Conn(RuntimeErr::SqlxError(error.into())),
    })
}

async fn rows_on<DB>(
    conn: &mut DB::Connection,
    stmt: &Statement,
    one: bool,
) -> Result<Vec<QueryResult>, DbErr>
where
    DB: Database,
    SqlxValues: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    QueryResult: From<DB::Row>,
{
    let failed = |error: sqlx::Error| DbErr::Query(RuntimeErr::SqlxError(error.into()));
    let rows = match one {
        true => query::<DB>(stmt)
            .fetch_optional(conn)
            .await
            .map(Vec::from_iter),
        false => query::<DB>(stmt).fetch_all(conn).await,
    };
    Ok(rows.map_err(failed)?.into_iter().map(Into::into).collect())
}

fn query<DB>(stmt: &Statement) -> sqlx::query::Query<'_, DB, SqlxValues>
where
    DB: Database,
    SqlxValues: IntoArguments<DB>,
{
    let values = SqlxValues(stmt.values.clone().unwrap_or(sea_orm::Values(Vec::new())));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), values)
}
