//! The numbers admins sort and filter customers by: `order_count`, `last_order_at`
//! and the spend per currency (`customer_spend`), stored on the customer so a list
//! never aggregates over every order.
//!
//! Every change of an order's existence or owner (placing, claiming, transferring)
//! [`lock`]s the customers it touches *before* it changes any order, and updates their
//! numbers after, in the same transaction. The lock (a row lock on PostgreSQL; SQLite's
//! write transactions are serial already) makes a concurrent change of the same
//! customer wait until this one commits, and what it then reads or adds already
//! includes this one's orders, so the numbers stay exact however changes interleave. It must come first:
//! writing an order takes a share lock on its customer (the foreign key), and two
//! transactions that each hold one and then ask for the row lock deadlock.
//! A new order is added to its customer's numbers ([`add_order`]: two statements,
//! whatever the customer's history; a customer with thousands of orders pays the same
//! as a new one). An order that moves away is taken out by recomputing from the
//! orders that remain ([`refresh`]), which also keeps `last_order_at` right.

use std::collections::HashMap;

use entity::order::OrderStatus;
use entity::{customer, customer_spend, order};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::error::DomainResult;

/// Whether an order's total is part of its customer's spend: canceled orders are not.
pub fn counts_toward_spend(status: OrderStatus) -> bool {
    status != OrderStatus::Canceled
}

/// Customers whose orders this transaction may now change: proof that [`lock`] ran.
#[must_use = "refresh the locked customers after changing their orders"]
pub struct Locked(Vec<Uuid>);

impl Locked {
    pub fn covers(&self, customer_id: Uuid) -> bool {
        self.0.contains(&customer_id)
    }

    /// Both sets, for a transaction that had to lock more.
    pub fn and(mut self, more: Locked) -> Locked {
        self.0.extend(more.0);
        self.0.sort_unstable();
        self.0.dedup();
        self
    }
}

/// Locks the rows of `customer_ids` until the transaction ends. One statement.
pub async fn lock(db: &impl ConnectionTrait, customer_ids: &[Uuid]) -> DomainResult<Locked> {
    let mut ids = customer_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    // In id order, so two transactions locking overlapping sets cannot deadlock.
    customer::Entity::find()
        .select_only()
        .column(customer::Column::Id)
        .filter(customer::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(customer::Column::Id)
        .lock_exclusive()
        .into_tuple::<Uuid>()
        .all(db)
        .await?;
    Ok(Locked(ids))
}

/// Adds a newly placed `order` to its (locked) customer's numbers.
pub async fn add_order(
    db: &impl ConnectionTrait,
    locked: Locked,
    order: &order::Model,
) -> DomainResult<()> {
    debug_assert!(locked.covers(order.customer_id));
    let last = Expr::col(customer::Column::LastOrderAt);
    let newest = Expr::case(
        last.clone().is_null().or(last.clone().lt(order.created_at)),
        Expr::val(order.created_at),
    )
    .finally(last);
    customer::Entity::update_many()
        .col_expr(
            customer::Column::OrderCount,
            Expr::col(customer::Column::OrderCount).add(1),
        )
        .col_expr(customer::Column::LastOrderAt, newest.into())
        .filter(customer::Column::Id.eq(order.customer_id))
        .exec(db)
        .await?;
    if !counts_toward_spend(order.status) {
        return Ok(());
    }
    let upsert = Query::insert()
        .into_table(customer_spend::Entity)
        .columns([
            customer_spend::Column::CustomerId,
            customer_spend::Column::CurrencyCode,
            customer_spend::Column::Amount,
        ])
        .values_panic([
            order.customer_id.into(),
            order.currency_code.clone().into(),
            order.total.into(),
        ])
        .on_conflict(
            OnConflict::columns([
                customer_spend::Column::CustomerId,
                customer_spend::Column::CurrencyCode,
            ])
            .value(
                customer_spend::Column::Amount,
                Expr::col((customer_spend::Entity, customer_spend::Column::Amount)).add(Expr::col(
                    (Alias::new("excluded"), customer_spend::Column::Amount),
                )),
            )
            .to_owned(),
        )
        .to_owned();
    db.execute(&upsert).await?;
    Ok(())
}

/// Recomputes the numbers of the locked customers from their orders. Three
/// statements, however many customers.
pub async fn refresh(db: &impl ConnectionTrait, locked: Locked) -> DomainResult<()> {
    let customer_ids = locked.0;
    if customer_ids.is_empty() {
        return Ok(());
    }
    let ids = || customer_ids.iter().copied();
    let of_this_customer = Expr::col((order::Entity, order::Column::CustomerId))
        .equals((customer::Entity, customer::Column::Id));
    let count = Query::select()
        .expr(Expr::col((order::Entity, order::Column::Id)).count())
        .from(order::Entity)
        .and_where(of_this_customer.clone())
        .to_owned();
    let newest = Query::select()
        .expr(Expr::col((order::Entity, order::Column::CreatedAt)).max())
        .from(order::Entity)
        .and_where(of_this_customer)
        .to_owned();
    customer::Entity::update_many()
        .col_expr(
            customer::Column::OrderCount,
            Expr::SubQuery(None, Box::new(count.into())),
        )
        .col_expr(
            customer::Column::LastOrderAt,
            Expr::SubQuery(None, Box::new(newest.into())),
        )
        .filter(customer::Column::Id.is_in(ids()))
        .exec(db)
        .await?;
    customer_spend::Entity::delete_many()
        .filter(customer_spend::Column::CustomerId.is_in(ids()))
        .exec(db)
        .await?;
    let totals = Query::select()
        .columns([order::Column::CustomerId, order::Column::CurrencyCode])
        .expr(Expr::col(order::Column::Total).sum())
        .from(order::Entity)
        .and_where(Expr::col(order::Column::CustomerId).is_in(ids()))
        .and_where(Expr::col(order::Column::Status).ne(OrderStatus::Canceled))
        .group_by_columns([order::Column::CustomerId, order::Column::CurrencyCode])
        .to_owned();
    let insert = Query::insert()
        .into_table(customer_spend::Entity)
        .columns([
            customer_spend::Column::CustomerId,
            customer_spend::Column::CurrencyCode,
            customer_spend::Column::Amount,
        ])
        .select_from(totals)
        .map_err(crate::error::DomainError::internal)?
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// The spend of each customer, by currency code in alphabetical order.
pub async fn spend_of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, Vec<customer_spend::Model>>> {
    let rows = customer_spend::Entity::find()
        .filter(customer_spend::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .order_by_asc(customer_spend::Column::CurrencyCode)
        .all(db)
        .await?;
    let mut spend: HashMap<Uuid, Vec<customer_spend::Model>> = HashMap::new();
    for row in rows {
        spend.entry(row.customer_id).or_default().push(row);
    }
    Ok(spend)
}
