//! Reading address books.

use std::collections::HashMap;

use entity::address;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::error::DomainResult;

pub async fn by_ids(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, address::Model>> {
    Ok(address::Entity::find()
        .filter(address::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect())
}

/// Every address in each customer's book (the billing one included: a customer may
/// ship to it), oldest first.
pub async fn of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, Vec<address::Model>>> {
    let rows = address::Entity::find()
        .filter(address::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .order_by_asc(address::Column::CreatedAt)
        .order_by_asc(address::Column::Id)
        .all(db)
        .await?;
    let mut book: HashMap<Uuid, Vec<address::Model>> = HashMap::new();
    for address in rows {
        book.entry(address.customer_id).or_default().push(address);
    }
    Ok(book)
}
