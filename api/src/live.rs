//! The live feed behind GraphQL subscriptions: every committed event, as it commits,
//! broadcast to the subscriptions of this instance.
//!
//! Events come from the `event` table ([`crate::domain::events`]), written in the
//! transaction of their change, so a subscription sees committed changes only:
//! - **PostgreSQL**: `LISTEN clientele_events`. Publishing an event also runs
//!   `pg_notify` in its transaction, and PostgreSQL delivers a notification only when
//!   (and if) that transaction commits, in commit order, to every instance listening,
//!   so instances sharing one database all see every event.
//! - **SQLite**: one process writes the file, one transaction at a time, so the
//!   table's `rowid` grows in commit order; the feed reads the rows past the last one it
//!   saw, four times a second.
//!
//! Infrastructure, like `delivery`: the rules are the domain's; this runs them.

use std::sync::Arc;
use std::time::Duration;

use entity::event;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, Statement};
use tokio::sync::{broadcast, watch};

use crate::db::Db;
use crate::domain::events::NOTIFY_CHANNEL;

/// Events a slow subscription may fall behind by before it misses some.
const CAPACITY: usize = 1_024;
/// How often SQLite's feed reads new rows.
const SQLITE_POLL: Duration = Duration::from_millis(250);
/// How long the PostgreSQL feed waits before listening again after losing its
/// connection.
const RECONNECT: Duration = Duration::from_secs(1);

/// The broadcast of committed events, and the signal that ends every subscription
/// when the server stops.
#[derive(Clone)]
pub struct LiveFeed {
    events: broadcast::Sender<Arc<event::Model>>,
    stopped: watch::Sender<bool>,
}

impl Default for LiveFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveFeed {
    pub fn new() -> Self {
        Self {
            events: broadcast::channel(CAPACITY).0,
            stopped: watch::channel(false).0,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<event::Model>> {
        self.events.subscribe()
    }

    /// Completes when the server stops.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopped.subscribe()
    }

    /// Ends every subscription (their streams complete) and the feed itself.
    pub fn stop(&self) {
        self.stopped.send_replace(true);
    }

    /// Feeds the broadcast until [`stop`](Self::stop).
    pub async fn run(self, db: Db, database_url: String) {
        match db.get_database_backend() {
            DbBackend::Postgres => self.listen(db, &database_url).await,
            _ => self.poll(db).await,
        }
    }

    async fn listen(&self, db: Db, database_url: &str) {
        use sea_orm::sqlx::postgres::PgListener;
        let mut stopping = self.stopping();
        loop {
            let listener = async {
                let mut listener = PgListener::connect(database_url).await?;
                listener.listen(NOTIFY_CHANNEL).await?;
                Ok::<_, sea_orm::sqlx::Error>(listener)
            };
            let mut listener = match listener.await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "live feed: cannot listen; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(RECONNECT) => continue,
                        _ = stopping.wait_for(|stop| *stop) => return,
                    }
                }
            };
            loop {
                let notification = tokio::select! {
                    notification = listener.try_recv() => notification,
                    _ = stopping.wait_for(|stop| *stop) => return,
                };
                match notification {
                    Ok(Some(notification)) => {
                        let Ok(id) = notification.payload().parse::<uuid::Uuid>() else {
                            continue;
                        };
                        match event::Entity::find_by_id(id).one(&db).await {
                            Ok(Some(event)) => {
                                let _ = self.events.send(Arc::new(event));
                            }
                            Ok(None) => {}
                            Err(error) => tracing::warn!(%error, "live feed: cannot read an event"),
                        }
                    }
                    // The connection was lost (and notifications meanwhile with it):
                    // listen again.
                    Ok(None) => {
                        tracing::warn!("live feed: connection lost; listening again");
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "live feed: listening failed; listening again");
                        break;
                    }
                }
            }
        }
    }

    async fn poll(&self, db: Db) {
        #[derive(FromQueryResult)]
        struct Last {
            last: Option<i64>,
        }
        let mut stopping = self.stopping();
        let backend = db.get_database_backend();
        let start = Last::find_by_statement(Statement::from_string(
            backend,
            "SELECT MAX(rowid) AS last FROM event",
        ))
        .one(&db)
        .await;
        let mut last = match start {
            Ok(row) => row.and_then(|row| row.last).unwrap_or(0),
            Err(error) => {
                tracing::warn!(%error, "live feed: cannot read the event table");
                0
            }
        };
        loop {
            tokio::select! {
                () = tokio::time::sleep(SQLITE_POLL) => {}
                _ = stopping.wait_for(|stop| *stop) => return,
            }
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    "SELECT rowid AS row, id, kind, customer_id, data, created_at, dispatched_at \
                     FROM event WHERE rowid > ? ORDER BY rowid LIMIT 500",
                    [last.into()],
                ))
                .await;
            match rows {
                Ok(rows) => {
                    for row in rows {
                        let (Ok(position), Ok(event)) = (
                            row.try_get::<i64>("", "row"),
                            event::Model::from_query_result(&row, ""),
                        ) else {
                            continue;
                        };
                        last = position;
                        let _ = self.events.send(Arc::new(event));
                    }
                }
                Err(error) => tracing::warn!(%error, "live feed: cannot read new events"),
            }
        }
    }
}
