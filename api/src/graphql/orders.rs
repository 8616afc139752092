//! The `Order` type, its line items and address snapshots, and the admin's order
//! queries.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::line_item;
use entity::order::{self as order_entity, AddressSnapshot};
use uuid::Uuid;

use super::connection::{from_page, page_args, page_cost};
use super::context::{ContextExt, parse_id, to_id};
use super::customers::Customer;
use super::money::Money;
use crate::domain::orders::{self, OrderFilter};
use crate::error::DomainError;

/// Where an order is in its life.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "entity::order::OrderStatus")]
pub enum OrderStatus {
    Pending,
    Completed,
    Canceled,
}

/// What a customer bought, as it was when the order was placed.
pub struct Order(pub order_entity::Model);

#[Object]
impl Order {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The human-facing order number, sequential.
    async fn display_id(&self) -> i64 {
        self.0.display_id
    }

    /// The email the order was placed with.
    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn status(&self) -> OrderStatus {
        self.0.status.into()
    }

    /// ISO 4217, upper-case.
    async fn currency_code(&self) -> &str {
        &self.0.currency_code
    }

    /// Sum of the line totals.
    async fn subtotal(&self) -> Money {
        Money::new(self.0.subtotal, &self.0.currency_code)
    }

    async fn total(&self) -> Money {
        Money::new(self.0.total, &self.0.currency_code)
    }

    /// The shipping address as it was when the order was placed.
    async fn shipping_address(&self) -> Option<OrderAddress> {
        self.0.shipping_address.clone().map(OrderAddress::from)
    }

    /// The billing address as it was when the order was placed.
    async fn billing_address(&self) -> Option<OrderAddress> {
        self.0.billing_address.clone().map(OrderAddress::from)
    }

    async fn line_items(&self, ctx: &Context<'_>) -> Result<Vec<LineItem>> {
        let currency = &self.0.currency_code;
        let items = ctx
            .loaders()
            .line_items_of_order
            .load_one(self.0.id)
            .await?;
        Ok(items
            .unwrap_or_default()
            .into_iter()
            .map(|item| LineItem::new(item, currency))
            .collect())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The customer the order belongs to (still shown after a soft delete, with
    /// `deletedAt` set).
    async fn customer(&self, ctx: &Context<'_>) -> Result<Customer> {
        let customer = ctx.loaders().customer.load_one(self.0.customer_id).await?;
        Ok(Customer(customer.ok_or(DomainError::NotFound("customer"))?))
    }
}

/// One line of an order.
#[derive(SimpleObject)]
pub struct LineItem {
    id: ID,
    title: String,
    sku: Option<String>,
    quantity: i32,
    unit_price: Money,
    /// `quantity` x `unitPrice`.
    total: Money,
}

impl LineItem {
    fn new(item: line_item::Model, currency: &str) -> Self {
        Self {
            id: to_id(item.id),
            title: item.title,
            sku: item.sku,
            quantity: item.quantity,
            unit_price: Money::new(item.unit_price, currency),
            total: Money::new(item.total, currency),
        }
    }
}

/// An address copied onto an order.
#[derive(SimpleObject)]
pub struct OrderAddress {
    first_name: Option<String>,
    last_name: Option<String>,
    company: Option<String>,
    address1: Option<String>,
    address2: Option<String>,
    city: Option<String>,
    province: Option<String>,
    postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, upper-case.
    country_code: String,
    phone: Option<String>,
}

impl From<AddressSnapshot> for OrderAddress {
    fn from(a: AddressSnapshot) -> Self {
        Self {
            first_name: a.first_name,
            last_name: a.last_name,
            company: a.company,
            address1: a.address_1,
            address2: a.address_2,
            city: a.city,
            province: a.province,
            postal_code: a.postal_code,
            country_code: a.country_code,
            phone: a.phone,
        }
    }
}

/// Where an order connection's `totalCount` comes from.
enum OrderCount {
    Filter(OrderFilter),
    OfCustomer(Uuid),
}

/// Fields of an order connection beyond edges and page info.
pub struct OrderConnectionFields(OrderCount);

impl OrderConnectionFields {
    pub fn of_customer(customer_id: Uuid) -> Self {
        Self(OrderCount::OfCustomer(customer_id))
    }
}

#[Object]
impl OrderConnectionFields {
    /// How many orders match, across all pages. Counted only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(match &self.0 {
            OrderCount::Filter(filter) => orders::count(ctx.db(), filter).await?,
            OrderCount::OfCustomer(customer) => ctx
                .loaders()
                .order_count_of_customer
                .load_one(*customer)
                .await?
                .unwrap_or(0),
        })
    }
}

pub type OrderConnection = Connection<String, Order, OrderConnectionFields>;

#[derive(InputObject, Default)]
pub struct OrderFilterInput {
    customer_id: Option<ID>,
    status: Option<OrderStatus>,
    /// Placed at or after this time.
    created_after: Option<DateTime<Utc>>,
    /// Placed before this time.
    created_before: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct OrderQuery;

#[Object]
impl OrderQuery {
    /// One order (admin only).
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        ctx.principal().require_admin()?;
        let id = parse_id(&id, "id")?;
        Ok(Some(Order(orders::get(ctx.db(), id).await?)))
    }

    /// Orders (admin only), newest first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<OrderFilterInput>,
    ) -> Result<OrderConnection> {
        ctx.principal().require_admin()?;
        let request = page_args(first, after, last, before).validate()?;
        let input = filter.unwrap_or_default();
        let filter = OrderFilter {
            customer_id: input
                .customer_id
                .map(|id| parse_id(&id, "filter.customerId"))
                .transpose()?,
            status: input.status.map(Into::into),
            created_after: input.created_after,
            created_before: input.created_before,
        };
        let page = orders::list(ctx.db(), &filter, &request).await?;
        Ok(from_page(
            page,
            OrderConnectionFields(OrderCount::Filter(filter)),
            Order,
        ))
    }
}
