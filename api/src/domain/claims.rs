//! Claiming guest orders into an account.
//!
//! A registered customer asks for orders they placed as a guest. Ownership of the
//! order email is proven by a token sent *to that email*, never by the email string
//! alone: [`request`] writes one claim token per order email to the outbox, bound to
//! the requesting customer and to exactly those orders. [`confirm`] spends the token
//! (single-use, expiring, only by the customer who asked) and moves the orders in one
//! transaction, recording each move. The guest record stays: it is history, and a later guest order with that email reuses it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use entity::order::OrderStatus;
use entity::order_transfer::TransferKind;
use entity::{customer, order, order_claim, order_claim_order};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::json;
use uuid::Uuid;

use super::accounts::AccountPolicy;
use super::audit::{self, ActionKind, Actor, Event};
use super::email::Email;
use super::events::DomainEvent;
use super::merges::Merger;
use super::orders;
use super::outbox::{self, Kind, SECRET_KEY};
use super::throttles;
use crate::auth::tokens;
use crate::db;
use crate::db::Db;
use crate::error::{DomainError, DomainResult, TokenProblem};

/// Most order ids one request may name.
pub const MAX_ORDERS_PER_REQUEST: usize = 100;

/// The handle of one `requestOrderClaim` call, returned whatever it found, so the
/// answer says nothing about which orders exist or whose they are.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// Sends a claim token to the email of each group of claimable orders among
/// `order_ids`: guest orders (their customer has no account) that are not canceled.
///
/// At most `mail_limit` tokens go to one address per hour: past it the address is
/// skipped and the answer is the same, so the caller learns nothing.
pub async fn request(
    db: &Db,
    policy: &AccountPolicy,
    customer_id: Uuid,
    order_ids: &[Uuid],
) -> DomainResult<ClaimRequest> {
    let lifetime = policy.tokens.order_claim;
    let mail_limit = &policy.limits.order_claim_mail;
    super::accounts::require_verified(db, policy, customer_id).await?;
    if order_ids.len() > MAX_ORDERS_PER_REQUEST {
        return Err(DomainError::bad_input(
            "orderIds",
            format!("at most {MAX_ORDERS_PER_REQUEST} orders at a time"),
        ));
    }
    let now = db::now();
    let claim_request = ClaimRequest {
        id: Uuid::now_v7(),
        expires_at: now + lifetime,
    };
    let txn = db::begin_write(db).await?;
    let claimable = order::Entity::find()
        .inner_join(customer::Entity)
        .filter(order::Column::Id.is_in(order_ids.iter().copied()))
        .filter(order::Column::Status.ne(OrderStatus::Canceled))
        .filter(customer::Column::HasAccount.eq(false))
        .order_by_asc(order::Column::DisplayId)
        .all(&txn)
        .await?;
    let mut by_email: BTreeMap<String, Vec<order::Model>> = BTreeMap::new();
    for order in claimable {
        by_email.entry(order.email.clone()).or_default().push(order);
    }
    for (email, orders) in by_email {
        if !throttles::allows(&txn, mail_limit, &email).await? {
            continue;
        }
        let token = tokens::generate(tokens::ORDER_CLAIM)?;
        let claim = order_claim::ActiveModel {
            id: Set(Uuid::now_v7()),
            request_id: Set(claim_request.id),
            customer_id: Set(customer_id),
            email: Set(email.clone()),
            token_hash: Set(tokens::hash(&token)),
            created_at: Set(now),
            expires_at: Set(claim_request.expires_at),
            used_at: Set(None),
            canceled_at: Set(None),
        }
        .insert(&txn)
        .await?;
        let rows = orders.iter().map(|o| order_claim_order::ActiveModel {
            order_claim_id: Set(claim.id),
            order_id: Set(o.id),
        });
        order_claim_order::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
        let display_ids: Vec<i64> = orders.iter().map(|o| o.display_id).collect();
        outbox::enqueue(
            &txn,
            &Email::parse(&email, "email")?,
            Kind::OrderClaim,
            json!({
                SECRET_KEY: token,
                "expiresAt": claim_request.expires_at,
                "orderDisplayIds": display_ids,
            }),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(claim_request)
}

fn token_error(reason: TokenProblem) -> DomainError {
    DomainError::InvalidToken { reason }
}

/// Spends a claim token of `customer_id` and moves its orders to them. A token of
/// another customer is as invalid as an unknown one. If any of the orders has changed
/// owner since the request, ALREADY_CLAIMED and nothing changes (the token included).
///
/// With `merge_guests`, the guest records the orders came from are merged into the
/// account too (addresses, groups, notes, timeline, their other orders), in the same
/// transaction: the token proved the customer receives mail at their email, and only
/// guest records of exactly that email are merged.
pub async fn confirm(
    db: &Db,
    policy: &AccountPolicy,
    customer_id: Uuid,
    token: &str,
    merge_guests: bool,
) -> DomainResult<Vec<order::Model>> {
    super::accounts::require_verified(db, policy, customer_id).await?;
    let now = db::now();
    let txn = db::begin_write(db).await?;
    let claim = order_claim::Entity::find()
        .filter(order_claim::Column::TokenHash.eq(tokens::hash(token)))
        .one(&txn)
        .await?
        .filter(|c| c.customer_id == customer_id)
        .ok_or_else(|| token_error(TokenProblem::Invalid))?;
    if claim.used_at.is_some() || claim.canceled_at.is_some() {
        return Err(token_error(TokenProblem::Used));
    }
    if claim.expires_at <= now {
        return Err(token_error(TokenProblem::Expired));
    }
    // Single use: of two concurrent confirmations, one updates the row and the other
    // finds it spent.
    let spent = order_claim::Entity::update_many()
        .col_expr(order_claim::Column::UsedAt, Expr::val(now))
        .filter(order_claim::Column::Id.eq(claim.id))
        .filter(order_claim::Column::UsedAt.is_null())
        .filter(order_claim::Column::CanceledAt.is_null())
        .exec(&txn)
        .await?;
    if spent.rows_affected != 1 {
        return Err(token_error(TokenProblem::Used));
    }

    let order_ids: Vec<Uuid> = order_claim_order::Entity::find()
        .filter(order_claim_order::Column::OrderClaimId.eq(claim.id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|row| row.order_id)
        .collect();
    let orders = order::Entity::find()
        .find_also_related(customer::Entity)
        .filter(order::Column::Id.is_in(order_ids.iter().copied()))
        .order_by_asc(order::Column::DisplayId)
        .all(&txn)
        .await?;
    let still_guest_orders = orders.len() == order_ids.len()
        && orders.iter().all(|(order, owner)| {
            order.status != OrderStatus::Canceled && owner.as_ref().is_some_and(|o| !o.has_account)
        });
    if !still_guest_orders {
        return Err(DomainError::AlreadyClaimed);
    }
    let guests: BTreeSet<Uuid> = orders.iter().map(|(o, _)| o.customer_id).collect();
    let touched: Vec<Uuid> = guests.iter().copied().chain([customer_id]).collect();
    let locked = super::stats::lock(&txn, &touched).await?;
    let moved = order::Entity::update_many()
        .col_expr(order::Column::CustomerId, Expr::val(customer_id))
        .col_expr(order::Column::UpdatedAt, Expr::val(now))
        .filter(order::Column::Id.is_in(order_ids.iter().copied()))
        .filter(order::Column::CustomerId.is_in(guests.iter().copied()))
        .exec(&txn)
        .await?;
    if moved.rows_affected != orders.len() as u64 {
        return Err(DomainError::AlreadyClaimed);
    }
    super::stats::refresh(&txn, locked).await?;
    // On the account that claimed, and on each guest record the orders left.
    let order_ids_moved: Vec<Uuid> = orders.iter().map(|(o, _)| o.id).collect();
    let mut events = vec![Event {
        actor: Actor::Customer,
        kind: ActionKind::OrderClaim,
        customer_id,
        details: Some(json!({ "orderIds": order_ids_moved, "fromCustomerIds": guests })),
    }];
    for guest in &guests {
        events.push(Event {
            actor: Actor::Customer,
            kind: ActionKind::OrderClaim,
            customer_id: *guest,
            details: Some(json!({ "orderIds": order_ids_moved, "toCustomerId": customer_id })),
        });
    }
    for event in events {
        audit::record_by(&txn, event).await?;
    }
    let from: Vec<Uuid> = guests.iter().copied().collect();
    DomainEvent::orders_claimed(&order_ids_moved, customer_id, &from)
        .publish(&txn)
        .await?;
    let before: Vec<order::Model> = orders.into_iter().map(|(order, _)| order).collect();
    orders::record_transfers(
        &txn,
        &before,
        customer_id,
        TransferKind::Claim,
        Some(claim.id),
        None,
    )
    .await?;
    let claimed: Vec<order::Model> = before
        .into_iter()
        .map(|order| order::Model {
            customer_id,
            updated_at: now,
            ..order
        })
        .collect();
    if merge_guests {
        for guest in &guests {
            let proven = super::customers::get(&txn, *guest, false)
                .await
                .is_ok_and(|record| !record.has_account && record.email == claim.email);
            if proven {
                super::merges::merge_in(&txn, Merger::Customer, customer_id, *guest, false).await?;
            }
        }
    }
    txn.commit().await?;
    Ok(claimed)
}

/// Withdraws the pending claims of one request of the customer's; their tokens stop
/// working. Idempotent, and silent about requests that found nothing or are not the
/// caller's.
pub async fn cancel(db: &Db, customer_id: Uuid, request_id: Uuid) -> DomainResult<()> {
    order_claim::Entity::update_many()
        .col_expr(order_claim::Column::CanceledAt, Expr::val(db::now()))
        .filter(order_claim::Column::RequestId.eq(request_id))
        .filter(order_claim::Column::CustomerId.eq(customer_id))
        .filter(order_claim::Column::UsedAt.is_null())
        .filter(order_claim::Column::CanceledAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
