//! Test support: a real Clientele server on 127.0.0.1 with a random port and a fresh
//! database of its own, a GraphQL client for it, and fixtures written straight to the
//! database.
//!
//! Every test runs on SQLite (a temporary file) unless `TEST_DATABASE_URL` names a
//! PostgreSQL server; then each test gets a database of its own on that server and
//! drops it afterwards, so tests run in parallel on either backend. With
//! `TEST_POOLER_URL` too (PgBouncer in transaction mode, in front of that server), the
//! servers under test reach their databases through it. Migrations run
//! once per test run, into a template that each test's database is copied from (a file
//! copy on SQLite, `CREATE DATABASE .. TEMPLATE` on PostgreSQL).
//!
//! The outbox has no background worker here: a test delivers what is due with
//! [`TestApp::deliver_outbox`], and a test that ends with a message nobody delivered
//! fails, unless it said [`TestApp::allow_undelivered`] (verification links, which every
//! registration sends, are left alone).

// Test support: an unwrap that fails is a test that fails, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use api::app::App;
use api::auth::passwords::Passwords;
use api::config::Settings;
use api::error::DomainError;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use entity::{address, customer, customer_group, customer_group_customer, line_item, order};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use uuid::Uuid;

pub mod logs;
pub mod processes;
pub mod webhook;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const PASSWORD: &str = "a fine password";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A running server and the database behind it. Dropping it stops the server and
/// deletes the database.
pub struct TestApp {
    pub base_url: String,
    /// Where `/metrics` is served when the test set `metrics_bind` (any address: the
    /// harness binds a free port of 127.0.0.1 instead).
    pub metrics_url: Option<String>,
    app: App,
    http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    max_concurrent_requests: usize,
    allow_undelivered: std::sync::atomic::AtomicBool,
    database: TestDatabase,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server whose settings `configure` may change (limits, TTLs).
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Self {
        logs::capture();
        Self::start(TestDatabase::create().await, configure).await
    }

    /// A server on a database the test made itself (on a cluster of its own), which
    /// it leaves in place.
    pub async fn spawn_on(url: &str, configure: impl FnOnce(&mut Settings)) -> Self {
        logs::capture();
        let database = TestDatabase {
            url: url.to_owned(),
            postgres: None,
            sqlite_path: None,
        };
        Self::start(database, configure).await
    }

    /// A second server on this one's database, as a second instance behind a load
    /// balancer would be. The first one owns the database (and checks the outbox).
    pub async fn spawn_beside(&self, configure: impl FnOnce(&mut Settings)) -> Self {
        let shared = TestDatabase {
            url: self.database.url.clone(),
            postgres: None,
            sqlite_path: None,
        };
        let other = Self::start(shared, configure).await;
        other.allow_undelivered();
        other
    }

    async fn start(database: TestDatabase, configure: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings::defaults().expect("default settings");
        settings.database_url = database.url.clone();
        settings.db_max_connections = 5;
        settings.outbox_worker = false;
        // Every test comes from 127.0.0.1: throttles are off unless a test sets them
        // (the throttle tests do).
        settings.registrations_per_address = 10_000;
        settings.guest_orders_per_address = 10_000;
        settings.login_failures_per_address = 10_000;
        settings.mails_per_recipient = 10_000;
        settings.login_attempts_per_account = 20;
        settings.login_lock_minutes = 60;
        let pooler = std::env::var("TEST_POOLER_URL")
            .ok()
            .filter(|url| !url.is_empty());
        if let (Some(pooler), Some(name)) = (pooler, database_name(&database.url)) {
            // Through PgBouncer in transaction mode (CI's "pooler" step); the harness
            // itself and LISTEN go to PostgreSQL directly.
            settings.database_url = with_database(&pooler, name);
            settings.db_direct_url = Some(database.url.clone());
            settings.db_transaction_pooler = true;
            settings.db_statement_cache = 0;
        }
        configure(&mut settings);
        let app = App::build(&settings).await.expect("app starts");
        let max_concurrent_requests = settings.max_concurrent_requests as usize;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("address"));
        let metrics_listener = match settings.metrics_bind {
            Some(_) => Some(TcpListener::bind("127.0.0.1:0").await.expect("bind")),
            None => None,
        };
        let metrics_url = metrics_listener
            .as_ref()
            .map(|listener| format!("http://{}", listener.local_addr().expect("address")));
        let (shutdown, stopped) = oneshot::channel();
        let served = tokio::spawn(api::http::serve_app(
            app.clone(),
            listener,
            metrics_listener,
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            base_url,
            metrics_url,
            app,
            http: reqwest::Client::new(),
            shutdown: Some(shutdown),
            served: Some(served),
            max_concurrent_requests,
            allow_undelivered: std::sync::atomic::AtomicBool::new(false),
            database,
        }
    }

    /// GraphQL requests the server is executing right now.
    pub fn requests_in_progress(&self) -> usize {
        self.max_concurrent_requests - self.app.edge().in_flight.available_permits()
    }

    /// Tells the server to shut down, as SIGTERM does, and returns its task: it ends
    /// when the open requests have finished and the background work has stopped.
    pub fn shut_down(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.served.take().expect("the server was started once")
    }

    /// Delivers every outbox message now, as the worker would, retries included: a
    /// message the sink refused is made due again at once (its backoff is the outbox's
    /// unit test's business), for at most ten rounds. Returns the attempts made.
    pub async fn deliver_outbox(&self) -> usize {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        let mut attempts = 0;
        for _ in 0..10 {
            let round = self.app.deliver_due().await.expect("outbox delivery");
            if round == 0 {
                break;
            }
            attempts += round;
            entity::outbox_message::Entity::update_many()
                .col_expr(
                    entity::outbox_message::Column::NextAttemptAt,
                    Expr::val(api::db::now()),
                )
                .filter(entity::outbox_message::Column::DeliveredAt.is_null())
                .exec(self.db())
                .await
                .expect("retries made due");
        }
        attempts
    }

    /// One housekeeping sweep with the server's settings (its retention rule), as the
    /// hourly task runs it.
    pub async fn housekeep(&self) -> api::domain::housekeeping::Swept {
        self.app.housekeep().await.expect("housekeeping")
    }

    /// This test may end with outbox messages nobody delivered (it sends mail it
    /// does not read, as the fuzzer does).
    pub fn allow_undelivered(&self) {
        self.allow_undelivered
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn db(&self) -> &api::db::Db {
        self.app.db()
    }

    pub fn is_postgres(&self) -> bool {
        self.database.postgres.is_some()
    }

    /// SQL statements the server has executed so far (on the primary's request pool).
    pub fn statements(&self) -> u64 {
        self.app.statements().get()
    }

    /// The server's standbys as its checks and reads left them.
    pub fn standbys(&self) -> Vec<api::standbys::StandbyReport> {
        self.app.standbys().reports()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Posts a GraphQL request and returns the whole response body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        self.gql_with(&[], token, query, variables).await
    }

    /// [`gql`](Self::gql) with extra request headers (`X-Forwarded-For`, `User-Agent`).
    pub async fn gql_with(
        &self,
        headers: &[(&str, &str)],
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Value {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.base_url))
            .json(&json!({ "query": query, "variables": variables }));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        assert!(
            response.status().is_success(),
            "HTTP {} for {query}",
            response.status()
        );
        response.json().await.expect("JSON response")
    }

    /// Posts `body` to `/graphql` as it is, with this content type.
    pub async fn post_raw(
        &self,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}/graphql", self.base_url))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Asserts that the server still answers an ordinary query.
    pub async fn still_serves(&self) {
        let data = self.data(None, "{ __typename }", json!({})).await;
        assert_eq!(data["__typename"], "Query");
    }

    /// Runs a request that must succeed and returns its `data`.
    pub async fn data(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self.gql(token, query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response:#}"
        );
        response["data"].clone()
    }

    /// Runs a request that must fail and returns its first error's code.
    pub async fn error_code(&self, token: Option<&str>, query: &str, variables: Value) -> String {
        let response = self.gql(token, query, variables).await;
        error_code(&response)
    }

    /// Creates the admin user (once) and logs in, returning a bearer token.
    pub async fn admin_token(&self) -> String {
        let created =
            api::domain::admins::create(self.db(), &Passwords::new(2), ADMIN_EMAIL, ADMIN_PASSWORD)
                .await;
        assert!(
            matches!(created, Ok(_) | Err(DomainError::EmailTaken)),
            "admin not created: {created:?}"
        );
        let data = self
            .data(
                None,
                "mutation($email: String!, $password: String!) {
                    adminLogin(email: $email, password: $password) { token }
                }",
                json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
            )
            .await;
        data["adminLogin"]["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// The customer an order belongs to, as an admin reads it: `{ id email hasAccount }`
    /// (an anonymous caller may not read the guest record its order joined).
    pub async fn owner_of(&self, order_id: &Value) -> Value {
        let admin = self.admin_token().await;
        self.data(
            Some(&admin),
            "query($id: ID!) { order(id: $id) { customer { id email hasAccount } } }",
            json!({ "id": order_id }),
        )
        .await["order"]["customer"]
            .clone()
    }

    /// Registers a customer through the API; returns their session token and id.
    pub async fn register(&self, email: &str) -> (String, String) {
        let data = self
            .data(
                None,
                "mutation($email: String!, $password: String!) {
                    registerCustomer(email: $email, password: $password) {
                        token customer { id } } }",
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        let session = &data["registerCustomer"];
        (
            session["token"].as_str().expect("token").to_owned(),
            session["customer"]["id"].as_str().expect("id").to_owned(),
        )
    }

    /// A registered customer with [`PASSWORD`], written directly (no request spent).
    pub async fn register_directly(&self, email: &str) -> Uuid {
        let id = self
            .customer(CustomerSpec {
                email,
                has_account: true,
                ..Default::default()
            })
            .await;
        let hash = Passwords::new(2).hash(PASSWORD).await.expect("hashed");
        entity::customer_credential::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(id),
            password_hash: Set(Some(hash)),
        }
        .update(self.db())
        .await
        .expect("password set");
        id
    }

    /// Logs a customer in; returns the response (data or errors).
    pub async fn login(&self, email: &str, password: &str) -> Value {
        self.gql(
            None,
            "mutation($email: String!, $password: String!) {
                login(email: $email, password: $password) { token customer { id email } } }",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    // ---- fixtures: rows written directly, bypassing the API under test ----

    pub async fn customer(&self, spec: CustomerSpec<'_>) -> Uuid {
        let id = Uuid::now_v7();
        let created_at = spec.created_at.unwrap_or_else(api::db::now);
        customer::ActiveModel {
            id: Set(id),
            email: Set(spec.email.to_owned()),
            first_name: Set(spec.first_name.map(str::to_owned)),
            last_name: Set(spec.last_name.map(str::to_owned)),
            phone: Set(None),
            has_account: Set(spec.has_account),
            billing_address_id: Set(None),
            default_shipping_address_id: Set(None),
            disabled_at: Set(None),
            erased_at: Set(None),
            email_verified_at: Set(None),
            order_count: Set(0),
            last_order_at: Set(None),
            external_id: Set(None),
            metadata: Set(None),
            created_at: Set(created_at),
            updated_at: Set(created_at),
            deleted_at: Set(spec.deleted.then_some(created_at)),
        }
        .insert(self.db())
        .await
        .expect("customer inserted");
        id
    }

    pub async fn address(&self, customer_id: Uuid, city: &str) -> Uuid {
        let id = Uuid::now_v7();
        let now = api::db::now();
        address::ActiveModel {
            id: Set(id),
            customer_id: Set(customer_id),
            first_name: Set(Some("Ada".into())),
            last_name: Set(Some("Lovelace".into())),
            company: Set(None),
            address_1: Set(Some("1 Main Street".into())),
            address_2: Set(None),
            city: Set(Some(city.into())),
            province: Set(None),
            postal_code: Set(Some("12345".into())),
            country_code: Set("GB".into()),
            phone: Set(None),
            metadata: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(self.db())
        .await
        .expect("address inserted");
        id
    }

    pub async fn set_billing_address(&self, customer_id: Uuid, address_id: Uuid) {
        customer::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(customer_id),
            billing_address_id: Set(Some(address_id)),
            ..Default::default()
        }
        .update(self.db())
        .await
        .expect("billing address set");
    }

    pub async fn group(&self, name: &str) -> Uuid {
        self.group_at(name, api::db::now(), false).await
    }

    pub async fn group_at(&self, name: &str, created_at: DateTime<Utc>, deleted: bool) -> Uuid {
        let id = Uuid::now_v7();
        customer_group::ActiveModel {
            id: Set(id),
            name: Set(name.into()),
            metadata: Set(None),
            created_at: Set(created_at),
            updated_at: Set(created_at),
            deleted_at: Set(deleted.then_some(created_at)),
        }
        .insert(self.db())
        .await
        .expect("group inserted");
        id
    }

    pub async fn join(&self, group_id: Uuid, customer_id: Uuid) {
        customer_group_customer::ActiveModel {
            customer_group_id: Set(group_id),
            customer_id: Set(customer_id),
            created_at: Set(api::db::now()),
        }
        .insert(self.db())
        .await
        .expect("membership inserted");
    }

    /// An order with one line per `(title, quantity, unit_price)`.
    pub async fn order(
        &self,
        customer_id: Uuid,
        email: &str,
        created_at: DateTime<Utc>,
        lines: &[(&str, i32, i64)],
    ) -> Uuid {
        let id = Uuid::now_v7();
        let subtotal: i64 = lines.iter().map(|(_, q, p)| i64::from(*q) * p).sum();
        order::ActiveModel {
            id: Set(id),
            display_id: Set(api::domain::orders::next_display_id(self.db())
                .await
                .expect("display id")),
            customer_id: Set(customer_id),
            email: Set(email.into()),
            status: Set(order::OrderStatus::Pending),
            currency_code: Set("EUR".into()),
            subtotal: Set(subtotal),
            total: Set(subtotal),
            shipping_address: Set(None),
            billing_address: Set(None),
            created_at: Set(created_at),
            updated_at: Set(created_at),
        }
        .insert(self.db())
        .await
        .expect("order inserted");
        for (position, (title, quantity, unit_price)) in lines.iter().enumerate() {
            line_item::ActiveModel {
                id: Set(Uuid::now_v7()),
                order_id: Set(id),
                position: Set(position as i32),
                title: Set((*title).into()),
                sku: Set(None),
                quantity: Set(*quantity),
                unit_price: Set(*unit_price),
                total: Set(i64::from(*quantity) * unit_price),
            }
            .insert(self.db())
            .await
            .expect("line item inserted");
        }
        // The customer's stored order numbers, as every way of placing an order keeps them.
        let locked = api::domain::stats::lock(self.db(), &[customer_id])
            .await
            .expect("customer locked");
        api::domain::stats::refresh(self.db(), locked)
            .await
            .expect("customer numbers refreshed");
        id
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if std::thread::panicking()
            || self
                .allow_undelivered
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let url = self.database.url.clone();
        let left = on_own_runtime(async move {
            use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
            let db = Database::connect(&url).await?;
            // Every registration mails a verification link; the tests that care about
            // it deliver and read it, the others need not.
            let left = entity::outbox_message::Entity::find()
                .filter(entity::outbox_message::Column::DeliveredAt.is_null())
                .filter(entity::outbox_message::Column::Kind.ne("verify_email"))
                .count(&db)
                .await?;
            db.close().await?;
            Ok(left)
        });
        match left {
            Ok(0) => {}
            Ok(left) => panic!(
                "{left} outbox message(s) left undelivered: deliver them with \
                 `deliver_outbox` and check them, or call `allow_undelivered`"
            ),
            Err(error) => panic!("could not check the outbox: {error}"),
        }
    }
}

/// Runs `work` to completion on a runtime of its own, on a thread of its own: `Drop`
/// runs inside the test's runtime, which cannot block on async work.
fn on_own_runtime<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, sea_orm::DbErr>> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(work).map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "the check panicked".to_owned())?
}

/// What [`TestApp::customer`] inserts; `..Default::default()` fills the rest.
#[derive(Debug, Clone, Default)]
pub struct CustomerSpec<'a> {
    pub email: &'a str,
    pub has_account: bool,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
    pub created_at: Option<DateTime<Utc>>,
    pub deleted: bool,
}

/// A fixed instant plus `seconds`, for fixtures that need a known order.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + TimeDelta::seconds(seconds)
}

/// The `x-request-id` a response carries.
pub fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .expect("a request id")
        .to_owned()
}

/// The first error's `extensions.code`.
pub fn error_code(response: &Value) -> String {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code: {response:#}"))
        .to_owned()
}

/// The ids of a connection's nodes, in order.
/// How a burst of responses ended: `"ok"` for each success, else its error code.
pub fn outcomes(responses: &[Value]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for response in responses {
        let outcome = match response.get("errors") {
            None => "ok".to_owned(),
            Some(_) => error_code(response),
        };
        *counts.entry(outcome).or_default() += 1;
    }
    counts
}

/// The expected side of [`outcomes`]: `tally(&[("ok", 1), ("EMAIL_TAKEN", 5)])`.
pub fn tally(expected: &[(&str, usize)]) -> std::collections::BTreeMap<String, usize> {
    expected
        .iter()
        .map(|(k, n)| ((*k).to_owned(), *n))
        .collect()
}

pub fn node_ids(connection: &Value) -> Vec<String> {
    connection["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("not a connection: {connection:#}"))
        .iter()
        .map(|node| node["id"].as_str().expect("node id").to_owned())
        .collect()
}

/// The per-test database: a temporary SQLite file, or a PostgreSQL database created
/// on the server `TEST_DATABASE_URL` names. Both are copies of a template migrated
/// once per test run.
struct TestDatabase {
    url: String,
    postgres: Option<PostgresDatabase>,
    sqlite_path: Option<std::path::PathBuf>,
}

struct PostgresDatabase {
    server_url: String,
    name: String,
}

/// Every database this harness creates starts with this prefix, then a time-ordered
/// id: the sweep can tell a leftover of a killed run by its age.
const PREFIX: &str = "clientele_t_";
/// Databases older than this are leftovers: no test run takes that long.
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The migrated template of this test run: a file path or a database name.
static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// A database with no tables yet, on the test backend, dropped with this value: for
/// tests of the migrations themselves.
pub struct EmptyDatabase(TestDatabase);

impl EmptyDatabase {
    pub async fn create() -> Self {
        Self(match std::env::var("TEST_DATABASE_URL") {
            Ok(server_url) if !server_url.is_empty() => {
                let server = Database::connect(&server_url)
                    .await
                    .unwrap_or_else(|error| panic!("cannot reach TEST_DATABASE_URL: {error}"));
                let name = format!("{PREFIX}{}", Uuid::now_v7().simple());
                server
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create an empty database");
                server.close().await.ok();
                TestDatabase {
                    url: with_database(&server_url, &name),
                    postgres: Some(PostgresDatabase { server_url, name }),
                    sqlite_path: None,
                }
            }
            _ => {
                let path =
                    std::env::temp_dir().join(format!("{PREFIX}{}.db", Uuid::now_v7().simple()));
                TestDatabase {
                    url: format!("sqlite://{}", path.display()),
                    postgres: None,
                    sqlite_path: Some(path),
                }
            }
        })
    }

    pub fn url(&self) -> &str {
        &self.0.url
    }
}

impl TestDatabase {
    async fn create() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(server_url) if !server_url.is_empty() => Self::create_postgres(server_url).await,
            _ => Self::create_sqlite().await,
        }
    }

    async fn create_sqlite() -> Self {
        let template = TEMPLATE
            .get_or_init(|| async {
                sweep_leftover_files();
                let path = std::env::temp_dir()
                    .join(format!("{PREFIX}template_{}.db", Uuid::now_v7().simple()));
                migrate_once(&format!("sqlite://{}", path.display())).await;
                path.display().to_string()
            })
            .await;
        let path = std::env::temp_dir().join(format!("{PREFIX}{}.db", Uuid::now_v7().simple()));
        std::fs::copy(template, &path).expect("copy the template database");
        Self {
            url: format!("sqlite://{}", path.display()),
            postgres: None,
            sqlite_path: Some(path),
        }
    }

    async fn create_postgres(server_url: String) -> Self {
        assert!(
            server_url.starts_with("postgres"),
            "TEST_DATABASE_URL must be a postgres:// URL, got {server_url}"
        );
        let server = Database::connect(&server_url)
            .await
            .unwrap_or_else(|error| panic!("cannot reach TEST_DATABASE_URL: {error}"));
        let template = TEMPLATE
            .get_or_init(|| async {
                sweep_leftovers(&server).await;
                let name = format!("{PREFIX}{}", Uuid::now_v7().simple());
                server
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create the template database");
                migrate_once(&with_database(&server_url, &name)).await;
                name
            })
            .await;
        let name = format!("{PREFIX}{}", Uuid::now_v7().simple());
        // The template has no open connection (migrate_once closed its pool), which
        // PostgreSQL requires of a template.
        server
            .execute_unprepared(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await
            .expect("create the test database from the template");
        server.close().await.ok();
        Self {
            url: with_database(&server_url, &name),
            postgres: Some(PostgresDatabase { server_url, name }),
            sqlite_path: None,
        }
    }
}

/// Applies the migrations and closes the pool, leaving a template nobody is connected
/// to (on SQLite, with the write-ahead log folded back into the file).
async fn migrate_once(url: &str) {
    let (db, _) = api::db::connect(url, api::db::PoolOptions::small(1))
        .await
        .expect("connect to the template");
    api::db::migrate(&db).await.expect("migrate the template");
    db.close().await.expect("close the template");
}

/// The age of a harness database from the time-ordered id in its name.
fn age_of(name: &str) -> Option<std::time::Duration> {
    let id = name
        .trim_start_matches(PREFIX)
        .trim_start_matches("template_");
    let id = id.split('.').next()?;
    let (seconds, nanos) = Uuid::parse_str(id).ok()?.get_timestamp()?.to_unix();
    (std::time::UNIX_EPOCH + std::time::Duration::new(seconds, nanos))
        .elapsed()
        .ok()
}

/// Removes SQLite files of runs that were killed before they could clean up.
fn sweep_leftover_files() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(PREFIX) && age_of(&name).is_some_and(|age| age > LEFTOVER_AGE) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Drops the databases of runs that were killed before they could clean up.
async fn sweep_leftovers(server: &DatabaseConnection) {
    use sea_orm::{FromQueryResult, Statement};
    #[derive(FromQueryResult)]
    struct Name {
        datname: String,
    }
    let backend = server.get_database_backend();
    let names = Name::find_by_statement(Statement::from_string(
        backend,
        format!("SELECT datname FROM pg_database WHERE datname LIKE '{PREFIX}%'"),
    ))
    .all(server)
    .await
    .expect("list test databases");
    for Name { datname } in names {
        // Names without a readable id are from older harnesses: leftovers too.
        if age_of(&datname).is_none_or(|age| age > LEFTOVER_AGE) {
            let _ = server
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)"))
                .await;
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(path) = &self.sqlite_path {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
        if let Some(PostgresDatabase { server_url, name }) = self.postgres.take() {
            let dropped = on_own_runtime(async move {
                let server = Database::connect(&server_url).await?;
                server
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
                server.close().await
            });
            if dropped.is_err() {
                eprintln!("could not drop a test database; the next run sweeps it");
            }
        }
    }
}

/// `server_url` with its database name replaced by `name`.
/// The database a PostgreSQL URL names (`None` for SQLite).
fn database_name(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("postgres://")?;
    let path = rest.split('?').next()?;
    path.split_once('/').map(|(_, name)| name)
}

fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_end = base
        .find("://")
        .map(|scheme| scheme + 3)
        .and_then(|start| base[start..].find('/').map(|slash| start + slash))
        .unwrap_or(base.len());
    let mut url = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Polls every future until all are done: requests in flight together, each handled
/// on its own task by the server, which is where races happen.
pub async fn join_all<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output> {
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match std::pin::Pin::new(&mut *future).poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
