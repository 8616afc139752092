//! `clientele seed --customers N`: deterministic demo data for exploring and
//! benchmarking. The same N always gives the same rows (ids included): times start at
//! a fixed date and every choice comes from a seeded generator.
//!
//! About half the customers are guests; one registered customer in ten shares its
//! email with a guest (one live guest and one live registered record per email). Each customer has 1-3
//! addresses (registered ones bill to the first), 0-3 of the 20 groups, and 0-4
//! orders of 1-3 lines. Each table goes in as one stream of rows, all in one
//! transaction (bulk.rs).

mod bulk;
mod generator;

use std::fmt;
use std::sync::Arc;

use entity::{customer, customer_group};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};

use crate::auth::passwords::Passwords;
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use bulk::Loader;
use generator::{Chunk, Generator};

/// Every registered demo customer logs in with this password.
pub const DEMO_PASSWORD: &str = "demo password";

/// How many rows the seed wrote.
#[derive(Debug, Default)]
pub struct Summary {
    pub customers: usize,
    pub groups: usize,
    pub memberships: usize,
    pub addresses: usize,
    pub orders: usize,
    pub line_items: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} customers, {} groups, {} memberships, {} addresses, {} orders, {} line items",
            self.customers,
            self.groups,
            self.memberships,
            self.addresses,
            self.orders,
            self.line_items
        )
    }
}

/// The tables the seed fills.
const TABLES: [&str; 7] = [
    "customer_group",
    "customer",
    "address",
    "customer_group_customer",
    "order",
    "line_item",
    "customer_spend",
];

/// Customers generated and written at a time: the seed's memory stays that of one
/// chunk (a few megabytes) however many customers it writes.
const CUSTOMERS_PER_CHUNK: usize = 2_000;

/// Writes the demo data. Refuses a database that already has customers, so it never
/// mixes with real data.
pub async fn run(db: &Db, customers: u32) -> DomainResult<Summary> {
    if customer::Entity::find().count(db).await? > 0 {
        return Err(DomainError::bad_input(
            "customers",
            "the database already has customers; seed only fills an empty one",
        ));
    }
    let started = std::time::Instant::now();
    // One hash for every registered demo customer: hashing 50,000 passwords would take
    // minutes, and demo accounts need no distinct salts.
    let demo_password_hash = Passwords::new(1).hash(DEMO_PASSWORD).await?;
    let generator = Generator::new(customers as usize);
    let mut summary = Summary {
        groups: generator.groups.len(),
        ..Summary::default()
    };
    let groups: Vec<customer_group::ActiveModel> =
        generator.groups.iter().cloned().map(Into::into).collect();
    let count = customers as usize;
    // Numbered while the first tables go in: only the orders' pass needs them.
    let numbers =
        tokio::task::spawn_blocking(move || generator::order_numbers(count, CUSTOMERS_PER_CHUNK));
    let mut loader = Loader::begin(db, &TABLES).await?;
    let mut groups = Some(groups);
    loader.write(generate(move || groups.take())).await?;
    summary.customers = loader
        .write(rows(Generator::new(count), |c| c.customers))
        .await?;
    summary.addresses = loader
        .write(rows(Generator::new(count), |c| c.addresses))
        .await?;
    summary.memberships = loader
        .write(rows(Generator::new(count), |c| c.memberships))
        .await?;
    let numbers = Arc::new(numbers.await?);
    summary.orders = loader
        .write(rows(Generator::numbered(count, numbers), |c| c.orders))
        .await?;
    summary.line_items = loader
        .write(rows(Generator::new(count), |c| c.line_items))
        .await?;
    loader
        .write(rows(Generator::new(count), |c| c.spend))
        .await?;
    // Registered demo customers all log in with the demo password. The hash is ours
    // (a PHC string: letters, digits and `$,=+/`), so it goes in as a literal.
    debug_assert!(!demo_password_hash.contains('\''));
    loader
        .execute(&format!(
            "UPDATE customer SET password_hash = '{demo_password_hash}' WHERE has_account"
        ))
        .await?;
    tracing::info!(elapsed_ms = started.elapsed().as_millis(), "rows written");
    // New orders continue the numbering after the demo ones.
    loader
        .execute(
            "UPDATE counter SET value = (SELECT COALESCE(MAX(display_id), 0) FROM \"order\") \
             WHERE name = 'order_display_id'",
        )
        .await?;
    loader.restore().await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis(),
        "indexes and foreign keys back"
    );
    loader.commit().await?;
    // Fresh statistics: without them PostgreSQL plans the first queries on a bulk-filled
    // database as if its tables were empty (seconds instead of milliseconds for a page
    // of 100 customers with every relation). SQLite's planner uses them too.
    db.execute_unprepared("ANALYZE").await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis(),
        "statistics updated"
    );
    Ok(summary)
}

/// One table's rows, a chunk at a time: one pass of the generator (deterministic, so every pass makes the same customers) that keeps the
/// rows `pick` takes. A pass per table lets each table go in as one COPY: every COPY
/// costs round trips that sqlx's missing TCP_NODELAY makes wait for delayed ACKs
/// (about 40 ms each; 350 COPYs of chunks took 13 s of the seed's 28).
fn rows<A: Send + 'static>(
    mut generator: Generator,
    pick: fn(Chunk) -> Vec<A>,
) -> tokio::sync::mpsc::Receiver<Vec<A>> {
    generate(move || generator.next_chunk(CUSTOMERS_PER_CHUNK).map(pick))
}

/// What `next` makes until it returns `None`, made on a thread of its own one chunk
/// ahead of the loader: the database writes one chunk while the next is generated.
fn generate<A: Send + 'static>(
    mut next: impl FnMut() -> Option<Vec<A>> + Send + 'static,
) -> tokio::sync::mpsc::Receiver<Vec<A>> {
    let (chunks, received) = tokio::sync::mpsc::channel(1);
    tokio::task::spawn_blocking(move || {
        while let Some(chunk) = next() {
            // Refused only when the loader stopped (it failed): nothing more to make.
            if chunks.blocking_send(chunk).is_err() {
                break;
            }
        }
    });
    received
}
