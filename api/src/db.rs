//! Connecting, migrating, the SQL statement counter, and the storage clock.

mod held;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use migration::{Migrator, MigratorTrait};
use uuid::Uuid;

use crate::error::{DomainError, DomainResult};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use std::future::Future;
use std::pin::Pin;
use tokio::sync::MappedMutexGuard;

use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, ExecResult, IsolationLevel, QueryResult, SqliteTransactionMode, Statement,
    TransactionError, TransactionOptions, TransactionTrait,
};

/// Counts every SQL statement the connection executes. Benchmarks and the N+1 tests
/// read it; it costs one atomic add per statement.
#[derive(Clone, Debug, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// How a pool is opened.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    pub max_connections: u32,
    /// How long a request waits for a free connection before it is UNAVAILABLE.
    pub acquire_timeout: Duration,
    /// PostgreSQL only: the server cancels a statement running longer than this.
    pub statement_timeout: Option<Duration>,
    /// SQLite only: read through a memory map ([`SQLITE_MMAP_BYTES`]). For serving;
    /// a tool that writes a whole database (the seed) would only see its RSS swell
    /// with the file's pages.
    pub memory_map: bool,
    /// PostgreSQL only: prepared statements kept per connection (0: none, for
    /// PgBouncer in transaction mode).
    pub statement_cache: usize,
    /// PostgreSQL only: the URL is a pooler in transaction mode (PgBouncer), so a
    /// statement outside a transaction gets one of its own ([`Db`]).
    pub transaction_pooler: bool,
}

impl PoolOptions {
    /// A small pool for tools and background work, with the defaults of `serve`.
    pub fn small(max_connections: u32) -> Self {
        Self {
            max_connections,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: None,
            memory_map: false,
            statement_cache: DEFAULT_STATEMENT_CACHE,
            transaction_pooler: false,
        }
    }

    /// The same pool with the statement cache and pooler of the settings.
    pub fn behind(self, settings: &crate::config::Settings) -> Self {
        Self {
            statement_cache: settings.db_statement_cache,
            transaction_pooler: settings.db_transaction_pooler,
            ..self
        }
    }
}

/// sqlx's own default.
pub const DEFAULT_STATEMENT_CACHE: usize = 100;

/// A pooled connection idle for this long is pinged before it is handed out.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A statement whose SQL is the same on every call but for its bound values, built
/// once per backend. Building a SELECT with sea-query, every column quoted and
/// aliased one by one, costs tens of thousands of instructions: the session lookup
/// of every request was a twentieth of a customer by id, the customer's own select
/// three hundredths (callgrind).
pub struct Prebuilt {
    /// The statement with placeholder values; only its SQL is kept.
    build: fn(DbBackend) -> Statement,
    sql: PerBackend<String>,
}

/// What a prebuilt statement keeps for each backend, made on first use.
struct PerBackend<T> {
    postgres: OnceLock<T>,
    sqlite: OnceLock<T>,
}

impl<T> PerBackend<T> {
    const fn new() -> Self {
        Self {
            postgres: OnceLock::new(),
            sqlite: OnceLock::new(),
        }
    }

    fn get_or_init(&self, backend: DbBackend, make: impl FnOnce() -> T) -> &T {
        match backend {
            DbBackend::Postgres => &self.postgres,
            _ => &self.sqlite,
        }
        .get_or_init(make)
    }
}

impl Prebuilt {
    pub const fn new(build: fn(DbBackend) -> Statement) -> Self {
        Self {
            build,
            sql: PerBackend::new(),
        }
    }

    /// The statement on `backend` with `values` bound, in the order `build` bound its
    /// placeholders.
    pub fn bind(
        &self,
        backend: DbBackend,
        values: impl IntoIterator<Item = sea_orm::Value>,
    ) -> Statement {
        let sql = self
            .sql
            .get_or_init(backend, || (self.build)(backend).sql)
            .clone();
        Statement::from_sql_and_values(backend, sql, values)
    }
}

/// A statement whose SQL is the same on every call but for the number of keys in its
/// one `IN` list, its only bound values: a loader's batch. Built once per backend
/// with one key; each call writes the list's placeholders into that SQL instead of
/// building the statement again with sea-query (a twentieth of the instructions of a
/// customer by id went to building its addresses' and groups' batches; callgrind).
pub struct PrebuiltByKeys {
    /// The statement for these keys, as sea-query builds it.
    build: fn(DbBackend, &[Uuid]) -> Statement,
    template: PerBackend<Option<Template>>,
}

/// The SQL before and after the list of placeholders.
struct Template {
    before: String,
    after: String,
}

impl PrebuiltByKeys {
    pub const fn new(build: fn(DbBackend, &[Uuid]) -> Statement) -> Self {
        Self {
            build,
            template: PerBackend::new(),
        }
    }

    /// The statement on `backend` for `keys`. No keys: a list of one NULL, which
    /// matches no row (sea-query writes such a list as a condition that is false).
    pub fn bind(&self, backend: DbBackend, keys: &[Uuid]) -> Statement {
        let template = self.template.get_or_init(backend, || {
            Template::of(backend, (self.build)(backend, &[Uuid::nil()]))
        });
        // A statement the template cannot be cut from is built as before: slower,
        // never wrong.
        let Some(template) = template else {
            return (self.build)(backend, keys);
        };
        let values: Vec<sea_orm::Value> = if keys.is_empty() {
            vec![sea_orm::Value::Uuid(None)]
        } else {
            keys.iter().map(|&key| key.into()).collect()
        };
        let mut sql =
            String::with_capacity(template.before.len() + template.after.len() + 5 * values.len());
        sql.push_str(&template.before);
        for n in 1..=values.len() {
            if n > 1 {
                sql.push_str(", ");
            }
            match backend {
                DbBackend::Postgres => {
                    // Writing to a String cannot fail.
                    let _ = write!(sql, "${n}");
                }
                _ => sql.push('?'),
            }
        }
        sql.push_str(&template.after);
        Statement::from_sql_and_values(backend, sql, values)
    }
}

impl Template {
    /// `statement`, built for one key, cut around that key's placeholder: it must be
    /// its only bound value, in a list of one.
    fn of(backend: DbBackend, statement: Statement) -> Option<Self> {
        let one = match backend {
            DbBackend::Postgres => "IN ($1)",
            _ => "IN (?)",
        };
        let bound = statement.values.map_or(0, |values| values.0.len());
        let sql = statement.sql;
        let at = sql.find(one)?;
        // Cut inside the parentheses: "… IN (" and ") …".
        let (open, close) = (at + "IN (".len(), at + one.len() - ")".len());
        (bound == 1 && sql.matches(one).count() == 1).then(|| Self {
            before: sql[..open].to_owned(),
            after: sql[close..].to_owned(),
        })
    }
}

/// How much of a SQLite database each connection reads through a memory map instead
/// of `read()` into its own page cache (`PRAGMA mmap_size`): the pages are the
/// operating system's, shared by every connection, with no copy per read. A search
/// page of 100,000 customers spent a fifth of its CPU copying pages out of the
/// kernel without it.
pub const SQLITE_MMAP_BYTES: u64 = 256 * 1024 * 1024;

/// Opens a pool on `url`, creating the SQLite file if it does not exist.
pub async fn connect(url: &str, pool: PoolOptions) -> Result<(Db, StatementCounter), DbErr> {
    let db = Database::connect(options(url, pool)).await?;
    Ok(counted(db, pool))
}

/// A pool on `url` that connects only when a statement needs it: a server that is
/// down now (a standby) does not stop start-up.
pub async fn connect_lazy(url: &str, pool: PoolOptions) -> Result<(Db, StatementCounter), DbErr> {
    let mut options = options(url, pool);
    options.connect_lazy(true);
    Ok(counted(Database::connect(options).await?, pool))
}

/// The database as the whole server uses it: a pool of connections, and behind a
/// pooler in transaction mode (PgBouncer 1.18) a transaction around every statement
/// that runs outside one.
///
/// Why: sqlx runs a statement as a prepared statement in two exchanges, each ending
/// with a `Sync`. Outside a transaction each `Sync` ends a transaction as PgBouncer
/// counts them, and it may give the server to another client in between: the second
/// exchange then finds no statement, or another client's of the same name (every
/// connection counts `sqlx_s_1`, `sqlx_s_2`… from one). In a transaction both reach
/// the same server, and PgBouncer's `DEALLOCATE ALL` after it clears the names. The
/// transaction is committed before the statement's result is returned, as autocommit
/// would (a pool hook that commits on return would commit after the caller went on).
/// docs/scaling.md has the PgBouncer settings and the cost.
#[derive(Clone, Debug)]
pub struct Db {
    pool: DatabaseConnection,
    transaction_per_statement: bool,
    /// Behind the pooler, set in each transaction (`SET LOCAL`): PgBouncer refuses the
    /// start-up parameter that carries it otherwise.
    statement_timeout: Option<Duration>,
    /// A request's own connection ([`Db::for_request`]); `None` for the shared pool.
    held: Option<Arc<held::Held>>,
    /// Connections ended requests left for the next ones (`db/held.rs`).
    spares: Arc<held::Spares>,
    counter: StatementCounter,
}

impl Db {
    /// The pool itself, for what needs the driver's own API (COPY, pool figures).
    pub fn pool(&self) -> &DatabaseConnection {
        &self.pool
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.lender().ping().await
    }

    pub async fn close(self) -> Result<(), DbErr> {
        // The pool waits for every connection lent out, spares among them.
        self.spares.clear();
        self.pool.close().await
    }

    /// The pool, for a statement or transaction that takes a connection of its own,
    /// with a spare handed back first if it has none to lend.
    fn lender(&self) -> &DatabaseConnection {
        self.spares.make_room(&self.pool);
        &self.pool
    }

    /// The database as one request uses it: its statements outside transactions run
    /// on one connection, taken at the first and given back by [`Db::end_request`]
    /// (`db/held.rs` says why). A transaction still takes a connection of its own,
    /// and the request gives its held one back before it begins one: a mutation
    /// never holds an idle connection while it waits for its transaction's. Behind a
    /// transaction pooler every statement is a transaction already: nothing is held.
    pub fn for_request(&self) -> Db {
        let held = match self.transaction_per_statement {
            true => None,
            false => Some(Arc::default()),
        };
        Db {
            held,
            ..self.clone()
        }
    }

    /// The request is over: its connection goes to the next request (or back to the
    /// pool), and a statement still coming (a batch finishing after the deadline)
    /// takes one from the pool.
    pub async fn end_request(&self) {
        if let Some(held) = &self.held {
            held.give_back(true, &self.pool, &self.spares).await;
        }
    }

    /// The request's connection, for one statement; `None` when this is not a
    /// request's database, or the request has ended.
    async fn held(&self) -> Option<Result<MappedMutexGuard<'_, held::Connection>, DbErr>> {
        let connection = self
            .held
            .as_ref()?
            .connection(&self.pool, &self.spares)
            .await;
        if let Some(Ok(_)) = connection {
            // The pool's statements are counted by sea-orm's metric callback.
            self.counter.0.fetch_add(1, Ordering::Relaxed);
        }
        connection
    }

    /// Before a transaction takes its own connection.
    async fn give_back_held(&self) {
        if let Some(held) = &self.held {
            held.give_back(false, &self.pool, &self.spares).await;
        }
    }

    /// The statement in a transaction of its own (behind a transaction pooler).
    async fn alone(&self) -> Result<Option<DatabaseTransaction>, DbErr> {
        match self.transaction_per_statement {
            true => Ok(Some(self.begun(TransactionOptions::default()).await?)),
            false => Ok(None),
        }
    }

    /// Begins a transaction in a task of its own, which runs to its end even when the
    /// caller is dropped (the client left, the deadline passed).
    ///
    /// Why: sqlx 0.9.0 sends `BEGIN` and counts the transaction only once PostgreSQL
    /// has answered (upstream sqlx#4393, fixed after 0.9.0 by #4394). A caller
    /// dropped in between leaves sqlx nothing to roll back, and the connection goes
    /// back to the pool inside a transaction nobody will end: every later statement
    /// on it joins that transaction, autocommit writes never commit, and their row
    /// locks stay. The benchmark's write mix found it (wrk drops its requests in
    /// flight at the end of each run): throttle updates queued behind such a
    /// connection's lock until the statement timeout. Here a begin the caller gave up
    /// on completes, and the transaction it made is dropped, so rolled back.
    async fn begun(&self, options: TransactionOptions) -> Result<DatabaseTransaction, DbErr> {
        self.give_back_held().await;
        let pool = self.lender().clone();
        let begin = tokio::spawn(async move { pool.begin_with_options(options).await });
        let txn = begin
            .await
            .map_err(|failed| DbErr::Custom(format!("beginning a transaction: {failed}")))??;
        self.timed(txn).await
    }

    /// A transaction just begun, with the statement timeout behind the pooler.
    async fn timed(&self, txn: DatabaseTransaction) -> Result<DatabaseTransaction, DbErr> {
        if let (true, Some(timeout)) = (self.transaction_per_statement, self.statement_timeout) {
            let set = format!("SET LOCAL statement_timeout = {}", timeout.as_millis());
            txn.execute_unprepared(&set).await?;
        }
        Ok(txn)
    }
}

/// The statement's result once its own transaction has committed.
async fn committed<T>(txn: DatabaseTransaction, result: Result<T, DbErr>) -> Result<T, DbErr> {
    let value = result?;
    txn.commit().await?;
    Ok(value)
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        if let Some(connection) = self.held().await {
            return held::execute(&mut *connection?, &stmt).await;
        }
        match self.alone().await? {
            None => self.lender().execute_raw(stmt).await,
            Some(txn) => {
                let result = txn.execute_raw(stmt).await;
                committed(txn, result).await
            }
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self.alone().await? {
            None => self.lender().execute_unprepared(sql).await,
            Some(txn) => {
                let result = txn.execute_unprepared(sql).await;
                committed(txn, result).await
            }
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if let Some(connection) = self.held().await {
            let rows = held::rows(&mut *connection?, &stmt, true).await?;
            return Ok(rows.into_iter().next());
        }
        match self.alone().await? {
            None => self.lender().query_one_raw(stmt).await,
            Some(txn) => {
                let result = txn.query_one_raw(stmt).await;
                committed(txn, result).await
            }
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if let Some(connection) = self.held().await {
            return held::rows(&mut *connection?, &stmt, false).await;
        }
        match self.alone().await? {
            None => self.lender().query_all_raw(stmt).await,
            Some(txn) => {
                let result = txn.query_all_raw(stmt).await;
                committed(txn, result).await
            }
        }
    }

    fn support_returning(&self) -> bool {
        self.pool.support_returning()
    }
}

#[async_trait::async_trait]
impl TransactionTrait for Db {
    type Transaction = DatabaseTransaction;

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.begun(TransactionOptions::default()).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.begun(TransactionOptions {
            isolation_level,
            access_mode,
            ..TransactionOptions::default()
        })
        .await
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.begun(options).await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.transaction_with_config(callback, None, None).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        // As sea-orm's own, but begun by `begun`.
        let txn = self
            .begin_with_config(isolation_level, access_mode)
            .await
            .map_err(TransactionError::Connection)?;
        match callback(&txn).await {
            Ok(value) => {
                txn.commit().await.map_err(TransactionError::Connection)?;
                Ok(value)
            }
            Err(error) => {
                txn.rollback().await.map_err(TransactionError::Connection)?;
                Err(TransactionError::Transaction(error))
            }
        }
    }
}

fn options(url: &str, pool: PoolOptions) -> ConnectOptions {
    let mut options = ConnectOptions::new(sqlite_create_if_missing(url));
    options
        .max_connections(pool.max_connections)
        .min_connections(0)
        .acquire_timeout(pool.acquire_timeout)
        // sqlx pings a connection (a `Sync` and its answer) every time the pool hands
        // it out, by default: a round trip more per statement, in the request's path.
        // A connection used within the last second is alive; one idle for longer
        // (a quiet pool, a database restarted meanwhile) is still tested first.
        .test_before_acquire_if_idle_for(PING_AFTER_IDLE)
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(move |options| {
            let options = options.statement_cache_capacity(pool.statement_cache);
            match (pool.transaction_pooler, pool.statement_timeout) {
                // PgBouncer refuses start-up parameters it does not know; behind it
                // the timeout is set in each transaction ([`Db`]).
                (true, _) => options.extra_float_digits(None),
                (false, Some(timeout)) => {
                    options.options([("statement_timeout", format!("{}ms", timeout.as_millis()))])
                }
                (false, None) => options,
            }
        })
        // SQLite only: write-ahead logging lets readers run while one connection
        // writes (the default rollback journal blocks them), and NORMAL sync is safe
        // in WAL mode. The 5 s busy timeout queues writers instead of failing them.
        .map_sqlx_sqlite_opts(move |options| {
            let mmap = if pool.memory_map {
                SQLITE_MMAP_BYTES
            } else {
                0
            };
            options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .pragma("mmap_size", mmap.to_string())
        });
    options
}

fn counted(mut db: DatabaseConnection, pool: PoolOptions) -> (Db, StatementCounter) {
    let counter = StatementCounter::default();
    let handle = counter.0.clone();
    db.set_metric_callback(move |_| {
        handle.fetch_add(1, Ordering::Relaxed);
    });
    let transaction_per_statement =
        pool.transaction_pooler && db.get_database_backend() == DbBackend::Postgres;
    let spares = Arc::<held::Spares>::default();
    if !transaction_per_statement {
        held::Spares::sweep_every(Arc::downgrade(&spares), PING_AFTER_IDLE);
    }
    let db = Db {
        pool: db,
        transaction_per_statement,
        statement_timeout: pool.statement_timeout,
        held: None,
        spares,
        counter: counter.clone(),
    };
    (db, counter)
}

/// The request pool's connections, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    pub max: u32,
    pub open: u32,
    /// Spares included.
    pub idle: usize,
    /// Kept for the next request instead of given back (`db/held.rs`).
    pub spare: usize,
}

pub fn pool_state(db: &Db) -> PoolState {
    // Spares are lent out as the pool counts, but as idle as its own.
    let spares = db.spares.len();
    let db = db.pool();
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            PoolState {
                max: pool.options().get_max_connections(),
                open: pool.size(),
                idle: pool.num_idle() + spares,
                spare: spares,
            }
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            PoolState {
                max: pool.options().get_max_connections(),
                open: pool.size(),
                idle: pool.num_idle() + spares,
                spare: spares,
            }
        }
    }
}

/// Starts a transaction that will write. On SQLite it takes the write lock at BEGIN
/// (`BEGIN IMMEDIATE`), so the busy timeout queues it behind other writers; a
/// deferred transaction that reads first would instead fail at once when it tries to
/// write after another connection committed. PostgreSQL ignores the option.
pub async fn begin_write(db: &Db) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Brings the schema up to date. Safe to run on every start. Behind a transaction
/// pooler all of it runs in one transaction (PostgreSQL's DDL is transactional), so
/// the migrator's own statements keep to one server ([`Db`]).
pub async fn migrate(db: &Db) -> Result<(), DbErr> {
    if !db.transaction_per_statement {
        return Migrator::up(db.pool(), None).await;
    }
    let txn = db.begin().await?;
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// Writes an online, consistent copy of a SQLite database to `to` (`VACUUM INTO`:
/// one read transaction, so writers carry on and the copy is a single point in
/// time, compacted). PostgreSQL has its own tools (`pg_dump`, `pg_basebackup`), and
/// asking for a backup of it here is an error that says so.
pub async fn backup(db: &Db, to: &std::path::Path) -> Result<(), BackupError> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Err(BackupError::NotSqlite);
    }
    if to.exists() {
        return Err(BackupError::Exists(to.to_owned()));
    }
    let target = to.to_str().ok_or(BackupError::NotUtf8)?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "VACUUM INTO ?",
        [target.into()],
    ))
    .await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("`backup` copies a SQLite database; back up PostgreSQL with pg_dump or pg_basebackup")]
    NotSqlite,
    #[error("{0} exists already; choose a new file")]
    Exists(std::path::PathBuf),
    #[error("the backup path must be valid UTF-8")]
    NotUtf8,
    #[error("the backup failed: {0}")]
    Database(#[from] DbErr),
}

/// `sqlite://clientele.db` should just work: sqlx only creates the file with `mode=rwc`.
fn sqlite_create_if_missing(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains("mode=") && !url.contains(":memory:") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}mode=rwc")
    } else {
        url.to_owned()
    }
}

/// The current time as stored: UTC, truncated to whole seconds.
///
/// SQLite keeps timestamps as RFC 3339 text whose fraction has 0, 3, 6 or 9 digits
/// depending on the value, and text with different fraction lengths does not sort in
/// time order. Whole seconds make every stored timestamp the same width, so ordering
/// and range filters agree on both backends. Ties are broken by the time-ordered id.
pub fn now() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(TimeDelta::seconds(1))
        .unwrap_or_else(|_| Utc::now())
}

/// Unique rules the domain turns into typed errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueKey {
    AdminEmail,
    CustomerLiveEmail,
    CustomerLiveExternalId,
    GroupLiveName,
}

/// Which unique rule a failed write broke, on either backend. PostgreSQL names the
/// index or constraint in its message; SQLite names the table's columns instead.
fn unique_violation(error: &DbErr) -> Option<UniqueKey> {
    const KEYS: [(UniqueKey, &str, &str); 4] = [
        (
            UniqueKey::AdminEmail,
            "admin_user_email_key",
            "admin_user.email",
        ),
        (
            UniqueKey::CustomerLiveEmail,
            "uq_customer_live_email",
            "customer.email, customer.has_account",
        ),
        (
            UniqueKey::CustomerLiveExternalId,
            "uq_customer_live_external_id",
            "customer.external_id",
        ),
        (
            UniqueKey::GroupLiveName,
            "uq_customer_group_live_name",
            "customer_group.name",
        ),
    ];
    let sea_orm::SqlErr::UniqueConstraintViolation(message) = error.sql_err()? else {
        return None;
    };
    KEYS.iter()
        .find(|(_, postgres, sqlite)| message.contains(postgres) || message.contains(sqlite))
        .map(|(key, _, _)| *key)
}

impl UniqueKey {
    /// Whether `error` is this rule refusing a write.
    pub fn refused(self, error: &DbErr) -> bool {
        unique_violation(error) == Some(self)
    }
}

/// The one way a write maps its unique rule to a domain error:
/// `insert(..).await.on_unique(UniqueKey::GroupLiveName, DomainError::NameTaken)?`.
/// Any other database error follows the error policy in `error.rs`.
pub trait OnUnique<T> {
    fn on_unique(self, key: UniqueKey, error: DomainError) -> DomainResult<T>;
}

impl<T> OnUnique<T> for Result<T, DbErr> {
    fn on_unique(self, key: UniqueKey, error: DomainError) -> DomainResult<T> {
        self.map_err(|db| if key.refused(&db) { error } else { db.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prebuilt_statement_is_the_built_one_with_the_values_given() {
        fn by_email(backend: DbBackend) -> Statement {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryTrait};
            entity::customer::Entity::find()
                .filter(entity::customer::Column::Email.eq(""))
                .build(backend)
        }
        static BY_EMAIL: Prebuilt = Prebuilt::new(by_email);
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let bound = BY_EMAIL.bind(backend, ["ada@example.com".into()]);
            assert_eq!(bound.sql, by_email(backend).sql);
            assert_eq!(
                bound.values.map(|values| values.0),
                Some(vec!["ada@example.com".into()])
            );
        }
    }

    #[test]
    fn a_statement_prebuilt_by_keys_is_the_built_one_for_those_keys() {
        // A join, a key list and a condition and an order after it: the SQL on both
        // sides of the list must survive the cut.
        fn sessions(backend: DbBackend, ids: &[Uuid]) -> Statement {
            use entity::{customer, session};
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QueryTrait};
            session::Entity::find()
                .find_also_related(customer::Entity)
                .filter(session::Column::CustomerId.is_in(ids.iter().copied()))
                .filter(customer::Column::DeletedAt.is_null())
                .order_by_desc(session::Column::CreatedAt)
                .build(backend)
        }
        static SESSIONS: PrebuiltByKeys = PrebuiltByKeys::new(sessions);
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            assert!(Template::of(backend, sessions(backend, &ids[..1])).is_some());
            for keys in [&ids[..1], &ids[..]] {
                let bound = SESSIONS.bind(backend, keys);
                let built = sessions(backend, keys);
                assert_eq!(bound.sql, built.sql);
                assert_eq!(bound.values, built.values);
            }
            // No keys: no row, and SQL that parses (a list of one NULL).
            let none = SESSIONS.bind(backend, &[]);
            assert_eq!(
                none.values.map(|v| v.0),
                Some(vec![sea_orm::Value::Uuid(None)])
            );
        }
        // Two key lists, or a value besides the keys: no template (built each time).
        let two = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 WHERE a IN ($1) AND b = $2",
            [Uuid::nil().into(), 1.into()],
        );
        assert!(Template::of(DbBackend::Postgres, two).is_none());
    }

    /// The benchmark measures what this buys (docs/performance.md); the outage test
    /// (tests/tests/faults.rs) that a pool outliving its database still recovers.
    #[test]
    fn a_pooled_connection_is_pinged_only_after_it_was_idle() {
        let options = options("postgres://127.0.0.1/test", PoolOptions::small(4));
        assert!(!options.get_test_before_acquire());
        assert_eq!(
            options.get_test_before_acquire_if_idle_for(),
            Some(PING_AFTER_IDLE)
        );
    }
}
