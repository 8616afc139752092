//! Events out: the changes merchant systems subscribe to (`customer.created`,
//! `order.placed`, ...).
//!
//! [`DomainEvent::publish`] writes an event in the caller's transaction, next to the change it
//! describes, so an event exists exactly when its change committed. [`dispatch`]
//! (run by the outbox worker) fans each new event out to the webhook endpoints that
//! want its type, as outbox messages addressed to the endpoint; the outbox then
//! delivers them with its lease, retries and backoff.
//!
//! Events are thin: ids and which ids changed, never names, emails or addresses. A
//! receiver reads the record it cares about through the admin API, so a log of
//! webhooks holds no personal data and an erasure has nothing to chase.

use entity::{event, outbox_message};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::db;
use crate::db::Db;
use crate::error::{DomainError, DomainResult};

/// Events fanned out per transaction.
pub const DISPATCH_BATCH: u64 = 100;

/// The PostgreSQL channel each committed event's id is announced on.
pub const NOTIFY_CHANNEL: &str = "clientele_events";

/// The outbox recipient of a webhook endpoint's deliveries: `webhook:<name>`.
pub const ENDPOINT_PREFIX: &str = "webhook:";

/// The outbox recipient of the events published to the message broker (NATS).
pub const BROKER_RECIPIENT: &str = "broker:nats";

/// What happened. The dotted names are the API: receivers switch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    CustomerCreated,
    CustomerUpdated,
    CustomerDeleted,
    CustomerRestored,
    CustomerErased,
    CustomerMerged,
    OrderPlaced,
    OrderClaimed,
    OrderTransferred,
    GroupMembershipChanged,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        Self::CustomerCreated,
        Self::CustomerUpdated,
        Self::CustomerDeleted,
        Self::CustomerRestored,
        Self::CustomerErased,
        Self::CustomerMerged,
        Self::OrderPlaced,
        Self::OrderClaimed,
        Self::OrderTransferred,
        Self::GroupMembershipChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomerCreated => "customer.created",
            Self::CustomerUpdated => "customer.updated",
            Self::CustomerDeleted => "customer.deleted",
            Self::CustomerRestored => "customer.restored",
            Self::CustomerErased => "customer.erased",
            Self::CustomerMerged => "customer.merged",
            Self::OrderPlaced => "order.placed",
            Self::OrderClaimed => "order.claimed",
            Self::OrderTransferred => "order.transferred",
            Self::GroupMembershipChanged => "group.membership_changed",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// One event to publish.
#[derive(Debug, Clone)]
pub struct DomainEvent {
    kind: EventType,
    customer_id: Option<Uuid>,
    data: Value,
}

impl DomainEvent {
    /// A change to one customer record (created, updated, deleted, restored, erased).
    pub fn customer(kind: EventType, customer_id: Uuid) -> Self {
        Self {
            kind,
            customer_id: Some(customer_id),
            data: json!({ "customerId": customer_id }),
        }
    }

    /// `from` was merged into `into`; `orderIds` moved with it.
    pub fn customers_merged(into: Uuid, from: Uuid, order_ids: &[Uuid]) -> Self {
        Self {
            kind: EventType::CustomerMerged,
            customer_id: Some(into),
            data: json!({ "customerId": into, "fromCustomerId": from, "orderIds": order_ids }),
        }
    }

    pub fn order_placed(order_id: Uuid, customer_id: Uuid) -> Self {
        Self {
            kind: EventType::OrderPlaced,
            customer_id: Some(customer_id),
            data: json!({ "orderId": order_id, "customerId": customer_id }),
        }
    }

    /// Orders a customer claimed, from the guest records that held them.
    pub fn orders_claimed(order_ids: &[Uuid], customer_id: Uuid, from: &[Uuid]) -> Self {
        Self {
            kind: EventType::OrderClaimed,
            customer_id: Some(customer_id),
            data: json!({
                "orderIds": order_ids,
                "customerId": customer_id,
                "fromCustomerIds": from,
            }),
        }
    }

    /// An order an admin moved to another customer.
    pub fn order_transferred(order_id: Uuid, from: Uuid, to: Uuid) -> Self {
        Self {
            kind: EventType::OrderTransferred,
            customer_id: Some(to),
            data: json!({ "orderId": order_id, "fromCustomerId": from, "toCustomerId": to }),
        }
    }

    /// Customers added to or removed from a group, in one change.
    pub fn membership_changed(group_id: Uuid, added: &[Uuid], removed: &[Uuid]) -> Self {
        let only = match (added, removed) {
            ([one], []) | ([], [one]) => Some(*one),
            _ => None,
        };
        Self {
            kind: EventType::GroupMembershipChanged,
            customer_id: only,
            data: json!({ "groupId": group_id, "added": added, "removed": removed }),
        }
    }
}

impl DomainEvent {
    /// Records the event in the caller's transaction: it exists exactly when the
    /// change does.
    pub async fn publish(self, db: &impl ConnectionTrait) -> DomainResult<()> {
        let id = Uuid::now_v7();
        event::Entity::insert(event::ActiveModel {
            id: Set(id),
            kind: Set(self.kind.as_str().to_owned()),
            customer_id: Set(self.customer_id),
            data: Set(self.data),
            created_at: Set(db::now()),
            dispatched_at: Set(None),
        })
        .exec_without_returning(db)
        .await?;
        // PostgreSQL delivers the notification when (and if) this transaction commits,
        // to every instance's live feed (`crate::live`).
        if db.get_database_backend() == DbBackend::Postgres {
            db.query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [NOTIFY_CHANNEL.into(), id.to_string().into()],
            ))
            .await?;
        }
        Ok(())
    }
}

/// Which event types an endpoint wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wants {
    Every,
    /// Every type of a family: `customer.*`.
    Family(String),
    One(EventType),
}

impl Wants {
    /// `*`, `customer.*`, or a type's name; `None` for anything else.
    pub fn parse(pattern: &str) -> Option<Self> {
        if pattern == "*" {
            return Some(Self::Every);
        }
        if let Some(family) = pattern.strip_suffix(".*") {
            let known = EventType::ALL
                .iter()
                .any(|kind| kind.as_str().starts_with(&format!("{family}.")));
            return known.then(|| Self::Family(family.to_owned()));
        }
        EventType::parse(pattern).map(Self::One)
    }

    fn matches(&self, kind: &str) -> bool {
        match self {
            Self::Every => true,
            Self::Family(family) => kind
                .strip_prefix(family.as_str())
                .is_some_and(|rest| rest.starts_with('.')),
            Self::One(one) => one.as_str() == kind,
        }
    }
}

/// A webhook endpoint or the broker, as the dispatcher sees it: the outbox
/// recipient of its deliveries and what it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub recipient: String,
    pub wants: Vec<Wants>,
}

impl Subscriber {
    /// The webhook endpoint called `name`.
    pub fn endpoint(name: &str, wants: Vec<Wants>) -> Self {
        Self {
            recipient: format!("{ENDPOINT_PREFIX}{name}"),
            wants,
        }
    }

    /// The message broker, which takes every event.
    pub fn broker() -> Self {
        Self {
            recipient: BROKER_RECIPIENT.to_owned(),
            wants: vec![Wants::Every],
        }
    }

    fn wants(&self, kind: &str) -> bool {
        self.wants.iter().any(|wants| wants.matches(kind))
    }
}

/// What an endpoint receives: the body of the POST.
fn envelope(event: &event::Model) -> Value {
    json!({
        "id": event.id,
        "type": event.kind,
        "occurredAt": event.created_at,
        "data": event.data,
    })
}

/// Fans out up to a batch of new events, oldest first, in one transaction: each
/// becomes one outbox message per endpoint that wants its type, and is marked
/// dispatched. Of two workers, each event goes to the one whose update marked it
/// (the other's update finds it dispatched). Returns how many events it took.
pub async fn dispatch(db: &Db, subscribers: &[Subscriber]) -> DomainResult<usize> {
    // Read first, outside a write transaction: most rounds find nothing, and on
    // SQLite a write transaction holds the one writer's lock.
    let pending: Vec<Uuid> = event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .filter(event::Column::DispatchedAt.is_null())
        .order_by_asc(event::Column::Id)
        .limit(DISPATCH_BATCH)
        .into_tuple()
        .all(db)
        .await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let txn = db::begin_write(db).await?;
    let now = db::now();
    let mut taken = event::Entity::update_many()
        .col_expr(event::Column::DispatchedAt, Expr::val(now))
        .filter(event::Column::Id.is_in(pending))
        .filter(event::Column::DispatchedAt.is_null())
        .exec_with_returning(&txn)
        .await?;
    taken.sort_by_key(|event| event.id);
    let deliveries: Vec<outbox_message::ActiveModel> = taken
        .iter()
        .flat_map(|event| {
            subscribers
                .iter()
                .filter(|subscriber| subscriber.wants(&event.kind))
                .map(move |subscriber| outbox_message::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    recipient: Set(subscriber.recipient.clone()),
                    kind: Set(event.kind.clone()),
                    payload: Set(envelope(event)),
                    created_at: Set(now),
                    attempts: Set(0),
                    next_attempt_at: Set(now),
                    delivered_at: Set(None),
                    last_error: Set(None),
                })
        })
        .collect();
    for chunk in deliveries.chunks(500) {
        outbox_message::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(taken.len())
}

/// Who an outbox message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient<'a> {
    /// A merchant system's webhook endpoint, by name.
    Endpoint(&'a str),
    /// The message broker.
    Broker,
    /// A customer's address: mail, to the sink.
    Customer,
}

impl<'a> Recipient<'a> {
    pub fn of(recipient: &'a str) -> Self {
        match recipient.strip_prefix(ENDPOINT_PREFIX) {
            Some(name) => Self::Endpoint(name),
            None if recipient == BROKER_RECIPIENT => Self::Broker,
            None => Self::Customer,
        }
    }
}

/// Checks an endpoint's name: 1 to 40 of `a-z 0-9 - _`.
pub fn check_endpoint_name(name: &str) -> DomainResult<()> {
    let fine = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if fine {
        Ok(())
    } else {
        Err(DomainError::bad_input(
            "name",
            format!("endpoint name {name:?}: use 1 to 40 of a-z, 0-9, - and _"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_name_types_families_or_everything() {
        assert_eq!(Wants::parse("*"), Some(Wants::Every));
        assert_eq!(
            Wants::parse("order.placed"),
            Some(Wants::One(EventType::OrderPlaced))
        );
        let customers = Wants::parse("customer.*").unwrap();
        assert!(customers.matches("customer.erased"));
        assert!(!customers.matches("order.placed"));
        assert!(!Wants::Family("custom".into()).matches("customer.created"));
        assert_eq!(Wants::parse("customers.*"), None);
        assert_eq!(Wants::parse("customer.exploded"), None);
    }
}
