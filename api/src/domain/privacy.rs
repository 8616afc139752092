//! The person behind a customer record: everything stored about them, as one JSON
//! document (a subject-access export), and forgetting them (erasure), which an admin
//! asks for or the guest retention rule applies.
//!
//! The export is built from the entities themselves (each model serialises every
//! column but its secrets), so a column added later is exported without a change
//! here; [`COVERED_TABLES`] names where each table with a customer reference lands,
//! and a test compares it with the database's catalog, so a table added later fails
//! that test until it is exported.
//!
//! Erasure keeps what the accounts need (each order's amounts, lines, dates, currency
//! and the countries of its addresses, the customer's spend and group memberships)
//! and removes or overwrites everything that names the person. It cannot be undone.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use entity::order::AddressSnapshot;
use entity::{
    address, admin_action, customer, customer_consent, customer_credential, customer_group,
    customer_group_customer, customer_note, customer_spend, customer_token, event, line_item,
    order, order_claim, order_claim_order, order_transfer, outbox_message, session,
};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IsolationLevel, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit::{self, Action, ActionKind, Actor, Event, STAFF_ONLY, Subject};
use super::events::{DomainEvent, EventType};
use crate::db;
use crate::db::Db;
use crate::error::{DomainError, DomainResult};

/// The export's `format`: a receiver checks it before reading the rest.
pub const EXPORT_FORMAT: &str = "clientele.subject-access.v1";

/// Each table that refers to a customer (directly, or through an order or claim of
/// theirs), and the JSON pointer in the staff export where its rows are.
/// `throttle` is not here: its keys are one-way hashes that name nobody.
pub const COVERED_TABLES: [(&str, &str); 16] = [
    ("customer", "/customer"),
    ("customer_spend", "/customer/spend"),
    ("address", "/addresses"),
    ("customer_group_customer", "/groups"),
    ("order", "/orders"),
    ("line_item", "/orders/0/lines"),
    ("order_claim", "/claims"),
    ("order_claim_order", "/claims/0/orderIds"),
    ("order_transfer", "/transfers"),
    ("admin_action", "/timeline"),
    ("customer_note", "/notes"),
    ("session", "/sessions"),
    ("customer_token", "/tokens"),
    ("outbox_message", "/messages"),
    ("event", "/events"),
    ("customer_consent", "/consents"),
];

/// Tables that refer to a customer but hold only what the customer's own columns
/// hold, kept by triggers: exported as those columns, and erased with them.
pub const DERIVED_TABLES: [&str; 1] = [
    // SQLite's search index (migration 18).
    "customer_search_row",
];

/// Who reads an export: the staff see everything; the customer sees what the API
/// shows them of themselves (no staff notes, no admins' identities or details).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Staff,
    Customer,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Export {
    format: &'static str,
    exported_at: DateTime<Utc>,
    customer: Profile,
    addresses: Vec<address::Model>,
    groups: Vec<Membership>,
    orders: Vec<OrderRecord>,
    claims: Vec<ClaimRecord>,
    transfers: Vec<order_transfer::Model>,
    timeline: Vec<admin_action::Model>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<Vec<customer_note::Model>>,
    sessions: Vec<session::Model>,
    tokens: Vec<customer_token::Model>,
    messages: Vec<Message>,
    /// The events published about the customer, not yet removed by housekeeping.
    events: Vec<event::Model>,
    /// Every consent given or withdrawn, oldest first.
    consents: Vec<customer_consent::Model>,
}

#[derive(Serialize)]
struct Profile {
    #[serde(flatten)]
    customer: customer::Model,
    spend: Vec<customer_spend::Model>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Membership {
    group_id: Uuid,
    name: String,
    joined_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct OrderRecord {
    #[serde(flatten)]
    order: order::Model,
    lines: Vec<line_item::Model>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClaimRecord {
    #[serde(flatten)]
    claim: order_claim::Model,
    order_ids: Vec<Uuid>,
}

/// A message sent (or to be sent) to one of the customer's addresses, its secret
/// replaced.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    id: Uuid,
    kind: String,
    recipient: String,
    payload: Value,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

/// Everything stored about one customer record, deleted or not, read in one snapshot.
/// A fixed number of statements, whatever the customer has.
pub async fn export(db: &Db, id: Uuid, reader: Reader) -> DomainResult<Value> {
    // One snapshot, so an order placed meanwhile is in every section or in none. A
    // SQLite transaction reads one snapshot from its first read.
    let txn = match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        _ => db.begin().await?,
    };
    let customer = customer::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("customer"))?;
    let spend = customer_spend::Entity::find()
        .filter(customer_spend::Column::CustomerId.eq(id))
        .order_by_asc(customer_spend::Column::CurrencyCode)
        .all(&txn)
        .await?;
    let addresses = address::Entity::find()
        .filter(address::Column::CustomerId.eq(id))
        .order_by_asc(address::Column::Id)
        .all(&txn)
        .await?;
    let groups = customer_group_customer::Entity::find()
        .filter(customer_group_customer::Column::CustomerId.eq(id))
        .find_also_related(customer_group::Entity)
        .order_by_asc(customer_group_customer::Column::CreatedAt)
        .all(&txn)
        .await?
        .into_iter()
        .filter_map(|(member, group)| {
            group.map(|group| Membership {
                group_id: group.id,
                name: group.name,
                joined_at: member.created_at,
            })
        })
        .collect();
    let orders = order::Entity::find()
        .filter(order::Column::CustomerId.eq(id))
        .order_by_asc(order::Column::Id)
        .all(&txn)
        .await?;
    let mut lines = grouped(
        line_item::Entity::find()
            .inner_join(order::Entity)
            .filter(order::Column::CustomerId.eq(id))
            .order_by_asc(line_item::Column::Position)
            .all(&txn)
            .await?,
        |line| line.order_id,
    );
    let claims = order_claim::Entity::find()
        .filter(order_claim::Column::CustomerId.eq(id))
        .order_by_asc(order_claim::Column::Id)
        .all(&txn)
        .await?;
    let mut claimed = grouped(
        order_claim_order::Entity::find()
            .inner_join(order_claim::Entity)
            .filter(order_claim::Column::CustomerId.eq(id))
            .order_by_asc(order_claim_order::Column::OrderId)
            .all(&txn)
            .await?,
        |row| row.order_claim_id,
    );
    let transfers = order_transfer::Entity::find()
        .filter(
            order_transfer::Column::FromCustomerId
                .eq(id)
                .or(order_transfer::Column::ToCustomerId.eq(id)),
        )
        .order_by_asc(order_transfer::Column::Id)
        .all(&txn)
        .await?;
    let mut timeline = admin_action::Entity::find()
        .filter(admin_action::Column::CustomerId.eq(id))
        .order_by_asc(admin_action::Column::Id)
        .all(&txn)
        .await?;
    let notes = match reader {
        Reader::Staff => Some(
            customer_note::Entity::find()
                .filter(customer_note::Column::CustomerId.eq(id))
                .order_by_asc(customer_note::Column::Id)
                .all(&txn)
                .await?,
        ),
        Reader::Customer => None,
    };
    let sessions = session::Entity::find()
        .filter(session::Column::CustomerId.eq(id))
        .order_by_asc(session::Column::CreatedAt)
        .all(&txn)
        .await?;
    let tokens = customer_token::Entity::find()
        .filter(customer_token::Column::CustomerId.eq(id))
        .order_by_asc(customer_token::Column::CreatedAt)
        .all(&txn)
        .await?;
    let addresses_mailed = mail_addresses(&customer, &orders, &claims, &tokens);
    let messages = outbox_message::Entity::find()
        .filter(outbox_message::Column::Recipient.is_in(addresses_mailed))
        .order_by_asc(outbox_message::Column::Id)
        .all(&txn)
        .await?
        .into_iter()
        .map(|message| Message {
            id: message.id,
            kind: message.kind,
            recipient: message.recipient,
            payload: super::outbox::redacted(message.payload),
            created_at: message.created_at,
            delivered_at: message.delivered_at,
        })
        .collect();
    let events = event::Entity::find()
        .filter(event::Column::CustomerId.eq(id))
        .order_by_asc(event::Column::Id)
        .all(&txn)
        .await?;
    let consents = customer_consent::Entity::find()
        .filter(customer_consent::Column::CustomerId.eq(id))
        .order_by_asc(customer_consent::Column::Id)
        .all(&txn)
        .await?;
    txn.commit().await?;

    if reader == Reader::Customer {
        // As the customer's own timeline shows it (`customer.events`).
        timeline.retain(|event| {
            ActionKind::from_stored(&event.action).is_some_and(|kind| !STAFF_ONLY.contains(&kind))
        });
        for event in &mut timeline {
            if event.admin_user_id.take().is_some() {
                event.details = None;
            }
        }
    }
    let export = Export {
        format: EXPORT_FORMAT,
        exported_at: db::now(),
        customer: Profile { customer, spend },
        addresses,
        groups,
        orders: orders
            .into_iter()
            .map(|order| OrderRecord {
                lines: lines.remove(&order.id).unwrap_or_default(),
                order,
            })
            .collect(),
        claims: claims
            .into_iter()
            .map(|claim| ClaimRecord {
                order_ids: claimed
                    .remove(&claim.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|row| row.order_id)
                    .collect(),
                claim,
            })
            .collect(),
        transfers,
        timeline,
        notes,
        sessions,
        tokens,
        messages,
        events,
        consents,
    };
    let mut document = serde_json::to_value(export).map_err(DomainError::internal)?;
    // The address copies on orders are stored with snake_case keys; the export
    // speaks camelCase throughout.
    if let Some(orders) = document["orders"].as_array_mut() {
        for order in orders {
            for key in ["shippingAddress", "billingAddress"] {
                if let Some(Value::Object(copy)) = order.get_mut(key) {
                    *copy = std::mem::take(copy)
                        .into_iter()
                        .map(|(name, value)| (camel_case(&name), value))
                        .collect();
                }
            }
        }
    }
    Ok(document)
}

/// `address_1` -> `address1`, `country_code` -> `countryCode`.
fn camel_case(name: &str) -> String {
    let mut parts = name.split('_');
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

fn grouped<T>(rows: Vec<T>, key: impl Fn(&T) -> Uuid) -> HashMap<Uuid, Vec<T>> {
    let mut groups: HashMap<Uuid, Vec<T>> = HashMap::new();
    for row in rows {
        groups.entry(key(&row)).or_default().push(row);
    }
    groups
}

/// Every address the store has mailed, or may mail, this customer at: the account's,
/// the orders' (placed before an email change, or as a guest), the claims' and the
/// pending email changes'.
fn mail_addresses(
    customer: &customer::Model,
    orders: &[order::Model],
    claims: &[order_claim::Model],
    tokens: &[customer_token::Model],
) -> BTreeSet<String> {
    std::iter::once(customer.email.clone())
        .chain(orders.iter().map(|order| order.email.clone()))
        .chain(claims.iter().map(|claim| claim.email.clone()))
        .chain(tokens.iter().filter_map(|token| token.new_email.clone()))
        .collect()
}

/// What an erasure left in place (for the audit trail and the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erased {
    pub orders_kept: u64,
    pub addresses_removed: u64,
    pub messages_removed: u64,
}

/// The email an erased customer is left with: unique, and on a domain that can never
/// receive mail (`.invalid` is reserved by RFC 2606).
pub fn erased_email(id: Uuid) -> String {
    format!("erased-{}@erased.invalid", id.simple())
}

/// Erases a customer (an admin action, audited, one transaction). Erasing an erased
/// customer again changes and records nothing.
pub async fn erase(db: &Db, admin_id: Uuid, id: Uuid) -> DomainResult<customer::Model> {
    let txn = db::begin_write(db).await?;
    if let Some(erased) = anonymise(&txn, id).await? {
        audit::record(
            &txn,
            Action {
                admin_id,
                kind: ActionKind::CustomerErase,
                subject: Subject::Customer(id),
                details: Some(details(erased)),
            },
        )
        .await?;
    }
    let customer = super::customers::get(&txn, id, true).await?;
    txn.commit().await?;
    Ok(customer)
}

fn details(erased: Erased) -> Value {
    json!({
        "ordersKept": erased.orders_kept,
        "addressesRemoved": erased.addresses_removed,
        "messagesRemoved": erased.messages_removed,
    })
}

/// The erasure itself, in the caller's transaction. `None` when the customer was
/// already erased; NOT_FOUND when there is no such customer.
async fn anonymise(db: &impl ConnectionTrait, id: Uuid) -> DomainResult<Option<Erased>> {
    let current = super::customers::get(db, id, true).await?;
    if current.erased_at.is_some() {
        return Ok(None);
    }
    let now = db::now();
    let placeholder = erased_email(id);
    // The customer row first: on PostgreSQL the UPDATE locks it, so an order placed
    // for this guest meanwhile waits and is read below, or finds the record deleted.
    let changed = customer::Entity::update_many()
        .col_expr(customer::Column::Email, Expr::val(placeholder.clone()))
        .col_expr(
            customer::Column::FirstName,
            Expr::val(Option::<String>::None),
        )
        .col_expr(
            customer::Column::LastName,
            Expr::val(Option::<String>::None),
        )
        .col_expr(customer::Column::Phone, Expr::val(Option::<String>::None))
        .col_expr(customer::Column::Metadata, Expr::val(Option::<Value>::None))
        .col_expr(
            customer::Column::ExternalId,
            Expr::val(Option::<String>::None),
        )
        .col_expr(
            customer::Column::BillingAddressId,
            Expr::val(Option::<Uuid>::None),
        )
        .col_expr(
            customer::Column::DefaultShippingAddressId,
            Expr::val(Option::<Uuid>::None),
        )
        .col_expr(
            customer::Column::EmailVerifiedAt,
            Expr::val(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            customer::Column::DeletedAt,
            Expr::val(current.deleted_at.unwrap_or(now)),
        )
        .col_expr(customer::Column::ErasedAt, Expr::val(now))
        .col_expr(customer::Column::UpdatedAt, Expr::val(now))
        .filter(customer::Column::Id.eq(id))
        .filter(customer::Column::ErasedAt.is_null())
        .exec(db)
        .await?;
    if changed.rows_affected == 0 {
        // Another erasure committed first.
        return Ok(None);
    }
    let orders = order::Entity::find()
        .filter(order::Column::CustomerId.eq(id))
        .all(db)
        .await?;
    let claims = order_claim::Entity::find()
        .filter(order_claim::Column::CustomerId.eq(id))
        .all(db)
        .await?;
    let tokens = customer_token::Entity::find()
        .filter(customer_token::Column::CustomerId.eq(id))
        .all(db)
        .await?;
    let mailed = mail_addresses(&current, &orders, &claims, &tokens);
    customer_credential::Entity::update_many()
        .col_expr(
            customer_credential::Column::PasswordHash,
            Expr::val(Option::<String>::None),
        )
        .filter(customer_credential::Column::Id.eq(id))
        .exec(db)
        .await?;
    let addresses_removed = address::Entity::delete_many()
        .filter(address::Column::CustomerId.eq(id))
        .exec(db)
        .await?
        .rows_affected;
    erase_order_copies(db, id, &placeholder, &orders).await?;
    order_claim::Entity::update_many()
        .col_expr(order_claim::Column::Email, Expr::val(placeholder.clone()))
        .filter(order_claim::Column::CustomerId.eq(id))
        .exec(db)
        .await?;
    order_claim::Entity::update_many()
        .col_expr(order_claim::Column::CanceledAt, Expr::val(now))
        .filter(order_claim::Column::CustomerId.eq(id))
        .filter(order_claim::Column::UsedAt.is_null())
        .filter(order_claim::Column::CanceledAt.is_null())
        .exec(db)
        .await?;
    customer_token::Entity::delete_many()
        .filter(customer_token::Column::CustomerId.eq(id))
        .exec(db)
        .await?;
    crate::auth::sessions::revoke_customer_sessions(db, id, None).await?;
    customer_note::Entity::delete_many()
        .filter(customer_note::Column::CustomerId.eq(id))
        .exec(db)
        .await?;
    // Consents to marketing a person who no longer exists for the store.
    customer_consent::Entity::delete_many()
        .filter(customer_consent::Column::CustomerId.eq(id))
        .exec(db)
        .await?;
    // The timeline keeps what happened and when; its details held emails and ids.
    admin_action::Entity::update_many()
        .col_expr(
            admin_action::Column::Details,
            Expr::val(Option::<Value>::None),
        )
        .filter(admin_action::Column::CustomerId.eq(id))
        .exec(db)
        .await?;
    let messages_removed = remove_messages(db, id, mailed).await?;
    DomainEvent::customer(EventType::CustomerErased, id)
        .publish(db)
        .await?;
    Ok(Some(Erased {
        orders_kept: orders.len() as u64,
        addresses_removed,
        messages_removed,
    }))
}

/// The orders keep their amounts, lines, dates and currency, and of their addresses
/// only the countries (what taxes were charged by). One UPDATE per pair of countries,
/// not per order.
async fn erase_order_copies(
    db: &impl ConnectionTrait,
    id: Uuid,
    placeholder: &str,
    orders: &[order::Model],
) -> DomainResult<()> {
    let country =
        |snapshot: &Option<AddressSnapshot>| snapshot.as_ref().map(|s| s.country_code.clone());
    let mut by_countries: HashMap<(Option<String>, Option<String>), Vec<Uuid>> = HashMap::new();
    for order in orders {
        by_countries
            .entry((
                country(&order.shipping_address),
                country(&order.billing_address),
            ))
            .or_default()
            .push(order.id);
    }
    let bare = |country: Option<String>| {
        country.map(|country_code| AddressSnapshot {
            first_name: None,
            last_name: None,
            company: None,
            address_1: None,
            address_2: None,
            city: None,
            province: None,
            postal_code: None,
            country_code,
            phone: None,
        })
    };
    for ((shipping, billing), ids) in by_countries {
        for chunk in ids.chunks(1_000) {
            order::Entity::update_many()
                .col_expr(order::Column::Email, Expr::val(placeholder.to_owned()))
                .col_expr(
                    order::Column::ShippingAddress,
                    Expr::val(bare(shipping.clone())),
                )
                .col_expr(
                    order::Column::BillingAddress,
                    Expr::val(bare(billing.clone())),
                )
                .filter(order::Column::CustomerId.eq(id))
                .filter(order::Column::Id.is_in(chunk.iter().copied()))
                .exec(db)
                .await?;
        }
    }
    Ok(())
}

/// Removes the messages to the customer's addresses, sent or not, except those to an
/// address a live account holds: mail goes to accounts (a guest record gets none of
/// its own), so erasing a guest leaves the mail of the account with its email.
/// Returns how many went.
async fn remove_messages(
    db: &impl ConnectionTrait,
    id: Uuid,
    mut mailed: BTreeSet<String>,
) -> DomainResult<u64> {
    let held: Vec<String> = customer::Entity::find()
        .select_only()
        .column(customer::Column::Email)
        .filter(customer::Column::Email.is_in(mailed.iter().cloned()))
        .filter(customer::Column::Id.ne(id))
        .filter(customer::Column::HasAccount.eq(true))
        .filter(customer::Column::DeletedAt.is_null())
        .into_tuple()
        .all(db)
        .await?;
    for email in held {
        mailed.remove(&email);
    }
    if mailed.is_empty() {
        return Ok(0);
    }
    Ok(outbox_message::Entity::delete_many()
        .filter(outbox_message::Column::Recipient.is_in(mailed))
        .exec(db)
        .await?
        .rows_affected)
}

/// Guests whose last order (or, without orders, whose record) is older than the
/// retention period are erased, at most `batch` per call, each in its own
/// transaction, on their timelines as the store's own housekeeping. Registered
/// customers are never erased by this rule. Returns how many were erased.
pub async fn erase_expired_guests(db: &Db, retention_months: u32, batch: u64) -> DomainResult<u64> {
    let cutoff = db::now() - TimeDelta::days(i64::from(retention_months) * 30);
    let due: Vec<Uuid> = customer::Entity::find()
        .select_only()
        .column(customer::Column::Id)
        .filter(customer::Column::HasAccount.eq(false))
        .filter(customer::Column::ErasedAt.is_null())
        .filter(
            Expr::col(customer::Column::LastOrderAt)
                .if_null(Expr::col(customer::Column::CreatedAt))
                .lt(cutoff),
        )
        .order_by_asc(customer::Column::Id)
        .limit(batch)
        .into_tuple()
        .all(db)
        .await?;
    let mut erased = 0;
    for id in due {
        let txn = db::begin_write(db).await?;
        if let Some(done) = anonymise(&txn, id).await? {
            let mut details = details(done);
            details["retentionMonths"] = json!(retention_months);
            audit::record_by(
                &txn,
                Event {
                    actor: Actor::Housekeeping,
                    kind: ActionKind::CustomerErase,
                    customer_id: id,
                    details: Some(details),
                },
            )
            .await?;
            erased += 1;
        }
        txn.commit().await?;
    }
    Ok(erased)
}
