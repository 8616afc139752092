//! Orders: placing them (guests and customers), reading them, and an admin's
//! transfer of an order to another customer.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::order::OrderStatus;
use entity::order_transfer::{self, TransferKind};
use entity::{customer, line_item, order};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseTransaction, DbErr, EntityTrait, FromQueryResult, Iterable, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Statement, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::addresses::{self, AddressInput};
use super::audit::{self, Action, ActionKind, Actor, Event, Subject};
use super::counts::{self, Count, CountLimit};
use super::currency::CurrencyCode;
use super::customers::live_with_email;
use super::email::Email;
use super::events::{DomainEvent, EventType};
use super::fields::{self, MAX_TEXT_CHARS};
use super::throttles::{self, Limit};
use crate::db::Db;
use crate::db::{self, UniqueKey};

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
    let select = order::Entity::find().filter(filter.condition());
    let rows = keyset.page_models(db, select, request).await?;
    Ok(Page::from_rows(rows, request, |o| {
        keyset.cursor(time_key(&o.created_at), o.id)
    }))
}

/// How many orders match `filter` (up to the count limit).
pub async fn count(
    db: &impl ConnectionTrait,
    filter: &OrderFilter,
    limit: CountLimit,
) -> DomainResult<Count> {
    let rows = order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(filter.condition())
        .into_query();
    counts::count_rows(db, rows, limit).await
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> DomainResult<order::Model> {
    order::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("order"))
}

/// Each customer's orders matching `filter` (its `customer_id` is ignored), one page
/// per customer, newest first.
pub async fn pages_of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[Uuid],
    request: &PageRequest,
    filter: &OrderFilter,
) -> DomainResult<HashMap<Uuid, Page<order::Model>>> {
    let keyset = keyset();
    let branch = |customer_id: Uuid| {
        order::Entity::find()
            .select_only()
            .columns(order::Column::iter())
            .expr_as(Expr::val(customer_id), PARTITION_COLUMN)
            .filter(order::Column::CustomerId.eq(customer_id))
            .filter(filter.condition())
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

/// How many orders matching `filter` each customer has.
pub async fn counts_of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[Uuid],
    filter: &OrderFilter,
) -> DomainResult<HashMap<Uuid, u64>> {
    let rows: Vec<(Uuid, i64)> = order::Entity::find()
        .select_only()
        .column(order::Column::CustomerId)
        .column_as(order::Column::Id.count(), "orders")
        .filter(order::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .filter(filter.condition())
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

// ---- Placing orders ----

/// Most lines one order may have.
pub const MAX_LINE_ITEMS: usize = 100;
/// Most transfers `Order.transfers` lists; it bounds that list's query cost.
pub const MAX_TRANSFERS_LISTED: usize = 100;
/// Longest SKU, in characters.
const MAX_SKU_CHARS: usize = 100;

/// One line as the storefront sends it.
#[derive(Debug, Clone)]
pub struct LineInput {
    pub title: String,
    pub sku: Option<String>,
    pub quantity: i32,
    /// Minor units.
    pub unit_price: i64,
}

/// What `placeOrder` takes.
#[derive(Debug, Clone)]
pub struct OrderInput {
    /// Required for guests; a logged-in customer's own email is used instead.
    pub email: Option<String>,
    pub line_items: Vec<LineInput>,
    pub currency_code: String,
    pub shipping_address: AddressInput,
    pub billing_address: Option<AddressInput>,
}

/// Who places the order.
#[derive(Debug, Clone)]
pub enum Buyer {
    /// Anonymous: the order goes to the live guest record of its email. `limit`
    /// counts guest orders from the client's `address`.
    Guest { address: String, limit: Limit },
    /// A logged-in registered customer.
    Customer(Uuid),
}

/// Line items checked and totalled: (lines, subtotal).
fn priced_lines(lines: Vec<LineInput>) -> DomainResult<(Vec<(LineInput, i64)>, i64)> {
    if lines.is_empty() || lines.len() > MAX_LINE_ITEMS {
        return Err(DomainError::bad_input(
            "lineItems",
            format!("must have 1 to {MAX_LINE_ITEMS} lines"),
        ));
    }
    let overflow = || DomainError::bad_input("lineItems", "the order total is too large");
    let mut subtotal: i64 = 0;
    let mut priced = Vec::with_capacity(lines.len());
    for (n, line) in lines.into_iter().enumerate() {
        let field = |name: &str| format!("lineItems.{n}.{name}");
        let title = fields::optional_text(Some(line.title), &field("title"), MAX_TEXT_CHARS)?
            .ok_or_else(|| DomainError::bad_input(field("title"), "must not be empty"))?;
        let sku = fields::optional_text(line.sku, &field("sku"), MAX_SKU_CHARS)?;
        if line.quantity < 1 {
            return Err(DomainError::bad_input(
                field("quantity"),
                "must be at least 1",
            ));
        }
        if line.unit_price < 0 {
            return Err(DomainError::bad_input(
                field("unitPrice"),
                "must not be negative",
            ));
        }
        let total = line
            .unit_price
            .checked_mul(i64::from(line.quantity))
            .ok_or_else(overflow)?;
        subtotal = subtotal.checked_add(total).ok_or_else(overflow)?;
        priced.push((LineInput { title, sku, ..line }, total));
    }
    Ok((priced, subtotal))
}

/// Places an order: validates everything, then writes the order, its lines and (for
/// a new guest) the guest customer in one transaction.
pub async fn place(db: &Db, buyer: Buyer, input: OrderInput) -> DomainResult<order::Model> {
    let currency = CurrencyCode::parse(&input.currency_code, "currencyCode")?;
    let (lines, subtotal) = priced_lines(input.line_items)?;
    let shipping = addresses::snapshot(input.shipping_address, "shippingAddress")?;
    let billing = input
        .billing_address
        .map(|a| addresses::snapshot(a, "billingAddress"))
        .transpose()?;
    let email = match &buyer {
        Buyer::Guest { .. } => {
            let email = input
                .email
                .ok_or_else(|| DomainError::bad_input("email", "is required for guest orders"))?;
            Email::parse(&email, "email")?
        }
        Buyer::Customer(id) => {
            let customer = super::customers::get(db, *id, false).await?;
            Email::parse(&customer.email, "email")?
        }
    };

    let txn = db::begin_write(db).await?;
    let (customer_id, actor) = match buyer {
        Buyer::Guest { address, limit } => {
            throttles::take(&txn, &limit, &address).await?;
            (guest_for(&txn, &email).await?, Actor::Guest)
        }
        Buyer::Customer(id) => (id, Actor::Customer),
    };
    let locked = super::stats::lock(&txn, &[customer_id]).await?;
    let now = db::now();
    let order = order::ActiveModel {
        id: Set(Uuid::now_v7()),
        display_id: Set(next_display_id(&txn).await?),
        customer_id: Set(customer_id),
        email: Set(email.as_str().to_owned()),
        status: Set(OrderStatus::Pending),
        currency_code: Set(currency.to_string()),
        subtotal: Set(subtotal),
        total: Set(subtotal),
        shipping_address: Set(Some(shipping)),
        billing_address: Set(billing),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let rows = lines
        .into_iter()
        .enumerate()
        .map(|(position, (line, total))| line_item::ActiveModel {
            id: Set(Uuid::now_v7()),
            order_id: Set(order.id),
            position: Set(position as i32),
            title: Set(line.title),
            sku: Set(line.sku),
            quantity: Set(line.quantity),
            unit_price: Set(line.unit_price),
            total: Set(total),
        });
    line_item::Entity::insert_many(rows)
        .exec_without_returning(&txn)
        .await?;
    super::stats::add_order(&txn, locked, &order).await?;
    audit::record_by(
        &txn,
        Event {
            actor,
            kind: ActionKind::OrderPlace,
            customer_id,
            details: Some(json!({ "orderId": order.id, "displayId": order.display_id })),
        },
    )
    .await?;
    DomainEvent::order_placed(order.id, customer_id)
        .publish(&txn)
        .await?;
    txn.commit().await?;
    Ok(order)
}

/// The live guest record of `email`, created if there is none. Of concurrent
/// creations the partial unique index lets one through; the others catch the
/// violation inside a savepoint (so their transaction stays usable on PostgreSQL) and
/// read the winner's row.
async fn guest_for(txn: &DatabaseTransaction, email: &Email) -> DomainResult<Uuid> {
    if let Some(guest) = live_with_email(txn, email.as_str(), false).await? {
        return Ok(guest.id);
    }
    let now = db::now();
    let savepoint = txn.begin().await?;
    let inserted = customer::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.as_str().to_owned()),
        first_name: Set(None),
        last_name: Set(None),
        phone: Set(None),
        has_account: Set(false),
        billing_address_id: Set(None),
        default_shipping_address_id: Set(None),
        disabled_at: Set(None),
        erased_at: Set(None),
        email_verified_at: Set(None),
        order_count: Set(0),
        last_order_at: Set(None),
        external_id: Set(None),
        metadata: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
    }
    .insert(&savepoint)
    .await;
    match inserted {
        Ok(guest) => {
            savepoint.commit().await?;
            DomainEvent::customer(EventType::CustomerCreated, guest.id)
                .publish(txn)
                .await?;
            Ok(guest.id)
        }
        Err(error) if UniqueKey::CustomerLiveEmail.refused(&error) => {
            savepoint.rollback().await?;
            live_with_email(txn, email.as_str(), false)
                .await?
                .map(|guest| guest.id)
                .ok_or_else(|| DomainError::internal(error))
        }
        Err(error) => Err(error.into()),
    }
}

/// The next order number. The counter row is updated in the caller's transaction:
/// concurrent orders queue on it, and a rolled-back order gives its number back, so
/// numbers are sequential without gaps.
pub async fn next_display_id(db: &impl ConnectionTrait) -> DomainResult<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "UPDATE counter SET value = value + 1 WHERE name = 'order_display_id' \
             RETURNING value",
        ))
        .await?
        .ok_or_else(|| DomainError::internal(DbErr::RecordNotFound("counter".into())))?;
    Ok(row.try_get::<i64>("", "value")?)
}

/// An order the caller may see: admins see every order, a customer only their own
/// (another customer's is NOT_FOUND, as if it did not exist).
pub async fn get_for_customer(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    id: Uuid,
) -> DomainResult<order::Model> {
    let order = get(db, id).await?;
    if order.customer_id != customer_id {
        return Err(DomainError::NotFound("order"));
    }
    Ok(order)
}

/// Moves an order to another live customer (when a customer cannot reach the old
/// mailbox to claim it), recorded as a transfer and in the audit trail.
pub async fn transfer(
    db: &Db,
    admin_id: Uuid,
    order_id: Uuid,
    to_customer: Uuid,
) -> DomainResult<order::Model> {
    let txn = db::begin_write(db).await?;
    let current = get(&txn, order_id).await?;
    super::customers::get(&txn, to_customer, false)
        .await
        .map_err(|_| DomainError::NotFoundIds {
            what: "customer",
            field: "customerId".into(),
            ids: vec![to_customer],
        })?;
    if current.customer_id == to_customer {
        return Ok(current);
    }
    let mut locked = super::stats::lock(&txn, &[current.customer_id, to_customer]).await?;
    // Read again under the lock: a transfer that committed meanwhile may have moved
    // the order, and then its new owner is the one to lock and refresh.
    let current = get(&txn, order_id).await?;
    if !locked.covers(current.customer_id) {
        locked = locked.and(super::stats::lock(&txn, &[current.customer_id]).await?);
    }
    if current.customer_id == to_customer {
        return Ok(current);
    }
    let mut update: order::ActiveModel = current.clone().into();
    update.customer_id = Set(to_customer);
    update.updated_at = Set(db::now());
    let moved = update.update(&txn).await?;
    super::stats::refresh(&txn, locked).await?;
    record_transfers(
        &txn,
        std::slice::from_ref(&current),
        to_customer,
        TransferKind::AdminTransfer,
        None,
        Some(admin_id),
    )
    .await?;
    // On both customers' trails: one gained the order, the other lost it.
    let details = json!({
        "orderId": order_id,
        "displayId": current.display_id,
        "fromCustomerId": current.customer_id,
        "toCustomerId": to_customer,
    });
    audit::record_all(
        &txn,
        [to_customer, current.customer_id]
            .into_iter()
            .map(|customer| Action {
                admin_id,
                kind: ActionKind::OrderTransfer,
                subject: Subject::Customer(customer),
                details: Some(details.clone()),
            })
            .collect(),
    )
    .await?;
    DomainEvent::order_transferred(order_id, current.customer_id, to_customer)
        .publish(&txn)
        .await?;
    txn.commit().await?;
    Ok(moved)
}

/// Writes the history rows of orders changing owner (each `order` as it was
/// before), one statement per 1,000.
pub(crate) async fn record_transfers(
    db: &impl ConnectionTrait,
    orders: &[order::Model],
    to_customer: Uuid,
    kind: TransferKind,
    claim_id: Option<Uuid>,
    admin_id: Option<Uuid>,
) -> DomainResult<()> {
    let now = db::now();
    let rows: Vec<_> = orders
        .iter()
        .map(|order| order_transfer::ActiveModel {
            id: Set(Uuid::now_v7()),
            order_id: Set(order.id),
            from_customer_id: Set(order.customer_id),
            to_customer_id: Set(to_customer),
            kind: Set(kind),
            order_claim_id: Set(claim_id),
            admin_user_id: Set(admin_id),
            created_at: Set(now),
        })
        .collect();
    for chunk in rows.chunks(1_000) {
        order_transfer::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The owner changes of each order, oldest first.
pub async fn transfers_of_orders(
    db: &impl ConnectionTrait,
    order_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, Vec<order_transfer::Model>>> {
    let rows = order_transfer::Entity::find()
        .filter(order_transfer::Column::OrderId.is_in(order_ids.iter().copied()))
        .order_by_asc(order_transfer::Column::Id)
        .all(db)
        .await?;
    let mut transfers: HashMap<Uuid, Vec<order_transfer::Model>> = HashMap::new();
    for transfer in rows {
        transfers
            .entry(transfer.order_id)
            .or_default()
            .push(transfer);
    }
    Ok(transfers)
}
