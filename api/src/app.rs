//! The application: shared state, start-up, and the background work of `serve`.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use futures_util::future::OptionFuture;
use sea_orm::{ConnectionTrait, DbBackend};
use tokio::sync::{Semaphore, watch};

use crate::auth::passwords::Passwords;
use crate::auth::sessions::{Lifetime, SessionPolicy};
use crate::broker::Broker;
use crate::config::Settings;
use crate::db::{self, Db, PoolOptions, StatementCounter};
use crate::delivery::{Endpoints, Sink, Worker};
use crate::domain;
use crate::domain::accounts::{AccountPolicy, TokenLifetimes};
use crate::domain::counts::CountLimit;
use crate::domain::housekeeping::Retention;
use crate::domain::throttles::{Limit, Limits, Scope};
use crate::error::DomainResult;
use crate::graphql::context::Primary;
use crate::graphql::limits::DocumentLimits;
use crate::graphql::{self, ClienteleSchema, EngineLimits};
use crate::live::LiveFeed;
use crate::metrics::RequestMetrics;
use crate::standbys::Standbys;

pub type StartupError = Box<dyn std::error::Error + Send + Sync>;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct App {
    db: Db,
    engine: graphql::Engine,
    statements: StatementCounter,
    background: BackgroundSetup,
    limits: Arc<DocumentLimits>,
    edge: Arc<Edge>,
    /// Committed events, for this instance's subscriptions.
    live: LiveFeed,
    /// Hot standbys for query operations (none by default).
    standbys: Arc<Standbys>,
}

/// The HTTP edge's limits and switches.
#[derive(Debug)]
pub struct Edge {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub header_read_timeout: Duration,
    /// One permit per GraphQL request in progress.
    pub in_flight: Arc<Semaphore>,
    /// One permit per open subscription WebSocket (as many as requests in progress).
    pub sockets: Arc<Semaphore>,
    pub max_concurrent_requests: usize,
    /// Counts and latencies of GraphQL requests (for `/metrics`).
    pub requests: RequestMetrics,
    /// Whether `/metrics` is served on a listener of its own, not the public one.
    pub metrics_apart: bool,
    /// Origins allowed to call from a browser.
    pub cors: CorsOrigins,
    pub graphiql: bool,
    /// Where a trusted proxy puts the client's address; `None`: the peer address.
    pub trusted_proxy_header: Option<axum::http::HeaderName>,
    /// For resolving session tokens.
    pub sessions: SessionPolicy,
    /// Where `totalCount` stops counting (the loaders need it too).
    pub count_limit: CountLimit,
}

/// Which browser origins may call the API (`--cors-allowed-origins`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No CORS headers: browsers on other origins are refused by the browser itself.
    None,
    /// `*`: any origin.
    Any,
    /// These exact origins (`scheme://host[:port]`, no path).
    List(Vec<axum::http::HeaderValue>),
}

impl CorsOrigins {
    fn from_settings(origins: &[String]) -> Result<Self, StartupError> {
        let origins: Vec<&str> = origins
            .iter()
            .map(|origin| origin.trim())
            .filter(|origin| !origin.is_empty())
            .collect();
        if origins.is_empty() {
            return Ok(Self::None);
        }
        if origins == ["*"] {
            return Ok(Self::Any);
        }
        let mut list = Vec::new();
        for origin in origins {
            // An origin is a scheme and an authority: a trailing slash or a path never
            // matches what a browser sends in `Origin`, so it is refused here.
            let (scheme, authority) = origin.split_once("://").unwrap_or(("", ""));
            let well_formed = matches!(scheme, "http" | "https")
                && !authority.is_empty()
                && !authority.contains(['/', '?', '#', '*', ' ']);
            if !well_formed {
                return Err(format!(
                    "--cors-allowed-origins: {origin:?} is not an origin such as \
                     https://shop.example.com (or a lone `*` for any)"
                )
                .into());
            }
            list.push(axum::http::HeaderValue::from_str(origin)?);
        }
        Ok(Self::List(list))
    }
}

/// The account rules from the settings: lifetimes, throttles, the password minimum.
fn account_policy(settings: &Settings) -> Result<AccountPolicy, StartupError> {
    // ASVS V2.2.1: at most 100 failed attempts per account per hour. A window of W
    // minutes admits its limit 60 / W times an hour, plus once more across an edge.
    let windows_per_hour = 60_u32.div_ceil(settings.login_lock_minutes) + 1;
    if settings.login_attempts_per_account * windows_per_hour > 100 {
        return Err(format!(
            "--login-attempts-per-account {} with --login-lock-minutes {} would allow more \
             than 100 failed logins per account per hour",
            settings.login_attempts_per_account, settings.login_lock_minutes
        )
        .into());
    }
    let minutes = |m: u32| TimeDelta::minutes(i64::from(m));
    let login_window = minutes(settings.login_lock_minutes);
    let hourly = |scope, max| Limit {
        scope,
        max,
        window: TimeDelta::hours(1),
        free_attempts: None,
    };
    let account_login = |scope| Limit {
        scope,
        max: settings.login_attempts_per_account,
        window: login_window,
        free_attempts: Some(LOGIN_ATTEMPTS_WITHOUT_DELAY),
    };
    let mails = settings.mails_per_recipient;
    Ok(AccountPolicy {
        tokens: TokenLifetimes {
            password_reset: minutes(settings.password_reset_ttl_minutes),
            email_change: minutes(settings.email_change_ttl_minutes),
            order_claim: minutes(settings.order_claim_ttl_minutes),
            email_verification: minutes(settings.email_verification_ttl_minutes),
            account_deletion: minutes(settings.account_deletion_ttl_minutes),
        },
        sessions: SessionPolicy {
            customer: Lifetime {
                absolute: minutes(settings.customer_session_ttl_minutes),
                idle: minutes(settings.customer_session_idle_minutes),
            },
            admin: Lifetime {
                absolute: minutes(settings.admin_session_ttl_minutes),
                idle: minutes(settings.admin_session_idle_minutes),
            },
        },
        limits: Limits {
            customer_login: account_login(Scope::CustomerLogin),
            admin_login: account_login(Scope::AdminLogin),
            login_from_address: Limit {
                scope: Scope::LoginFromAddress,
                max: settings.login_failures_per_address,
                window: login_window,
                free_attempts: None,
            },
            registration_from_address: hourly(
                Scope::RegistrationFromAddress,
                settings.registrations_per_address,
            ),
            guest_order_from_address: hourly(
                Scope::GuestOrderFromAddress,
                settings.guest_orders_per_address,
            ),
            password_reset_mail: hourly(Scope::PasswordResetMail, mails),
            email_change_mail: hourly(Scope::EmailChangeMail, mails),
            order_claim_mail: hourly(Scope::OrderClaimMail, mails),
            verification_mail: hourly(Scope::VerificationMail, mails),
            account_deletion_mail: hourly(Scope::AccountDeletionMail, mails),
        },
        min_password_chars: settings.min_password_chars as usize,
        require_email_verification: settings.require_email_verification,
    })
}

/// Settings of the pooler that cannot work together (docs/scaling.md), refused before
/// anything connects.
fn check_scaling_settings(settings: &Settings) -> Result<(), StartupError> {
    if !settings.db_transaction_pooler {
        return Ok(());
    }
    if settings.db_statement_cache != 0 {
        return Err(
            "--db-transaction-pooler needs --db-statement-cache 0: a statement \
             prepared in one transaction is gone in the next"
                .into(),
        );
    }
    if settings.db_direct_url.is_none() {
        return Err(
            "--db-transaction-pooler needs --db-direct-url: LISTEN, which \
             subscriptions need, cannot go through a transaction pooler"
                .into(),
        );
    }
    Ok(())
}

/// Login attempts per account and window that need no waiting; the ones after
/// wait 1, 2, 4... seconds each.
const LOGIN_ATTEMPTS_WITHOUT_DELAY: u32 = 3;

/// What the background work of `serve` needs. It gets a pool of its own there (the
/// other sub-commands never open it), so delivery never waits for request traffic
/// (nor the other way round), and its polling stays out of the request statement
/// counter.
#[derive(Clone)]
struct BackgroundSetup {
    database_url: String,
    pool: PoolOptions,
    /// Where the live feed listens: PostgreSQL itself, past any pooler.
    listen_url: String,
    sink: Sink,
    poll_interval: Duration,
    /// Whether this instance delivers at all (several may share the work).
    worker: bool,
    retention: Retention,
    /// Merchant systems' webhook endpoints, for events.
    endpoints: Endpoints,
    /// The message broker events are published to, when one is configured.
    broker: Option<Broker>,
}

impl App {
    /// Connects, migrates and builds the schema.
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        let pool = PoolOptions {
            max_connections: settings.db_max_connections,
            acquire_timeout: Duration::from_millis(settings.db_acquire_timeout_ms),
            statement_timeout: Some(Duration::from_millis(settings.statement_timeout_ms)),
            memory_map: true,
            statement_cache: settings.db_statement_cache,
            transaction_pooler: settings.db_transaction_pooler,
        };
        check_scaling_settings(settings)?;
        let (db, statements) = db::connect(&settings.database_url, pool).await?;
        db::migrate(&db).await?;
        if !settings.standby_urls.is_empty() && db.get_database_backend() != DbBackend::Postgres {
            return Err("--standby-urls: standbys need a PostgreSQL primary".into());
        }
        let standbys = Standbys::open(
            &settings.standby_urls,
            pool,
            Duration::from_millis(settings.standby_max_lag_ms),
            Duration::from_millis(settings.standby_read_wait_ms),
            Duration::from_millis(settings.standby_check_interval_ms),
        )
        .await?;
        let policy = account_policy(settings)?;
        let live = LiveFeed::new();
        // One set of data for both schemas: the bound on concurrent hashing is shared.
        let passwords = passwords();
        let engine = graphql::Engine::new(|| {
            graphql::schema_builder(EngineLimits {
                max_complexity: settings.max_query_complexity,
                max_directives: settings.max_directives,
                introspection: settings.introspection,
            })
            .data(db.clone())
            .data(Primary(db.clone()))
            .data(passwords.clone())
            .data(policy)
            .data(CountLimit(settings.count_limit))
            .data(live.clone())
        });
        let limits = DocumentLimits::new(
            &engine.schema().sdl(),
            settings.max_document_chars,
            settings.max_query_depth,
            settings.max_aliases,
            settings.max_root_fields,
            settings.max_directives,
            settings.max_selections,
            settings.introspection,
        );
        let edge = Edge {
            max_body_bytes: usize::try_from(settings.max_body_bytes).unwrap_or(usize::MAX),
            request_timeout: Duration::from_millis(settings.request_timeout_ms),
            header_read_timeout: Duration::from_millis(settings.header_read_timeout_ms),
            in_flight: Arc::new(Semaphore::new(settings.max_concurrent_requests as usize)),
            sockets: Arc::new(Semaphore::new(settings.max_concurrent_requests as usize)),
            max_concurrent_requests: settings.max_concurrent_requests as usize,
            requests: RequestMetrics::default(),
            metrics_apart: settings.metrics_bind.is_some(),
            cors: CorsOrigins::from_settings(&settings.cors_allowed_origins)?,
            graphiql: settings.graphiql,
            trusted_proxy_header: settings
                .trusted_proxy_header
                .as_deref()
                .map(|name| {
                    axum::http::HeaderName::try_from(name).map_err(|_| {
                        format!("--trusted-proxy-header: {name:?} is not a header name")
                    })
                })
                .transpose()?,
            sessions: policy.sessions,
            count_limit: CountLimit(settings.count_limit),
        };
        let broker = match &settings.nats_url {
            Some(url) => Some(
                Broker::connect(url, &settings.nats_stream, settings.nats_create_stream).await?,
            ),
            None => None,
        };
        let sink = match &settings.outbox_webhook_url {
            Some(url) => Sink::webhook(url.clone())?,
            None => Sink::Log,
        };
        Ok(Self {
            db,
            engine,
            statements,
            background: BackgroundSetup {
                database_url: settings.database_url.clone(),
                pool: PoolOptions::small(2).behind(settings),
                listen_url: settings
                    .db_direct_url
                    .clone()
                    .unwrap_or_else(|| settings.database_url.clone()),
                sink,
                poll_interval: Duration::from_millis(settings.outbox_poll_interval_ms),
                worker: settings.outbox_worker,
                retention: Retention {
                    guest_months: settings.guest_retention_months,
                },
                endpoints: Endpoints::parse(settings.webhook_endpoints.as_deref())?,
                broker,
            },
            limits: Arc::new(limits),
            edge: Arc::new(edge),
            live,
            standbys: Arc::new(standbys),
        })
    }

    pub fn schema(&self) -> &ClienteleSchema {
        self.engine.schema()
    }

    pub fn engine(&self) -> &graphql::Engine {
        &self.engine
    }

    pub fn limits(&self) -> &DocumentLimits {
        &self.limits
    }

    pub fn live(&self) -> &LiveFeed {
        &self.live
    }

    pub fn edge(&self) -> &Edge {
        &self.edge
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn standbys(&self) -> &Standbys {
        &self.standbys
    }

    /// SQL statements executed so far on this app's connection pool.
    pub fn statements(&self) -> StatementCounter {
        self.statements.clone()
    }

    /// One housekeeping sweep with this app's retention rule, on this app's pool: what
    /// the background task does each hour. Tests call it instead of waiting.
    pub async fn housekeep(&self) -> DomainResult<domain::housekeeping::Swept> {
        domain::housekeeping::sweep(&self.db, self.background.retention).await
    }

    /// Delivers the outbox messages that are due, once, on this app's pool: what the
    /// background worker does each round. Tests call it instead of waiting.
    pub async fn deliver_due(&self) -> crate::error::DomainResult<usize> {
        Worker::new(
            self.db.clone(),
            self.background.sink.clone(),
            self.background.endpoints.clone(),
            self.background.broker.clone(),
            self.background.poll_interval,
        )
        .deliver_due()
        .await
    }

    /// Starts the background work of `serve`: housekeeping, and the outbox worker
    /// unless this instance leaves delivery to others. It gets a pool of its own.
    pub async fn start_background(&self) -> std::io::Result<Background> {
        let setup = self.background.clone();
        let (background_db, _) = db::connect(&setup.database_url, setup.pool)
            .await
            .map_err(std::io::Error::other)?;
        let (stop, stopped) = watch::channel(false);
        let checks = tokio::spawn(
            self.standbys
                .clone()
                .watch(background_db.clone(), stopped.clone()),
        );
        let sweeper = tokio::spawn(sweep_hourly(
            background_db.clone(),
            setup.retention,
            stopped.clone(),
        ));
        // The live feed reads on a connection of the background pool (PostgreSQL's
        // LISTEN takes one of its own).
        let feed = tokio::spawn(
            self.live
                .clone()
                .run(background_db.clone(), setup.listen_url.clone()),
        );
        let worker = setup.worker.then(|| {
            let worker = Worker::new(
                background_db,
                setup.sink,
                setup.endpoints,
                setup.broker,
                setup.poll_interval,
            );
            tokio::spawn(worker.run(stopped))
        });
        Ok(Background {
            stop,
            checks,
            sweeper,
            worker,
            live: self.live.clone(),
            feed,
        })
    }
}

/// The running background tasks of one instance.
pub struct Background {
    stop: watch::Sender<bool>,
    checks: tokio::task::JoinHandle<()>,
    sweeper: tokio::task::JoinHandle<()>,
    worker: Option<tokio::task::JoinHandle<()>>,
    live: LiveFeed,
    feed: tokio::task::JoinHandle<()>,
}

impl Background {
    /// Asks the tasks to stop and waits until they have: a message being sent is
    /// finished first.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        // Open subscriptions complete, and the feed stops reading.
        self.live.stop();
        if let Err(error) = self.feed.await {
            tracing::error!(%error, "live feed failed");
        }
        if let Some(Err(error)) = OptionFuture::from(self.worker).await {
            tracing::error!(%error, "outbox worker failed");
        }
        if let Err(error) = self.sweeper.await {
            tracing::error!(%error, "housekeeping failed");
        }
        if let Err(error) = self.checks.await {
            tracing::error!(%error, "standby checks failed");
        }
    }
}

/// Removes expired sessions and tokens, and applies the retention rule, at start and
/// then every hour, until `stop`.
async fn sweep_hourly(db: Db, retention: Retention, mut stop: watch::Receiver<bool>) {
    loop {
        match domain::housekeeping::sweep(&db, retention).await {
            Ok(swept) if retention.guest_months.is_some() => tracing::info!(
                guests_erased = swept.guests_erased,
                ?swept,
                "housekeeping (guest retention applied)"
            ),
            Ok(swept) => tracing::debug!(?swept, "housekeeping"),
            Err(error) => tracing::warn!(%error, "housekeeping failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

/// Hashing runs on the blocking pool, at most one per core at a time.
pub fn passwords() -> Passwords {
    Passwords::new(std::thread::available_parallelism().map_or(2, usize::from))
}
