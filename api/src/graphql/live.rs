//! Subscriptions for admins, over WebSocket (`graphql-transport-ws`): the events of
//! one customer, and every order placed, as they commit.
//!
//! A subscription re-checks its session every [`SESSION_RECHECK`]: a session that
//! was revoked, expired or logged out ends its subscriptions with UNAUTHENTICATED.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::futures_util::Stream;
use async_graphql::{Context, ID, Json, Object, Result, Subscription};
use chrono::{DateTime, Utc};
use entity::event;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::context::{ContextExt, parse_id, to_id};
use crate::auth::{Caller, Principal};
use crate::domain::events::EventType;
use crate::error::DomainError;
use crate::live::LiveFeed;

/// How often an open subscription checks that its session still stands.
pub const SESSION_RECHECK: Duration = Duration::from_secs(2);

/// One committed event: the same thin event the webhooks carry (docs/events.md).
pub struct LiveEvent(Arc<event::Model>);

#[Object]
impl LiveEvent {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The event type: `customer.updated`, `order.placed`, ...
    #[graphql(name = "type")]
    async fn kind(&self) -> &str {
        &self.0.kind
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The customer the event is about, where it is about one.
    async fn customer_id(&self) -> Option<ID> {
        self.0.customer_id.map(to_id)
    }

    /// The ids the event names (`orderId`, `groupId`, `added`, ...).
    async fn data(&self) -> Json<serde_json::Value> {
        Json(self.0.data.clone())
    }
}

#[derive(Default)]
pub struct LiveSubscription;

#[Subscription(name = "Subscription")]
impl LiveSubscription {
    /// Every event about one customer (admin only), from now on: changes to the
    /// record, its orders placed, claimed or moved, its group memberships, a merge.
    async fn customer_events(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
    ) -> Result<impl Stream<Item = Result<LiveEvent>> + use<>> {
        let id = parse_id(&customer_id, "customerId")?;
        watch(ctx, move |event| mentions(event, id)).await
    }

    /// Every order placed (admin only), from now on.
    async fn order_placed(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<LiveEvent>> + use<>> {
        watch(ctx, |event| event.kind == EventType::OrderPlaced.as_str()).await
    }
}

/// Whether an event is about `customer`: its subject, or one of the ids it names.
fn mentions(event: &event::Model, customer: Uuid) -> bool {
    if event.customer_id == Some(customer) {
        return true;
    }
    let id = customer.to_string();
    let names = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => *text == id,
        serde_json::Value::Array(items) => items.iter().any(|item| item.as_str() == Some(&id)),
        _ => false,
    };
    event
        .data
        .as_object()
        .is_some_and(|fields| fields.values().any(names))
}

/// The committed events that `wanted` keeps, for an admin, until the session ends or
/// the server stops.
async fn watch<F>(
    ctx: &Context<'_>,
    wanted: F,
) -> Result<impl Stream<Item = Result<LiveEvent>> + use<F>>
where
    F: Fn(&event::Model) -> bool + Send + 'static,
{
    ctx.principal().await?.require_admin()?;
    let caller = ctx
        .data_opt::<Arc<Caller>>()
        .cloned()
        .ok_or(DomainError::Unauthenticated)?;
    let db = ctx.db().clone();
    let feed = ctx.data_unchecked::<LiveFeed>();
    let mut events = feed.subscribe();
    let mut stopping = feed.stopping();
    Ok(async_stream::stream! {
        let mut recheck = tokio::time::interval(SESSION_RECHECK);
        recheck.tick().await;
        loop {
            tokio::select! {
                received = events.recv() => match received {
                    Ok(event) if wanted(&event) => yield Ok(LiveEvent(event)),
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        yield Err(DomainError::bad_input(
                            "subscription",
                            format!("{missed} events were missed: this subscriber fell behind"),
                        ).into());
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = recheck.tick() => {
                    if !matches!(caller.recheck(&db).await, Ok(Principal::Admin { .. })) {
                        yield Err(DomainError::Unauthenticated.into());
                        break;
                    }
                }
                _ = stopping.changed() => break,
            }
        }
    })
}
