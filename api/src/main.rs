//! Parses the configuration and runs the chosen sub-command.

use std::io::BufRead;
use std::process::ExitCode;

use api::app::{App, StartupError, passwords};
use api::config::{Command, Config, ExportWhat, ImportWhat};
use api::db::{self, PoolOptions};
use api::{domain, exchange, graphql, seed};
use clap::Parser;
use tokio::net::TcpListener;

/// The server's allocator (see the workspace Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    api::telemetry::init(&config.settings);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "clientele failed");
            ExitCode::FAILURE
        }
    }
}

/// Runs the sub-command `config` names (`serve` when none).
async fn run(config: Config) -> Result<(), StartupError> {
    let settings = config.settings;
    match config.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = App::build(&settings).await?;
            let listener = TcpListener::bind(settings.bind).await?;
            tracing::info!(
                address = %listener.local_addr()?,
                "serving GraphQL on /graphql (GraphiQL in a browser), health on /health"
            );
            let metrics_listener = match settings.metrics_bind {
                Some(address) => Some(TcpListener::bind(address).await?),
                None => None,
            };
            api::http::serve_app(app, listener, metrics_listener, shutdown_signal()).await?;
            tracing::info!("stopped");
        }
        Command::Migrate => {
            let (db, _) = db::connect(
                &settings.database_url,
                PoolOptions::small(1).behind(&settings),
            )
            .await?;
            db::migrate(&db).await?;
            tracing::info!("migrations applied");
        }
        Command::ExportSchema => print!("{}", graphql::sdl()),
        Command::ConfigReference => print!("{}", api::config::reference()),
        Command::CreateAdmin { email, password } => {
            let password = match password {
                Some(password) => password,
                None => read_password_from_stdin()?,
            };
            let app = App::build(&settings).await?;
            let admin = domain::admins::create(app.db(), &passwords(), &email, &password).await?;
            tracing::info!(email = %admin.email, id = %admin.id, "admin user created");
        }
        Command::Backup { to } => {
            let (db, _) = db::connect(
                &settings.database_url,
                PoolOptions::small(1).behind(&settings),
            )
            .await?;
            db::backup(&db, &to).await?;
            tracing::info!(to = %to.display(), "backup written");
        }
        Command::Import {
            what: ImportWhat::Customers,
            file,
            admin,
            report,
        } => import_customers(&settings.database_url, &file, &admin, report.as_deref()).await?,
        Command::Export { what } => {
            let (db, _) = db::connect(
                &settings.database_url,
                PoolOptions::small(1).behind(&settings),
            )
            .await?;
            db::migrate(&db).await?;
            let out = std::io::BufWriter::new(std::io::stdout().lock());
            let written = match what {
                ExportWhat::Customers => exchange::export_customers(&db, out).await?,
                ExportWhat::Orders => exchange::export_orders(&db, out).await?,
            };
            tracing::info!(rows = written, "export written");
        }
        Command::Seed { customers } => {
            // Its own connection, without the serving statement timeout: renumbering
            // two million demo orders is one statement longer than any request's.
            let (db, _) = db::connect(
                &settings.database_url,
                PoolOptions::small(1).behind(&settings),
            )
            .await?;
            db::migrate(&db).await?;
            let summary = seed::run(&db, customers).await?;
            tracing::info!(%summary, "demo data created");
        }
    }
    Ok(())
}

/// Streams `file` into the database, a bar or progress lines on stderr, each
/// rejected row on stderr (and in `report`). Fails when any row was rejected.
async fn import_customers(
    database_url: &str,
    file: &std::path::Path,
    admin: &str,
    report: Option<&std::path::Path>,
) -> Result<(), StartupError> {
    let (db, _) = db::connect(database_url, PoolOptions::small(1)).await?;
    db::migrate(&db).await?;
    let admin = domain::admins::with_email(&db, admin)
        .await
        .map_err(|_| format!("--admin {admin}: no admin user has this email"))?;
    let input =
        std::fs::File::open(file).map_err(|error| format!("{}: {error}", file.display()))?;
    let size = input.metadata().ok().map(|m| m.len());
    let mut report = match report {
        Some(path) => {
            let mut writer = csv::Writer::from_path(path)?;
            writer.write_record(["row", "column", "reason"])?;
            Some(writer)
        }
        None => None,
    };
    let mut progress = exchange::Progress::for_stderr(size);
    let summary = exchange::import_customers(
        &db,
        admin.id,
        std::io::BufReader::new(input),
        &mut progress,
        |rejection| {
            eprintln!("rejected: {rejection}");
            if let Some(report) = report.as_mut() {
                let row = rejection.row.to_string();
                let _ = report.write_record([row.as_str(), &rejection.column, &rejection.reason]);
            }
        },
    )
    .await?;
    if let Some(mut report) = report {
        report.flush()?;
    }
    tracing::info!(%summary, "import finished");
    if summary.rejected > 0 {
        return Err(format!(
            "{} rows were rejected; the others are imported",
            summary.rejected
        )
        .into());
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
