//! The application: shared state, the HTTP router, start-up and the sub-commands.

use std::future::Future;
use std::io::BufRead;
use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use async_graphql::{ErrorExtensionValues, ServerError};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::TimeDelta;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Instrument;
use uuid::Uuid;

use crate::auth::passwords::Passwords;
use crate::auth::{Principal, sessions};
use crate::config::{Command, Config, Settings};
use crate::db::{self, StatementCounter};
use crate::domain::accounts::TokenLifetimes;
use crate::domain::outbox::{self, Sink};
use crate::error::ErrorCode;
use crate::graphql::gate::Gate;
use crate::graphql::loaders::Loaders;
use crate::graphql::{self, ClienteleSchema};
use crate::{domain, seed};

pub type StartupError = Box<dyn std::error::Error + Send + Sync>;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct App {
    db: DatabaseConnection,
    schema: ClienteleSchema,
    statements: StatementCounter,
    outbox: OutboxSetup,
}

/// What the background work of `serve` needs. It gets a pool of its own there (the
/// other sub-commands never open it), so delivery never waits for request traffic
/// (nor the other way round), and its polling stays out of the request statement
/// counter.
#[derive(Clone)]
struct OutboxSetup {
    database_url: String,
    sink: Sink,
    poll_interval: Duration,
}

impl App {
    /// Connects, migrates and builds the schema.
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        let (db, statements) =
            db::connect(&settings.database_url, settings.db_max_connections).await?;
        db::migrate(&db).await?;
        let minutes = |m: u32| TimeDelta::minutes(i64::from(m));
        let lifetimes = TokenLifetimes {
            session: minutes(settings.session_ttl_minutes),
            password_reset: minutes(settings.password_reset_ttl_minutes),
            email_change: minutes(settings.email_change_ttl_minutes),
            order_claim: minutes(settings.order_claim_ttl_minutes),
        };
        let schema =
            graphql::schema_builder(settings.max_query_depth, settings.max_query_complexity)
                .data(db.clone())
                .data(passwords())
                .data(lifetimes)
                .finish();
        let sink = match &settings.outbox_webhook_url {
            Some(url) => Sink::webhook(url.clone())?,
            None => Sink::Log,
        };
        Ok(Self {
            db,
            schema,
            statements,
            outbox: OutboxSetup {
                database_url: settings.database_url.clone(),
                sink,
                poll_interval: Duration::from_millis(settings.outbox_poll_interval_ms),
            },
        })
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// SQL statements executed so far on this app's connection pool.
    pub fn statements(&self) -> StatementCounter {
        self.statements.clone()
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/graphql", get(graphiql).post(graphql_handler))
            .route("/health", get(health))
            .with_state(self.clone())
    }

    /// Serves HTTP on `listener` until `shutdown` completes, then finishes in-flight
    /// requests.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let outbox = self.outbox.clone();
        let (background_db, _) = db::connect(&outbox.database_url, 2)
            .await
            .map_err(std::io::Error::other)?;
        let (stop, stopped) = watch::channel(false);
        let sweeper = tokio::spawn(sweep_hourly(background_db.clone(), stopped.clone()));
        let worker = tokio::spawn(
            outbox::Worker::new(background_db, outbox.sink, outbox.poll_interval).run(stopped),
        );
        let served = axum::serve(listener, self.router())
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = stop.send(true);
            })
            .await;
        if let Err(error) = worker.await {
            tracing::error!(%error, "outbox worker failed");
        }
        if let Err(error) = sweeper.await {
            tracing::error!(%error, "housekeeping failed");
        }
        served
    }
}

/// Removes expired sessions and tokens at start and then every hour, until `stop`.
async fn sweep_hourly(db: DatabaseConnection, mut stop: watch::Receiver<bool>) {
    loop {
        match domain::housekeeping::sweep(&db).await {
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
fn passwords() -> Passwords {
    Passwords::new(std::thread::available_parallelism().map_or(2, usize::from))
}

/// The request id, sent back as `x-request-id` and on INTERNAL errors.
const REQUEST_ID_HEADER: &str = "x-request-id";

async fn graphql_handler(
    State(app): State<App>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let request_id = Uuid::now_v7();
    let span = tracing::info_span!("graphql", %request_id);
    async move {
        let principal = match bearer_token(&headers) {
            Some(token) => sessions::resolve(&app.db, token).await,
            None => Ok(Principal::Anonymous),
        };
        let mut response = match principal {
            Ok(principal) => {
                let gate = Gate::default();
                let request = request
                    .into_inner()
                    .data(principal)
                    .data(Loaders::new(&app.db, &gate));
                gate.request(app.schema.execute(request)).await
            }
            Err(error) => async_graphql::Response::from_errors(vec![
                async_graphql::Error::from(error).into_server_error(Default::default()),
            ]),
        };
        for error in &mut response.errors {
            classify(error, request_id);
        }
        if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
            response.http_headers.insert(REQUEST_ID_HEADER, value);
        }
        GraphQLResponse::from(response).into_response()
    }
    .instrument(span)
    .await
}

/// Gives every error a code: domain errors carry theirs; errors raised by the GraphQL
/// engine do not. Engine errors with a path are argument values that failed to parse;
/// those without one are document errors (syntax, unknown fields, limits), except
/// argument and variable values of the wrong type, which validation reports and
/// which are the client's input, not its document.
fn classify(error: &mut ServerError, request_id: Uuid) {
    let bad_value = error.message.starts_with("Invalid value for argument")
        || error.message.starts_with("Variable \"");
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    let code = match extensions.get("code") {
        Some(code) => code.clone(),
        None => {
            let code = if error.path.is_empty() && !bad_value {
                ErrorCode::InvalidQuery
            } else {
                ErrorCode::BadUserInput
            };
            extensions.set("code", code.to_value());
            if bad_value && let Some(field) = error.message.split('"').nth(1) {
                extensions.set("field", field.trim_start_matches('$'));
            }
            code.to_value()
        }
    };
    if code == ErrorCode::Internal.to_value() {
        extensions.set("requestId", request_id.to_string());
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

/// Liveness and readiness: the process answers and the database does too.
async fn health(State(app): State<App>) -> Response {
    match app.db.ping().await {
        Ok(()) => Json(serde_json::json!({ "status": "ok" })).into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable" })),
            )
                .into_response()
        }
    }
}

/// Runs the sub-command `config` names (`serve` when none).
pub async fn run(config: Config) -> Result<(), StartupError> {
    let settings = config.settings;
    match config.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = App::build(&settings).await?;
            let listener = TcpListener::bind(settings.bind).await?;
            tracing::info!(
                address = %listener.local_addr()?,
                "serving GraphQL on /graphql (GraphiQL in a browser), health on /health"
            );
            app.serve(listener, shutdown_signal()).await?;
            tracing::info!("stopped");
        }
        Command::Migrate => {
            let (db, _) = db::connect(&settings.database_url, 1).await?;
            db::migrate(&db).await?;
            tracing::info!("migrations applied");
        }
        Command::ExportSchema => {
            print!(
                "{}",
                graphql::sdl(settings.max_query_depth, settings.max_query_complexity)
            );
        }
        Command::CreateAdmin { email, password } => {
            let password = match password {
                Some(password) => password,
                None => read_password_from_stdin()?,
            };
            let app = App::build(&settings).await?;
            let admin = domain::admins::create(&app.db, &passwords(), &email, &password).await?;
            tracing::info!(email = %admin.email, id = %admin.id, "admin user created");
        }
        Command::Seed { customers } => {
            let app = App::build(&settings).await?;
            let summary = seed::run(&app.db, customers).await?;
            tracing::info!(%summary, "demo data created");
        }
    }
    Ok(())
}

fn read_password_from_stdin() -> Result<String, StartupError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(
            "no password: pass --password, set CLIENTELE_ADMIN_PASSWORD or pipe it on stdin".into(),
        );
    }
    Ok(password)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM (what orchestrators send).
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
