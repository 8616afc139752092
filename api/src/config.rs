//! Configuration: one struct, from command-line flags or environment variables,
//! every field with a default. `clientele --help` prints this file's doc comments.

use std::net::SocketAddr;

use clap::{Parser, Subcommand, ValueEnum};

/// Clientele: the GraphQL API that owns an online store's customers.
#[derive(Debug, Clone, Parser)]
#[command(name = "clientele", version, about)]
pub struct Config {
    #[command(flatten)]
    pub settings: Settings,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Settings shared by every sub-command.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "CLIENTELE_BIND",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub bind: SocketAddr,

    /// Database URL: `sqlite://path.db` or `postgres://user@host/db`. The SQLite file is
    /// created if missing.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://clientele.db",
        global = true
    )]
    pub database_url: String,

    /// Largest number of pooled database connections. A request's statements take
    /// turns on one connection and a transaction takes its own, so this about bounds
    /// the requests running SQL at once; background work (the outbox, events) has a
    /// pool of its own.
    #[arg(
        long,
        env = "CLIENTELE_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub db_max_connections: u32,

    /// Log line format.
    #[arg(long, env = "CLIENTELE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Log filter, in `tracing` env-filter syntax (e.g. `info,sqlx=warn`).
    #[arg(
        long,
        env = "CLIENTELE_LOG",
        default_value = "info,sqlx=warn,sea_orm=warn",
        global = true
    )]
    pub log_filter: String,

    /// Absolute lifetime of a customer session, in minutes, however active it is
    /// (7 days: a storefront keeps its shoppers logged in between visits).
    #[arg(long, env = "CLIENTELE_CUSTOMER_SESSION_TTL_MINUTES", default_value_t = 7 * 24 * 60, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub customer_session_ttl_minutes: u32,

    /// A customer session unused for this many minutes ends (1 day).
    #[arg(long, env = "CLIENTELE_CUSTOMER_SESSION_IDLE_MINUTES", default_value_t = 24 * 60, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub customer_session_idle_minutes: u32,

    /// Absolute lifetime of an admin session, in minutes (12 hours: one working day).
    #[arg(long, env = "CLIENTELE_ADMIN_SESSION_TTL_MINUTES", default_value_t = 12 * 60, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub admin_session_ttl_minutes: u32,

    /// An admin session unused for this many minutes ends (30 minutes).
    #[arg(long, env = "CLIENTELE_ADMIN_SESSION_IDLE_MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub admin_session_idle_minutes: u32,

    /// Shortest password a customer may set, in characters (at most 128).
    #[arg(long, env = "CLIENTELE_MIN_PASSWORD_CHARS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=128), global = true)]
    pub min_password_chars: u32,

    /// Login attempts per account (customer or admin email, whether or not it has an
    /// account) per lock window. After 3 the next ones wait 1, 2, 4... seconds;
    /// at the limit the email is locked until the window ends. A successful login
    /// clears the count.
    #[arg(long, env = "CLIENTELE_LOGIN_ATTEMPTS_PER_ACCOUNT", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100), global = true)]
    pub login_attempts_per_account: u32,

    /// The lock window of failed logins, in minutes.
    #[arg(long, env = "CLIENTELE_LOGIN_LOCK_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=60), global = true)]
    pub login_lock_minutes: u32,

    /// Failed logins per client address per lock window (an office or a mobile
    /// carrier puts many people behind one address, so this is higher).
    #[arg(long, env = "CLIENTELE_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub login_failures_per_address: u32,

    /// Registrations per client address per hour.
    #[arg(long, env = "CLIENTELE_REGISTRATIONS_PER_ADDRESS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub registrations_per_address: u32,

    /// Guest orders per client address per hour.
    #[arg(long, env = "CLIENTELE_GUEST_ORDERS_PER_ADDRESS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub guest_orders_per_address: u32,

    /// Mails of each kind (password reset, email-change confirmation, order claim)
    /// per recipient address per hour. Past it the mutation answers as usual and
    /// sends nothing, so the caller learns nothing.
    #[arg(long, env = "CLIENTELE_MAILS_PER_RECIPIENT", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub mails_per_recipient: u32,

    /// The header a trusted reverse proxy puts the client's address in (e.g.
    /// `X-Forwarded-For`; its last entry is used, the one the proxy added). Unset,
    /// the socket's peer address counts. Set it only behind a proxy that overwrites
    /// or appends to it, or clients choose their own address.
    #[arg(long, env = "CLIENTELE_TRUSTED_PROXY_HEADER", global = true)]
    pub trusted_proxy_header: Option<String>,

    /// How long a password-reset token stays valid, in minutes.
    #[arg(long, env = "CLIENTELE_PASSWORD_RESET_TTL_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub password_reset_ttl_minutes: u32,

    /// How long an email-change confirmation token stays valid, in minutes.
    #[arg(long, env = "CLIENTELE_EMAIL_CHANGE_TTL_MINUTES", default_value_t = 1440, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub email_change_ttl_minutes: u32,

    /// Customers must verify their email (the link mailed at registration, or a new
    /// one from `resendVerification`) before they can log in again or claim orders.
    /// Off: `emailVerifiedAt` is still recorded, nothing is refused.
    #[arg(long, env = "CLIENTELE_REQUIRE_EMAIL_VERIFICATION", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub require_email_verification: bool,

    /// How long an email-verification token stays valid, in minutes.
    #[arg(long, env = "CLIENTELE_EMAIL_VERIFICATION_TTL_MINUTES", default_value_t = 2880, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub email_verification_ttl_minutes: u32,

    /// How long an account-deletion confirmation token stays valid, in minutes.
    #[arg(long, env = "CLIENTELE_ACCOUNT_DELETION_TTL_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub account_deletion_ttl_minutes: u32,

    /// How long an order-claim token stays valid, in minutes.
    #[arg(long, env = "CLIENTELE_ORDER_CLAIM_TTL_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub order_claim_ttl_minutes: u32,

    /// Where the outbox delivers messages to customers: this URL receives a JSON POST
    /// per message. Without it, messages are written to the log (without secrets).
    #[arg(long, env = "CLIENTELE_OUTBOX_WEBHOOK_URL", global = true)]
    pub outbox_webhook_url: Option<String>,

    /// Run the outbox worker in this instance. Instances that share a database may
    /// all run it (a lease keeps them from sending a message twice) or leave it to
    /// some of them.
    #[arg(long, env = "CLIENTELE_OUTBOX_WORKER", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub outbox_worker: bool,

    /// Erase guest customers whose last order (or record, if they never ordered) is
    /// older than this many months of 30 days; registered customers are never erased
    /// by it. Applied by the hourly housekeeping task, which logs how many it erased.
    /// Off unless set.
    #[arg(long, env = "CLIENTELE_GUEST_RETENTION_MONTHS", value_parser = clap::value_parser!(u32).range(1..=1200), global = true)]
    pub guest_retention_months: Option<u32>,

    /// Merchant systems' webhook endpoints for events, as a JSON list:
    /// `[{"name": "crm", "url": "https://crm.example.com/hooks", "events":
    /// ["customer.*", "order.placed"], "secret": "at least 24 characters"}]`. Each
    /// delivery is signed with the endpoint's secret (docs/events.md). Start-up refuses
    /// a malformed list. None by default.
    #[arg(
        long,
        env = "CLIENTELE_WEBHOOK_ENDPOINTS",
        hide_env_values = true,
        global = true
    )]
    pub webhook_endpoints: Option<String>,

    /// How often the outbox worker looks for messages to deliver, in milliseconds.
    #[arg(long, env = "CLIENTELE_OUTBOX_POLL_INTERVAL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..), global = true)]
    pub outbox_poll_interval_ms: u64,

    /// Deepest nesting a GraphQL query may have.
    #[arg(
        long,
        env = "CLIENTELE_MAX_QUERY_DEPTH",
        default_value_t = 12,
        global = true
    )]
    pub max_query_depth: usize,

    /// Highest complexity a GraphQL query may have: each field costs 1, a list
    /// multiplies its selection by its largest length, a connection by its page size.
    /// A page of 100 customers with every relation expanded prices at about 220,000.
    #[arg(
        long,
        env = "CLIENTELE_MAX_QUERY_COMPLEXITY",
        default_value_t = 300_000,
        global = true
    )]
    pub max_query_complexity: usize,

    /// Largest request body, in bytes; a larger one is refused (413) before it is read.
    #[arg(long, env = "CLIENTELE_MAX_BODY_BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..), global = true)]
    pub max_body_bytes: u64,

    /// Longest GraphQL document, in characters.
    #[arg(long, env = "CLIENTELE_MAX_DOCUMENT_CHARS", default_value_t = 32 * 1024, global = true)]
    pub max_document_chars: usize,

    /// Most aliased fields in one document.
    #[arg(
        long,
        env = "CLIENTELE_MAX_ALIASES",
        default_value_t = 30,
        global = true
    )]
    pub max_aliases: usize,

    /// Most fields at the root of the operation (after fragments are expanded).
    #[arg(
        long,
        env = "CLIENTELE_MAX_ROOT_FIELDS",
        default_value_t = 20,
        global = true
    )]
    pub max_root_fields: usize,

    /// Most directives on one field, fragment spread or inline fragment.
    #[arg(
        long,
        env = "CLIENTELE_MAX_DIRECTIVES",
        default_value_t = 4,
        global = true
    )]
    pub max_directives: usize,

    /// Most field selections in the operation once every fragment is expanded
    /// (`__typename` included).
    #[arg(
        long,
        env = "CLIENTELE_MAX_SELECTIONS",
        default_value_t = 2_000,
        global = true
    )]
    pub max_selections: usize,

    /// Deadline for one request, in milliseconds: past it the work is cancelled and
    /// the request answers TIMEOUT.
    #[arg(long, env = "CLIENTELE_REQUEST_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub request_timeout_ms: u64,

    /// How long a client may take to send a request's headers, in milliseconds.
    #[arg(long, env = "CLIENTELE_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub header_read_timeout_ms: u64,

    /// Where `totalCount` stops counting: up to it counts are exact, past it a
    /// connection answers this number with `totalCountPrecision: AT_LEAST`, so a page's
    /// cost does not grow with the table.
    #[arg(long, env = "CLIENTELE_COUNT_LIMIT", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub count_limit: u64,

    /// Most GraphQL requests in progress at once; past it the server answers 503 with
    /// `Retry-After` at once instead of queueing.
    #[arg(long, env = "CLIENTELE_MAX_CONCURRENT_REQUESTS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_concurrent_requests: u32,

    /// PostgreSQL only: the server cancels any statement running longer than this, in
    /// milliseconds (the request then answers TIMEOUT).
    #[arg(long, env = "CLIENTELE_STATEMENT_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub statement_timeout_ms: u64,

    /// How long a request waits for a free database connection, in milliseconds,
    /// before it answers UNAVAILABLE.
    #[arg(long, env = "CLIENTELE_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub db_acquire_timeout_ms: u64,

    /// Answer introspection queries. Turn off in production if the schema is not
    /// public; field suggestions ("did you mean") go with it.
    #[arg(long, env = "CLIENTELE_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub introspection: bool,

    /// Origins a browser may call the API from (CORS), comma-separated, such as
    /// `https://shop.example.com`; `*` allows any. Empty: no CORS headers at all, as
    /// server-to-server clients need none. Tokens travel in the `Authorization` header,
    /// never in cookies, so credentials are never allowed.
    #[arg(
        long,
        env = "CLIENTELE_CORS_ALLOWED_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_allowed_origins: Vec<String>,

    /// Serve `GET /metrics` on this address instead of the public one (for example
    /// `127.0.0.1:9100`, where only the metrics collector reaches it).
    #[arg(long, env = "CLIENTELE_METRICS_BIND", global = true)]
    pub metrics_bind: Option<SocketAddr>,

    /// Serve GraphiQL on `GET /graphql`.
    #[arg(long, env = "CLIENTELE_GRAPHIQL", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub graphiql: bool,

    /// PostgreSQL hot standbys that answer query operations, comma-separated URLs
    /// (`postgres://user@standby1/db`). Mutations, sessions, the outbox, housekeeping
    /// and migrations always use `DATABASE_URL` (the primary). None by default
    /// (docs/scaling.md).
    #[arg(
        long,
        env = "CLIENTELE_STANDBY_URLS",
        value_delimiter = ',',
        hide_env_values = true,
        global = true
    )]
    pub standby_urls: Vec<String>,

    /// A standby further behind the primary than this, in milliseconds, is taken out
    /// of rotation until it catches up.
    #[arg(long, env = "CLIENTELE_STANDBY_MAX_LAG_MS", default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub standby_max_lag_ms: u64,

    /// How long a query whose consistency token no standby has replayed yet waits for
    /// one to catch up, in milliseconds, before the primary answers it.
    #[arg(
        long,
        env = "CLIENTELE_STANDBY_READ_WAIT_MS",
        default_value_t = 250,
        global = true
    )]
    pub standby_read_wait_ms: u64,

    /// How often each standby's health and lag are checked, in milliseconds.
    #[arg(long, env = "CLIENTELE_STANDBY_CHECK_INTERVAL_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..), global = true)]
    pub standby_check_interval_ms: u64,

    /// PostgreSQL only: prepared statements each connection keeps for reuse. Must be 0
    /// behind a pooler in transaction mode (docs/scaling.md says why).
    #[arg(
        long,
        env = "CLIENTELE_DB_STATEMENT_CACHE",
        default_value_t = 100,
        global = true
    )]
    pub db_statement_cache: usize,

    /// PostgreSQL only: `DATABASE_URL` (and the standby URLs) is a pooler in
    /// transaction mode (PgBouncer), so a statement outside a transaction runs in one
    /// of its own. Needs `--db-statement-cache 0` and `--db-direct-url`.
    #[arg(long, env = "CLIENTELE_DB_TRANSACTION_POOLER", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub db_transaction_pooler: bool,

    /// PostgreSQL itself, not through a pooler: subscriptions' live feed `LISTEN`s on
    /// it (a pooler in transaction mode cannot pass notifications on). Default:
    /// `DATABASE_URL`.
    #[arg(
        long,
        env = "CLIENTELE_DB_DIRECT_URL",
        hide_env_values = true,
        global = true
    )]
    pub db_direct_url: Option<String>,

    /// NATS server to publish events to (`nats://127.0.0.1:4222`), through JetStream:
    /// one subject per event type, at most once per event. Off unless set.
    #[arg(
        long,
        env = "CLIENTELE_NATS_URL",
        hide_env_values = true,
        global = true
    )]
    pub nats_url: Option<String>,

    /// The JetStream stream that holds the events; subjects are
    /// `<stream in lower case>.<event type>` (`clientele.customer.created`).
    #[arg(
        long,
        env = "CLIENTELE_NATS_STREAM",
        default_value = "CLIENTELE",
        global = true
    )]
    pub nats_stream: String,

    /// Create the stream at start-up when it does not exist (with a two-minute
    /// duplicate window). Off: the stream must exist, and start-up fails otherwise.
    #[arg(long, env = "CLIENTELE_NATS_CREATE_STREAM", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub nats_create_stream: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Apply migrations and serve HTTP (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL) to stdout.
    ExportSchema,
    /// Create an admin user. The password comes from --password, else
    /// CLIENTELE_ADMIN_PASSWORD, else the first line of stdin.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, env = "CLIENTELE_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Print the configuration reference (docs/configuration.md) in Markdown.
    ConfigReference,
    /// Write an online, consistent copy of the SQLite database to a new file (the
    /// server may keep serving meanwhile). For PostgreSQL use pg_dump.
    Backup {
        /// The file to create; it must not exist.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Import records from a CSV file (docs/import-export.md): each row an upsert by
    /// external_id or email, in its own transaction; rejected rows are listed with
    /// their row number, column and reason, and make the exit status 1.
    Import {
        what: ImportWhat,
        /// The CSV file (UTF-8, a header row first).
        file: std::path::PathBuf,
        /// The admin the changes are recorded under in the audit trail.
        #[arg(long, env = "CLIENTELE_IMPORT_ADMIN")]
        admin: String,
        /// Also write the rejected rows as CSV (row, column, reason) to this file.
        #[arg(long)]
        report: Option<std::path::PathBuf>,
    },
    /// Write records as CSV to stdout (docs/import-export.md).
    Export { what: ExportWhat },
    /// Fill an empty database with deterministic demo data.
    Seed {
        /// How many customers to create (about half of them guests).
        #[arg(long, default_value_t = 1_000)]
        customers: u32,
    },
}

/// What `import` reads.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportWhat {
    Customers,
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportWhat {
    /// The live customers.
    Customers,
    /// Every order, with its lines.
    Orders,
}

impl Settings {
    /// Settings with every default, whatever the environment says: for tests and
    /// tools that build an app in-process.
    pub fn defaults() -> Result<Self, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let command = Config::command().mut_args(|arg| arg.env(clap::builder::Resettable::Reset));
        let matches = command.try_get_matches_from(["clientele"])?;
        Ok(Config::from_arg_matches(&matches)?.settings)
    }
}

/// The configuration reference, generated from the same definitions as `--help`:
/// `docs/configuration.md` is this text, and a test fails when they differ.
pub fn reference() -> String {
    use clap::CommandFactory;
    let command = Config::command();
    let mut out = String::from(
        "# Configuration\n\n\
         <!-- Generated by `clientele config-reference > docs/configuration.md`; a test \
         fails when this file differs. -->\n\n\
         Every setting is a flag and an environment variable; flags win over the \
         environment. `clientele --help` prints the same list.\n\n\
         | Flag | Environment | Default | Meaning |\n|---|---|---|---|\n",
    );
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else {
            continue;
        };
        let env = arg
            .get_env()
            .map(|env| format!("`{}`", env.to_string_lossy()))
            .unwrap_or_default();
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| format!("`{}`", v.to_string_lossy()))
            .collect();
        let default = if defaults.is_empty() {
            "none".to_owned()
        } else {
            defaults.join(", ")
        };
        let help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|help| help.to_string().replace('\n', " ").replace('|', "\\|"))
            .unwrap_or_default();
        out.push_str(&format!("| `--{long}` | {env} | {default} | {help} |\n"));
    }
    out.push_str(
        "\nSub-commands (all take the settings above):\n\n| Command | What it does |\n|---|---|\n",
    );
    for sub in command.get_subcommands() {
        let about = sub
            .get_long_about()
            .or(sub.get_about())
            .map(|about| about.to_string().replace('\n', " "))
            .unwrap_or_default();
        let mut usage = sub.get_name().to_owned();
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long() {
                usage.push_str(&format!(" [--{long}]"));
            }
        }
        out.push_str(&format!("| `{usage}` | {about} |\n"));
    }
    out
}
