//! The `Order` type, its line items and address snapshots, and the admin's order
//! queries.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::order::{self as order_entity, AddressSnapshot};
use entity::{line_item, order_transfer};
use uuid::Uuid;

use super::admins::AdminUser;
use super::connection::{CountOnce, CountPrecision};
use super::connection::{from_page, page_args, page_cost};
use super::context::{ContextExt, parse_id, to_id};
use super::customers::{Customer, parse_ids};
use super::money::Money;
use crate::auth::Principal;
use crate::domain::addresses::AddressInput;
use crate::domain::claims;
use crate::domain::claims::MAX_ORDERS_PER_REQUEST;
use crate::domain::counts::Count;
use crate::domain::orders::{self, Buyer, LineInput, OrderFilter, OrderInput};
use crate::domain::orders::{MAX_LINE_ITEMS, MAX_TRANSFERS_LISTED};
use crate::domain::pagination::Cursor;
use crate::error::Doing;
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
///
/// An order's own data (lines, totals, address copies) is readable by whoever could
/// reach the order; its customer is not always: see [`Reach`].
pub struct Order {
    model: order_entity::Model,
    reach: Reach,
}

/// How the request came to an order, which decides whether `customer` may be read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// As an admin, as the owner, or through the owner's record: the customer is
    /// readable too.
    Owner,
    /// Placed by this request as a guest. The caller proved nothing but an email,
    /// so it sees the order it just placed and nothing of the guest record the
    /// order joined (that record's other orders, addresses, phone and metadata
    /// belong to whoever placed those).
    PlacedAsGuest,
}

impl Order {
    /// An order the caller may read along with its customer: reached as an admin,
    /// as its owner, or through a customer record the caller may read.
    pub fn of_owner(model: order_entity::Model) -> Self {
        Self {
            model,
            reach: Reach::Owner,
        }
    }

    /// An order this request just placed as a guest.
    fn placed_as_guest(model: order_entity::Model) -> Self {
        Self {
            model,
            reach: Reach::PlacedAsGuest,
        }
    }
}

#[Object]
impl Order {
    /// Unique across every type: `node(id:)` finds it.
    pub async fn id(&self) -> ID {
        to_id(self.model.id)
    }

    /// The human-facing order number, sequential.
    async fn display_id(&self) -> i64 {
        self.model.display_id
    }

    /// The email the order was placed with.
    async fn email(&self) -> &str {
        &self.model.email
    }

    async fn status(&self) -> OrderStatus {
        self.model.status.into()
    }

    /// ISO 4217, upper-case.
    async fn currency_code(&self) -> &str {
        &self.model.currency_code
    }

    /// Sum of the line totals.
    async fn subtotal(&self) -> Money {
        Money::new(self.model.subtotal, &self.model.currency_code)
    }

    async fn total(&self) -> Money {
        Money::new(self.model.total, &self.model.currency_code)
    }

    /// The shipping address as it was when the order was placed.
    async fn shipping_address(&self) -> Option<OrderAddress> {
        self.model.shipping_address.clone().map(OrderAddress::from)
    }

    /// The billing address as it was when the order was placed.
    async fn billing_address(&self) -> Option<OrderAddress> {
        self.model.billing_address.clone().map(OrderAddress::from)
    }

    /// The order's lines, in the order they were placed (at most 100).
    #[graphql(complexity = "MAX_LINE_ITEMS * child_complexity")]
    async fn line_items(&self, ctx: &Context<'_>) -> Result<Vec<LineItem>> {
        let currency = &self.model.currency_code;
        let items = ctx
            .loaders()
            .line_items_of_order()
            .load_one(self.model.id)
            .await?;
        Ok(items
            .unwrap_or_default()
            .into_iter()
            .map(|item| LineItem::new(item, currency))
            .collect())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }

    /// Every change of the order's owner, oldest first: claims and admin transfers
    /// (admin only; the first 100).
    #[graphql(complexity = "MAX_TRANSFERS_LISTED * child_complexity")]
    async fn transfers(&self, ctx: &Context<'_>) -> Result<Vec<OrderTransfer>> {
        ctx.principal().await?.require_admin()?;
        let transfers = ctx
            .loaders()
            .transfers_of_order()
            .load_one(self.model.id)
            .await?;
        Ok(transfers
            .unwrap_or_default()
            .into_iter()
            .take(MAX_TRANSFERS_LISTED)
            .map(OrderTransfer)
            .collect())
    }

    /// The customer the order belongs to (still shown after a soft delete, with
    /// `deletedAt` set). Null with FORBIDDEN on an order placed as a guest in the
    /// same request: placing an order proves no right to the guest record it joins.
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<Customer>> {
        if self.reach == Reach::PlacedAsGuest {
            return Err(Principal::Anonymous.refuse("Order.customer").into());
        }
        let customer = ctx
            .loaders()
            .customer()
            .load_one(self.model.customer_id)
            .await?;
        Ok(Some(Customer(
            customer.ok_or(DomainError::NotFound("customer"))?,
        )))
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
    OfCustomer(Uuid, OrderFilter),
}

/// Fields of an order connection beyond edges and page info.
pub struct OrderConnectionFields(OrderCount, CountOnce);

impl OrderConnectionFields {
    fn new(count: OrderCount) -> Self {
        Self(count, CountOnce::default())
    }

    pub fn of_customer(customer_id: Uuid, filter: OrderFilter) -> Self {
        Self::new(OrderCount::OfCustomer(customer_id, filter))
    }

    async fn count(&self, ctx: &Context<'_>) -> Result<Count> {
        self.1
            .get(async {
                Ok(match &self.0 {
                    OrderCount::Filter(filter) => {
                        orders::count(ctx.db(), filter, ctx.count_limit()).await?
                    }
                    // One customer's orders are counted exactly: they are few.
                    OrderCount::OfCustomer(customer, filter) => Count {
                        value: ctx
                            .loaders()
                            .order_count_of_customer()
                            .load_one((*customer, filter.clone()))
                            .await?
                            // No row for a customer without matching orders.
                            .unwrap_or(0),
                        exact: true,
                    },
                })
            })
            .await
    }
}

#[Object]
impl OrderConnectionFields {
    /// How many orders match, across all pages: exact up to the server's count
    /// limit (10,000 unless configured), and that limit when more match (then
    /// `totalCountPrecision` is `AT_LEAST`); a customer's own orders
    /// are always counted exactly. Counted only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(self.count(ctx).await?.value)
    }

    /// Whether `totalCount` is exact.
    async fn total_count_precision(&self, ctx: &Context<'_>) -> Result<CountPrecision> {
        Ok(self.count(ctx).await?.into())
    }
}

pub type OrderConnection = Connection<Cursor, Order, OrderConnectionFields>;

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
    /// One order: any order for an admin, their own for a customer (another
    /// customer's order is NOT_FOUND).
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        let principal = ctx.principal().await?;
        let id = parse_id(&id, "id")?;
        let order = match principal.require_customer() {
            Ok(caller) => orders::get_for_customer(ctx.db(), caller.customer_id, id).await?,
            Err(_) => {
                principal.require_admin()?;
                orders::get(ctx.db(), id).await?
            }
        };
        Ok(Some(Order::of_owner(order)))
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
        ctx.principal().await?.require_admin()?;
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
            OrderConnectionFields::new(OrderCount::Filter(filter)),
            Order::of_owner,
        ))
    }
}

/// Narrows a customer's orders.
#[derive(InputObject, Default)]
pub struct CustomerOrderFilterInput {
    status: Option<OrderStatus>,
    /// Placed at or after this time.
    created_after: Option<DateTime<Utc>>,
    /// Placed before this time.
    created_before: Option<DateTime<Utc>>,
}

impl From<CustomerOrderFilterInput> for OrderFilter {
    fn from(input: CustomerOrderFilterInput) -> Self {
        OrderFilter {
            customer_id: None,
            status: input.status.map(Into::into),
            created_after: input.created_after,
            created_before: input.created_before,
        }
    }
}

/// A change of an order's owner.
pub struct OrderTransfer(order_transfer::Model);

/// How an order changed owner.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "entity::order_transfer::TransferKind")]
pub enum TransferKind {
    /// The new owner proved control of the order email with a claim token.
    Claim,
    /// An admin moved the order.
    AdminTransfer,
    /// The customer who had it was merged into the new owner (`mergeCustomers`, or a
    /// claim that merged the guest record).
    Merge,
}

#[Object]
impl OrderTransfer {
    async fn kind(&self) -> TransferKind {
        self.0.kind.into()
    }

    async fn from_customer_id(&self) -> ID {
        to_id(self.0.from_customer_id)
    }

    async fn to_customer_id(&self) -> ID {
        to_id(self.0.to_customer_id)
    }

    /// The admin who moved the order, for an admin transfer.
    async fn admin(&self, ctx: &Context<'_>) -> Result<Option<AdminUser>> {
        let Some(id) = self.0.admin_user_id else {
            return Ok(None);
        };
        let admin = ctx.loaders().admin_user().load_one(id).await?;
        Ok(admin.map(AdminUser::from))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// One line of a new order.
#[derive(InputObject)]
pub struct LineItemInput {
    title: String,
    sku: Option<String>,
    /// At least 1.
    quantity: i32,
    /// Price of one unit in the currency's minor unit; not negative.
    unit_price: i64,
}

/// An address to copy onto an order.
#[derive(InputObject)]
pub struct OrderAddressInput {
    first_name: Option<String>,
    last_name: Option<String>,
    company: Option<String>,
    address_1: Option<String>,
    address_2: Option<String>,
    city: Option<String>,
    province: Option<String>,
    postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, any case.
    country_code: String,
    phone: Option<String>,
}

impl From<OrderAddressInput> for AddressInput {
    fn from(a: OrderAddressInput) -> Self {
        AddressInput {
            first_name: a.first_name,
            last_name: a.last_name,
            company: a.company,
            address_1: a.address_1,
            address_2: a.address_2,
            city: a.city,
            province: a.province,
            postal_code: a.postal_code,
            country_code: a.country_code,
            phone: a.phone,
            metadata: None,
        }
    }
}

/// A new order.
#[derive(InputObject)]
pub struct PlaceOrderInput {
    /// Required for guests. A logged-in customer's orders carry their own email, and
    /// this field is ignored.
    email: Option<String>,
    /// 1 to 100 lines.
    line_items: Vec<LineItemInput>,
    /// ISO 4217, any case.
    currency_code: String,
    shipping_address: OrderAddressInput,
    billing_address: Option<OrderAddressInput>,
}

/// The handle of a claim request. Returned whether or not any order could be
/// claimed, so it reveals nothing about the ids asked for.
#[derive(SimpleObject)]
pub struct OrderClaimRequest {
    /// Pass to `cancelOrderClaim` to withdraw the request.
    id: ID,
    /// When the tokens sent for this request stop working.
    expires_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct OrderMutation;

#[Object]
impl OrderMutation {
    /// Places an order. Anonymous callers order as guests (the order joins the guest
    /// record of its email, created if needed); a logged-in customer orders as
    /// themselves. Totals are computed here; admins cannot place orders.
    async fn place_order(&self, ctx: &Context<'_>, input: PlaceOrderInput) -> Result<Order> {
        let buyer = match ctx.principal().await? {
            Principal::Anonymous => Buyer::Guest {
                address: ctx.client().address,
                limit: ctx.policy().limits.guest_order_from_address,
            },
            principal => Buyer::Customer(principal.require_customer()?.customer_id),
        };
        let as_guest = matches!(buyer, Buyer::Guest { .. });
        let order = orders::place(
            ctx.db(),
            buyer,
            OrderInput {
                email: input.email,
                line_items: input
                    .line_items
                    .into_iter()
                    .map(|line| LineInput {
                        title: line.title,
                        sku: line.sku,
                        quantity: line.quantity,
                        unit_price: line.unit_price,
                    })
                    .collect(),
                currency_code: input.currency_code,
                shipping_address: input.shipping_address.into(),
                billing_address: input.billing_address.map(Into::into),
            },
        )
        .await
        .doing("placing an order")?;
        Ok(if as_guest {
            Order::placed_as_guest(order)
        } else {
            Order::of_owner(order)
        })
    }

    /// Asks to take over orders placed as a guest: for each email among the claimable
    /// ones (guest orders, not canceled), a token goes to that address. Confirm with
    /// `confirmOrderClaim` within the token's lifetime (15 minutes by default).
    async fn request_order_claim(
        &self,
        ctx: &Context<'_>,
        order_ids: Vec<ID>,
    ) -> Result<OrderClaimRequest> {
        let caller = ctx.principal().await?.require_customer()?;
        let ids = parse_ids(&order_ids, "orderIds")?;
        let policy = ctx.policy();
        let request = claims::request(ctx.db(), policy, caller.customer_id, &ids)
            .await
            .doing("requesting an order claim")?;
        Ok(OrderClaimRequest {
            id: to_id(request.id),
            expires_at: request.expires_at,
        })
    }

    /// Moves the orders of a claim token to the logged-in customer who asked for it.
    /// INVALID_TOKEN if the token is unknown, not theirs, used, cancelled or expired;
    /// ALREADY_CLAIMED if an order changed owner meanwhile (nothing changes then).
    /// With `mergeGuestRecord: true`, the guest record of the claimed orders (the one
    /// with the email the token was mailed to) is merged into the account as well:
    /// its addresses, groups, timeline and other orders move, and it is deleted.
    #[graphql(complexity = "MAX_ORDERS_PER_REQUEST * child_complexity")]
    async fn confirm_order_claim(
        &self,
        ctx: &Context<'_>,
        token: String,
        #[graphql(default)] merge_guest_record: bool,
    ) -> Result<Vec<Order>> {
        let caller = ctx.principal().await?.require_customer()?;
        let claimed = claims::confirm(
            ctx.db(),
            ctx.policy(),
            caller.customer_id,
            &token,
            merge_guest_record,
        )
        .await
        .doing("confirming an order claim")?;
        Ok(claimed.into_iter().map(Order::of_owner).collect())
    }

    /// Withdraws a claim request of the logged-in customer: its tokens stop working.
    async fn cancel_order_claim(&self, ctx: &Context<'_>, request_id: ID) -> Result<bool> {
        let caller = ctx.principal().await?.require_customer()?;
        let request_id = parse_id(&request_id, "requestId")?;
        claims::cancel(ctx.db(), caller.customer_id, request_id).await?;
        Ok(true)
    }

    /// Moves an order to another customer (admin only), for customers who cannot
    /// reach the mailbox a claim token would go to. Recorded in `order.transfers` and
    /// the customer's `adminActions`.
    async fn transfer_order(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
        customer_id: ID,
    ) -> Result<Order> {
        let caller = ctx.principal().await?.require_admin()?;
        let order_id = parse_id(&order_id, "orderId")?;
        let customer_id = parse_id(&customer_id, "customerId")?;
        Ok(Order::of_owner(
            orders::transfer(ctx.db(), caller.admin_id, order_id, customer_id).await?,
        ))
    }
}
