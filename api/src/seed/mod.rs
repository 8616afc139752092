//! `clientele seed --customers N`: deterministic demo data for exploring and
//! benchmarking. The same N always gives the same rows (ids included): times start at
//! a fixed date and every choice comes from a seeded generator.
//!
//! About half the customers are guests; one registered customer in ten shares its
//! email with a guest (one live guest and one live registered record per email). Each customer has 1-3
//! addresses (registered ones bill to the first), 0-3 of the 20 groups, and 0-4
//! orders of 1-3 lines. Rows go in with multi-row INSERTs inside one transaction.

mod bulk;
mod generator;

use std::fmt;

use entity::{customer, customer_credential, customer_group};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait};

use crate::auth::passwords::Passwords;
use crate::error::{DomainError, DomainResult};
use bulk::insert_chunked;
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
const TABLES: [&str; 6] = [
    "customer_group",
    "customer",
    "address",
    "customer_group_customer",
    "order",
    "line_item",
];

/// Customers generated and written at a time: the seed's memory stays that of one
/// chunk (a few megabytes) however many customers it writes.
const CUSTOMERS_PER_CHUNK: usize = 2_000;

/// Writes the demo data. Refuses a database that already has customers, so it never
/// mixes with real data.
pub async fn run(db: &DatabaseConnection, customers: u32) -> DomainResult<Summary> {
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
    let mut generator = Generator::new(customers as usize);
    let mut summary = Summary {
        groups: generator.groups.len(),
        ..Summary::default()
    };
    let txn = crate::db::begin_write(db).await?;
    let set_aside = bulk::set_aside(&txn, &TABLES).await?;
    let groups: Vec<customer_group::ActiveModel> =
        generator.groups.iter().cloned().map(Into::into).collect();
    insert_chunked(&txn, groups).await?;
    while let Some(chunk) = generator.next_chunk(CUSTOMERS_PER_CHUNK) {
        summary.add(&chunk);
        insert_chunked(&txn, chunk.customers).await?;
        insert_chunked(&txn, chunk.addresses).await?;
        insert_chunked(&txn, chunk.memberships).await?;
        insert_chunked(&txn, chunk.orders).await?;
        insert_chunked(&txn, chunk.line_items).await?;
    }
    // Registered demo customers all log in with the demo password.
    let credentials = Query::update()
        .table(customer::Entity)
        .value(
            customer_credential::Column::PasswordHash,
            demo_password_hash,
        )
        .and_where(Expr::col(customer::Column::HasAccount).eq(true))
        .to_owned();
    txn.execute(&credentials).await?;
    tracing::info!(elapsed_ms = started.elapsed().as_millis(), "rows written");
    // Order numbers follow placement time, as they would have in a live store; orders
    // were written with distinct negative placeholders so no step of this renumbering
    // meets the unique index on a number still in use.
    txn.execute_unprepared(
        "UPDATE \"order\" SET display_id = numbered.n FROM \
         (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM \"order\") AS numbered \
         WHERE \"order\".id = numbered.id",
    )
    .await?;
    // New orders continue the numbering after the demo ones.
    txn.execute_unprepared(
        "UPDATE counter SET value = (SELECT COALESCE(MAX(display_id), 0) FROM \"order\") \
         WHERE name = 'order_display_id'",
    )
    .await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis(),
        "order numbers set"
    );
    set_aside.restore(&txn).await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis(),
        "indexes and foreign keys back"
    );
    // With the indexes back: each customer's numbers are one index lookup.
    crate::domain::stats::refresh_all(&txn).await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis(),
        "customer order numbers set"
    );
    txn.commit().await?;
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

impl Summary {
    fn add(&mut self, chunk: &Chunk) {
        self.customers += chunk.customers.len();
        self.memberships += chunk.memberships.len();
        self.addresses += chunk.addresses.len();
        self.orders += chunk.orders.len();
        self.line_items += chunk.line_items.len();
    }
}
