//! Objects by id whatever their type, for Relay's `node(id:)` and `nodes(ids:)`.
//!
//! Every id is a UUIDv7 made by this server, so an id names one row of one table and
//! needs no type prefix: looking it up in each table that has `Node` objects finds at
//! most one. A batch of ids costs one statement per table, however many ids.
//!
//! Who may see what is decided here, with the same rules as each type's own lookup:
//! an admin sees every live customer and group and every order and address; a customer
//! sees their own record, orders and addresses; anyone else sees nothing. What the
//! caller may not see is reported exactly like an id that does not exist.

use std::collections::HashMap;

use entity::{address, customer, customer_group, order};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::DomainResult;

/// One object found by id. Short-lived (one per id asked for, at most 100), so the
/// variants stay unboxed though an order is larger than the others.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Found {
    Customer(customer::Model),
    CustomerGroup(customer_group::Model),
    Order(order::Model),
    Address(address::Model),
}

impl Found {
    /// Whether `principal` may see this object through `node`.
    pub fn visible_to(&self, principal: &Principal) -> bool {
        match (principal, self) {
            (Principal::Admin { .. }, Found::Customer(customer)) => customer.deleted_at.is_none(),
            (Principal::Admin { .. }, Found::CustomerGroup(group)) => group.deleted_at.is_none(),
            (Principal::Admin { .. }, Found::Order(_) | Found::Address(_)) => true,
            (Principal::Customer { customer_id, .. }, Found::Customer(customer)) => {
                customer.id == *customer_id && customer.deleted_at.is_none()
            }
            (Principal::Customer { customer_id, .. }, Found::Order(order)) => {
                order.customer_id == *customer_id
            }
            (Principal::Customer { customer_id, .. }, Found::Address(address)) => {
                address.customer_id == *customer_id
            }
            (Principal::Customer { .. }, Found::CustomerGroup(_)) | (Principal::Anonymous, _) => {
                false
            }
        }
    }
}

/// The objects with these ids, in every table that has them; ids found nowhere are
/// absent. Four statements.
pub async fn by_ids(db: &impl ConnectionTrait, ids: &[Uuid]) -> DomainResult<HashMap<Uuid, Found>> {
    let mut found = HashMap::with_capacity(ids.len());
    let ids = || ids.iter().copied();
    for row in customer::Entity::find()
        .filter(customer::Column::Id.is_in(ids()))
        .all(db)
        .await?
    {
        found.insert(row.id, Found::Customer(row));
    }
    for row in customer_group::Entity::find()
        .filter(customer_group::Column::Id.is_in(ids()))
        .all(db)
        .await?
    {
        found.insert(row.id, Found::CustomerGroup(row));
    }
    for row in order::Entity::find()
        .filter(order::Column::Id.is_in(ids()))
        .all(db)
        .await?
    {
        found.insert(row.id, Found::Order(row));
    }
    for row in address::Entity::find()
        .filter(address::Column::Id.is_in(ids()))
        .all(db)
        .await?
    {
        found.insert(row.id, Found::Address(row));
    }
    Ok(found)
}
