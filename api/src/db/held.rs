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
//!
//! A request that ends with its connection settled (every statement on it ran to
//! its answer) hands it to the next request ([`Spares`]) instead of the pool: the
//! test that giving it back would cost is there for a statement abandoned halfway,
//! and there was none. That is one round trip less per request, and about 6 % more
//! customers by id per second (docs/performance.md). A connection cut off mid-statement, or whose
//! statement failed other than with the database's own error, goes back to the pool
//! and is tested there; so does every connection at least every
//! [`BACK_TO_POOL_EVERY`].

use std::sync::{Mutex as StdMutex, PoisonError, Weak};
use std::time::{Duration, Instant};

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
pub struct Connection {
    raw: Raw,
    /// Every statement sent on it has been answered: none was dropped halfway.
    settled: bool,
    /// When the pool lent it: it goes back there at least every [`BACK_TO_POOL_EVERY`].
    lent: Instant,
}

/// The longest a connection goes from one request to the next without the pool: the
/// pool's own checks (its test, the connection's maximum lifetime) run when it is
/// given back, and a connection in constant use would otherwise never be.
const BACK_TO_POOL_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug)]
enum Raw {
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
        spares: &Spares,
    ) -> Option<Result<MappedMutexGuard<'_, Connection>, DbErr>> {
        let mut state = self.0.lock().await;
        if let State::Idle = *state {
            let taken = match spares.take() {
                Some(connection) => Ok(connection),
                // Boxed: sqlx's acquire is a future of about 14 KB, and inline it
                // made every statement's future that large, which sea-orm boxes, so
                // each statement copied 15 KB (callgrind: a quarter of a customer
                // by id's instructions were `memcpy`). It runs once per request.
                None => Box::pin(acquire(pool)).await,
            };
            match taken {
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

    /// Gives the connection up, after the statement running on it. `ended`: for good,
    /// at the request's end, to the next request if it is settled and was lent
    /// recently enough (else to the pool); otherwise before a transaction, to the
    /// pool, where the transaction takes it (and the next statement takes one again).
    pub async fn give_back(&self, ended: bool, pool: &DatabaseConnection, spares: &Spares) {
        let mut state = self.0.lock().await;
        let ended = ended || matches!(*state, State::Ended);
        let next = if ended { State::Ended } else { State::Idle };
        if let State::Holding(connection) = std::mem::replace(&mut *state, next)
            && ended
            && connection.settled
            && connection.lent.elapsed() < BACK_TO_POOL_EVERY
        {
            spares.put(connection, pool);
        }
    }
}

/// Settled connections that ended requests gave up, for the next requests; shared by
/// every request of one pool. They count as the pool's idle ones (`/metrics`).
///
/// To the pool they are taken: it cannot lend them, and a request that found no
/// spare waits on the pool, not on them. So while the pool is out of connections an
/// ending request gives its connection to the pool ([`Spares::put`]), a spare is
/// handed back to it before anything but a request's statement acquires one
/// ([`Spares::make_room`]), and any spare unused for
/// [`PING_AFTER_IDLE`](super::PING_AFTER_IDLE) goes back too, to be tested the next
/// time the pool lends it (a restarted database, a connection closed meanwhile), and
/// to let the pool close it when it has been idle for long.
#[derive(Debug, Default)]
pub struct Spares(StdMutex<Vec<(Connection, Instant)>>);

impl Spares {
    /// The most recently given up connection, unless it has been unused for too long
    /// (then so have all the others: all go back to the pool).
    fn take(&self) -> Option<Connection> {
        let mut spares = self.lock();
        let (connection, since) = spares.pop()?;
        if since.elapsed() < super::PING_AFTER_IDLE {
            return Some(connection);
        }
        // Dropped after the lock: dropping a connection hands it back to the pool.
        let stale = std::mem::take(&mut *spares);
        drop(spares);
        drop((connection, stale));
        None
    }

    /// Keeps `connection` for the next request, unless `pool` is out of connections:
    /// then a request may be waiting on it, and the connection goes there.
    fn put(&self, connection: Connection, pool: &DatabaseConnection) {
        if exhausted(pool) {
            drop(connection);
        } else {
            self.lock().push((connection, Instant::now()));
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Before a transaction or a statement outside a request takes a connection from
    /// `pool`: if the pool has none to lend and cannot open another, the oldest spare
    /// goes back to it, so nothing waits while a spare sits unused.
    pub fn make_room(&self, pool: &DatabaseConnection) {
        if exhausted(pool) {
            let oldest = {
                let mut spares = self.lock();
                (!spares.is_empty()).then(|| spares.remove(0))
            };
            drop(oldest);
        }
    }

    /// Every spare back to the pool (before it closes).
    pub fn clear(&self) {
        let spares = std::mem::take(&mut *self.lock());
        drop(spares);
    }

    /// Gives back the spares unused for `idle`, every `idle`, for as long as they
    /// exist.
    pub fn sweep_every(spares: Weak<Spares>, idle: Duration) {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(idle).await;
                let Some(spares) = spares.upgrade() else {
                    break;
                };
                let stale: Vec<_> = {
                    // Oldest first: the stale ones are a prefix.
                    let mut spares = spares.lock();
                    let stale = spares.partition_point(|(_, since)| since.elapsed() >= idle);
                    spares.drain(..stale).collect()
                };
                drop(stale);
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Connection, Instant)>> {
        // A panic holding the lock leaves a whole list: pushes and pops are single
        // steps.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// No idle connection, and no room to open another.
fn exhausted(pool: &DatabaseConnection) -> bool {
    fn figures<DB: Database>(pool: &Pool<DB>) -> (usize, u32, u32) {
        (
            pool.num_idle(),
            pool.size(),
            pool.options().get_max_connections(),
        )
    }
    let (idle, open, max) = match pool.get_database_backend() {
        DbBackend::Postgres => figures(pool.get_postgres_connection_pool()),
        _ => figures(pool.get_sqlite_connection_pool()),
    };
    idle == 0 && open >= max
}

/// `stmt`'s rows (the first only, for `one`), bound and decoded as sea-orm's pool
/// binds and decodes them.
pub async fn rows(
    connection: &mut Connection,
    stmt: &Statement,
    one: bool,
) -> Result<Vec<QueryResult>, DbErr> {
    connection.settled = false;
    let rows = match &mut connection.raw {
        Raw::Postgres(conn) => rows_on::<Postgres>(&mut **conn, stmt, one).await,
        Raw::Sqlite(conn) => rows_on::<Sqlite>(&mut **conn, stmt, one).await,
    };
    connection.settled = settles(&rows);
    rows.map_err(|error| DbErr::Query(RuntimeErr::SqlxError(error.into())))
}

/// `stmt` run for its effect.
pub async fn execute(connection: &mut Connection, stmt: &Statement) -> Result<ExecResult, DbErr> {
    connection.settled = false;
    let done = match &mut connection.raw {
        Raw::Postgres(conn) => query::<Postgres>(stmt)
            .execute(&mut **conn)
            .await
            .map(Into::into),
        Raw::Sqlite(conn) => query::<Sqlite>(stmt)
            .execute(&mut **conn)
            .await
            .map(Into::into),
    };
    connection.settled = settles(&done);
    done.map_err(|error| DbErr::Exec(RuntimeErr::SqlxError(error.into())))
}

/// An answer, or the database's own error (a constraint, a cancelled statement),
/// leaves the connection ready for the next statement; a broken socket or a protocol
/// error may not.
fn settles<T>(outcome: &Result<T, sqlx::Error>) -> bool {
    matches!(outcome, Ok(_) | Err(sqlx::Error::Database(_)))
}

async fn acquire(pool: &DatabaseConnection) -> Result<Connection, DbErr> {
    let taken = match pool.get_database_backend() {
        DbBackend::Postgres => {
            let pool: &Pool<Postgres> = pool.get_postgres_connection_pool();
            pool.acquire().await.map(Raw::Postgres)
        }
        _ => {
            let pool: &Pool<Sqlite> = pool.get_sqlite_connection_pool();
            pool.acquire().await.map(Raw::Sqlite)
        }
    };
    let taken = taken.map(|raw| Connection {
        raw,
        settled: true,
        lent: Instant::now(),
    });
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
) -> Result<Vec<QueryResult>, sqlx::Error>
where
    DB: Database,
    SqlxValues: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    QueryResult: From<DB::Row>,
{
    let rows = match one {
        true => query::<DB>(stmt)
            .fetch_optional(conn)
            .await
            .map(Vec::from_iter),
        false => query::<DB>(stmt).fetch_all(conn).await,
    };
    Ok(rows?.into_iter().map(Into::into).collect())
}

fn query<DB>(stmt: &Statement) -> sqlx::query::Query<'_, DB, SqlxValues>
where
    DB: Database,
    SqlxValues: IntoArguments<DB>,
{
    let values = SqlxValues(stmt.values.clone().unwrap_or(sea_orm::Values(Vec::new())));
    sqlx::query_with(sqlx::AssertSqlSafe(stmt.sql.as_str()), values)
}
