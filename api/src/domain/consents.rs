//! Consents: whether a customer agreed to email or SMS marketing, with the record of
//! every change (when, and whether the customer or an admin on their word made it).
//! A purpose never recorded is not consented to.

use std::collections::HashMap;

use entity::customer;
use entity::customer_consent::{self, ConsentPurpose, ConsentSource};
use sea_orm::{
    ActiveEnum, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Action, ActionKind, Subject};
use super::events::{DomainEvent, EventType};
use crate::db;
use crate::db::Db;
use crate::error::{DomainError, DomainResult};

/// Who records a change.
#[derive(Debug, Clone, Copy)]
pub enum RecordedBy {
    Customer,
    Admin(Uuid),
}

/// Records that a live customer gives (`granted`) or withdraws consent to `purpose`,
/// in one transaction with its timeline event. Stating what is already recorded
/// changes and records nothing. NOT_FOUND for a customer that is not live.
pub async fn set(
    db: &Db,
    by: RecordedBy,
    customer_id: Uuid,
    purpose: ConsentPurpose,
    granted: bool,
) -> DomainResult<()> {
    let txn = db::begin_write(db).await?;
    // The customer's row, locked (PostgreSQL; SQLite's write transactions are serial
    // already): concurrent changes of one customer's consents read in turn.
    customer::Entity::find_by_id(customer_id)
        .filter(customer::Column::DeletedAt.is_null())
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("customer"))?;
    let current = customer_consent::Entity::find()
        .filter(customer_consent::Column::CustomerId.eq(customer_id))
        .filter(customer_consent::Column::Purpose.eq(purpose))
        .order_by_desc(customer_consent::Column::Id)
        .one(&txn)
        .await?
        .is_some_and(|latest| latest.granted);
    if current == granted {
        return Ok(());
    }
    let source = match by {
        RecordedBy::Customer => ConsentSource::Customer,
        RecordedBy::Admin(_) => ConsentSource::Admin,
    };
    customer_consent::Entity::insert(customer_consent::ActiveModel {
        id: Set(Uuid::now_v7()),
        customer_id: Set(customer_id),
        purpose: Set(purpose),
        granted: Set(granted),
        source: Set(source),
        recorded_at: Set(db::now()),
    })
    .exec_without_returning(&txn)
    .await?;
    let details = Some(json!({ "purpose": purpose.to_value(), "granted": granted }));
    match by {
        RecordedBy::Customer => {
            audit::customer_did(&txn, customer_id, ActionKind::ConsentChange, details).await?
        }
        RecordedBy::Admin(admin_id) => {
            audit::record(
                &txn,
                Action {
                    admin_id,
                    kind: ActionKind::ConsentChange,
                    subject: Subject::Customer(customer_id),
                    details,
                },
            )
            .await?
        }
    }
    DomainEvent::customer(EventType::CustomerUpdated, customer_id)
        .publish(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Each customer's current consents: the latest record per purpose, by purpose.
pub async fn current_of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, Vec<customer_consent::Model>>> {
    let rows = customer_consent::Entity::find()
        .filter(customer_consent::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .order_by_asc(customer_consent::Column::Id)
        .all(db)
        .await?;
    // The log is short (a change per click); the latest row of each purpose wins.
    let mut latest: HashMap<(Uuid, ConsentPurpose), customer_consent::Model> = HashMap::new();
    for row in rows {
        latest.insert((row.customer_id, row.purpose), row);
    }
    let mut current: HashMap<Uuid, Vec<customer_consent::Model>> = HashMap::new();
    for ((customer, _), row) in latest {
        current.entry(customer).or_default().push(row);
    }
    for rows in current.values_mut() {
        rows.sort_by_key(|row| row.purpose.to_value());
    }
    Ok(current)
}
