//! Reading orders and their line items.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::order::OrderStatus;
use entity::{line_item, order};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, Iterable,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use uuid::Uuid;

use super::pagination::{
    KeyKind, Keyset, PARTITION_COLUMN, Page, PageRequest, pages_by_parent,
    per_parent_pages_queries, time_key,
};
use crate::error::{DomainError, DomainResult};

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct OrderFilter {
    pub customer_id: Option<Uuid>,
    pub status: Option<OrderStatus>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created strictly before.
    pub created_before: Option<DateTime<Utc>>,
}

impl OrderFilter {
    fn condition(&self) -> Condition {
        let mut condition = Condition::all();
        if let Some(customer_id) = self.customer_id {
            condition = condition.add(order::Column::CustomerId.eq(customer_id));
        }
        if let Some(status) = self.status {
            condition = condition.add(order::Column::Status.eq(status));
        }
        if let Some(after) = self.created_after {
            condition = condition.add(order::Column::CreatedAt.gte(after));
        }
        if let Some(before) = self.created_before {
            condition = condition.add(order::Column::CreatedAt.lt(before));
        }
        condition
    }
}

/// Orders are listed newest first.
fn keyset() -> Keyset {
    Keyset {
        name: "order.created_at",
        key: Some((
            Expr::col((order::Entity, order::Column::CreatedAt)),
            KeyKind::Time,
        )),
        id: Expr::col((order::Entity, order::Column::Id)),
        descending: true,
    }
}

pub async fn list(
    db: &impl ConnectionTrait,
    filter: &OrderFilter,
    request: &PageRequest,
) -> DomainResult<Page<order::Model>> {
    let keyset = keyset();
    let mut select = order::Entity::find().filter(filter.condition());
    keyset.apply(QueryTrait::query(&mut select), request)?;
    let rows = select.all(db).await?;
    Ok(Page::from_rows(rows, request, |o| {
        keyset.cursor(time_key(&o.created_at), o.id)
    }))
}

pub async fn count(db: &impl ConnectionTrait, filter: &OrderFilter) -> DomainResult<u64> {
    Ok(order::Entity::find()
        .filter(filter.condition())
        .count(db)
        .await?)
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> DomainResult<order::Model> {
    order::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("order"))
}

/// Each customer's orders, one page per customer, newest first.
pub async fn pages_of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[Uuid],
    request: &PageRequest,
) -> DomainResult<HashMap<Uuid, Page<order::Model>>> {
    let keyset = keyset();
    let branch = |customer_id: Uuid| {
        order::Entity::find()
            .select_only()
            .columns(order::Column::iter())
            .expr_as(Expr::val(customer_id), PARTITION_COLUMN)
            .filter(order::Column::CustomerId.eq(customer_id))
            .into_query()
    };
    let mut orders = Vec::new();
    for query in per_parent_pages_queries(customer_ids, branch, &keyset, request)? {
        for row in db.query_all(&query).await? {
            let model = order::Model::from_query_result(&row, "")?;
            orders.push((model.customer_id, model));
        }
    }
    Ok(pages_by_parent(customer_ids, orders, request, |o| {
        keyset.cursor(time_key(&o.created_at), o.id)
    }))
}

/// How many orders each customer has.
pub async fn counts_of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, u64>> {
    let rows: Vec<(Uuid, i64)> = order::Entity::find()
        .select_only()
        .column(order::Column::CustomerId)
        .column_as(order::Column::Id.count(), "orders")
        .filter(order::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .group_by(order::Column::CustomerId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(customer, orders)| (customer, u64::try_from(orders).unwrap_or(0)))
        .collect())
}

/// Line items of each order, in their original order.
pub async fn line_items_of_orders(
    db: &impl ConnectionTrait,
    order_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, Vec<line_item::Model>>> {
    let rows = line_item::Entity::find()
        .filter(line_item::Column::OrderId.is_in(order_ids.iter().copied()))
        .order_by_asc(line_item::Column::OrderId)
        .order_by_asc(line_item::Column::Position)
        .all(db)
        .await?;
    let mut items: HashMap<Uuid, Vec<line_item::Model>> = HashMap::new();
    for item in rows {
        items.entry(item.order_id).or_default().push(item);
    }
    Ok(items)
}
