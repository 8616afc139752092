//! The `Customer` type and the admin's customer queries.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use entity::customer;

use super::addresses::Address;
use super::audit::{self, AdminActionConnection, CustomerEventConnection, TrailOf};
use super::connection::{CountOnce, CountPrecision};
use super::connection::{from_page, page_args, page_cost};
use super::consents::Consent;
use super::context::{ContextExt, change_of, parse_id, to_id};
use super::groups::CustomerGroup;
use super::money::Money;
use super::notes::CustomerNoteConnection;
use super::orders::{CustomerOrderFilterInput, OrderConnection, OrderConnectionFields};
use super::plain::{Column, Plain, PlainFields, PlainList};
use super::sessions::LoginSession;
use crate::auth::sessions::MAX_SESSIONS_LISTED;
use crate::domain::addresses::MAX_ADDRESSES_PER_CUSTOMER;
use crate::domain::counts::Count;
use crate::domain::customers::{self, CustomerFilter, CustomerOrder};
use crate::domain::groups::MAX_GROUPS_LISTED;
use crate::domain::orders::OrderFilter;
use crate::domain::pagination::Cursor;
use crate::domain::search::SearchText;
use crate::error::Doing;
use crate::error::DomainError;

/// A person who buys from the store: a guest (`hasAccount: false`, created by a guest
/// order) or a registered account holder.
pub struct Customer(pub customer::Model);

impl Customer {
    /// The entry `id` of the customer's address book. From the book's batch (composite
    /// foreign keys keep the billing and default shipping addresses in the customer's
    /// own book): a page that shows the book and both defaults costs one statement for
    /// addresses, not three.
    async fn book_entry(
        &self,
        ctx: &Context<'_>,
        id: Option<uuid::Uuid>,
    ) -> Result<Option<Plain<Address>>> {
        let Some(id) = id else {
            return Ok(None);
        };
        let book = ctx
            .loaders()
            .addresses_of_customer()
            .load_one(self.0.id)
            .await?;
        Ok(book
            .unwrap_or_default()
            .into_iter()
            .find(|address| address.id == id)
            .map(|address| Plain(Address(address))))
    }
}

#[Object]
impl Customer {
    /// Unique across every type: `node(id:)` finds it.
    pub async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Trimmed and lower-cased.
    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn first_name(&self) -> Option<&str> {
        self.0.first_name.as_deref()
    }

    async fn last_name(&self) -> Option<&str> {
        self.0.last_name.as_deref()
    }

    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }

    /// `true` for a registered customer who can log in; `false` for a guest.
    async fn has_account(&self) -> bool {
        self.0.has_account
    }

    /// False once an admin disabled the account (`setCustomerActive`): it cannot log
    /// in and its sessions ended.
    async fn active(&self) -> bool {
        self.0.disabled_at.is_none()
    }

    /// When an admin disabled the account; null while it is active.
    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.0.disabled_at
    }

    /// When the customer was erased (`eraseCustomer`, or the guest retention rule):
    /// everything that named the person is gone; null for everyone else.
    async fn erased_at(&self) -> Option<DateTime<Utc>> {
        self.0.erased_at
    }

    /// When the customer proved they receive mail at `email` (a verification link,
    /// or confirming an email change); null until then.
    async fn email_verified_at(&self) -> Option<DateTime<Utc>> {
        self.0.email_verified_at
    }

    /// The id another system (an ERP, a CRM) knows the customer by, unique among live
    /// customers; admins only.
    async fn external_id(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        ctx.principal().await?.require_admin()?;
        Ok(self.0.external_id.as_deref())
    }

    /// How many orders the customer has, of every status. Stored and kept exact by
    /// every placement, claim and transfer; `customers` filters and sorts by it.
    async fn order_count(&self) -> i32 {
        self.0.order_count
    }

    /// When the customer's newest order was placed; null if they never ordered.
    async fn last_order_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_order_at
    }

    /// The customer's current consents, one per purpose the store was ever told
    /// about (a purpose missing here is not consented to).
    async fn consents(&self, ctx: &Context<'_>) -> Result<Vec<Consent>> {
        let consents = ctx
            .loaders()
            .consents_of_customer()
            .load_one(self.0.id)
            .await?;
        Ok(consents
            .unwrap_or_default()
            .into_iter()
            .map(Consent)
            .collect())
    }

    /// What the customer's orders that are not canceled add up to, one amount per
    /// currency (amounts in different currencies are never added), by currency code.
    async fn amount_spent(&self, ctx: &Context<'_>) -> Result<Vec<Money>> {
        let spend = ctx
            .loaders()
            .spend_of_customer()
            .load_one(self.0.id)
            .await?;
        Ok(spend
            .unwrap_or_default()
            .iter()
            .map(|row| Money::new(row.amount, &row.currency_code))
            .collect())
    }

    /// Free-form JSON object. The customer (through `updateMe`) and admins may both
    /// change it, so it is no place for anything the customer must not see or edit.
    async fn metadata(&self) -> Result<Option<Json<serde_json::Value>>> {
        Ok(super::metadata_of(&self.0.metadata)?)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Set when the customer was soft-deleted.
    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deleted_at
    }

    /// The live groups the customer belongs to, by name: the first 50 (a filter on
    /// `customerGroups` finds the rest).
    #[graphql(complexity = "MAX_GROUPS_LISTED * child_complexity")]
    async fn groups(&self, ctx: &Context<'_>) -> Result<PlainList<CustomerGroup>> {
        let groups = ctx
            .loaders()
            .groups_of_customer()
            .load_one(self.0.id)
            .await?;
        Ok(PlainList(
            groups
                .unwrap_or_default()
                .into_iter()
                .take(MAX_GROUPS_LISTED)
                .map(CustomerGroup)
                .collect(),
        ))
    }

    /// The customer's orders, newest first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<CustomerOrderFilterInput>,
    ) -> Result<OrderConnection> {
        let request = page_args(first, after, last, before).validate()?;
        let filter = OrderFilter::from(filter.unwrap_or_default());
        let page = ctx
            .loaders()
            .orders_of_customer()
            .load_one((self.0.id, (request, filter.clone())))
            .await?
            .unwrap_or_else(crate::domain::pagination::Page::empty);
        Ok(from_page(
            page,
            OrderConnectionFields::of_customer(self.0.id, filter),
            super::orders::Order::of_owner,
        ))
    }

    /// One of the address book's entries, or none.
    async fn billing_address(&self, ctx: &Context<'_>) -> Result<Option<Plain<Address>>> {
        self.book_entry(ctx, self.0.billing_address_id).await
    }

    /// Where orders ship unless the customer picks another: one of the address
    /// book's entries, or none. Deleting that address clears it.
    async fn default_shipping_address(&self, ctx: &Context<'_>) -> Result<Option<Plain<Address>>> {
        self.book_entry(ctx, self.0.default_shipping_address_id)
            .await
    }

    /// What the store's staff noted about this customer, newest first (admin only).
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn notes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<CustomerNoteConnection> {
        super::notes::of_customer(ctx, self.0.id, first, after, last, before).await
    }

    /// Everything that happened to this customer, newest first, whoever did it: their
    /// own changes and orders, and admins' changes (which `adminActions` lists alone).
    /// Admins and the customer themselves; the customer's view leaves out staff notes,
    /// and who of the staff acted and how.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<CustomerEventConnection> {
        audit::timeline(ctx, self.0.id, first, after, last, before).await
    }

    /// What admins changed on this customer, newest first (admin only).
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn admin_actions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<AdminActionConnection> {
        audit::trail(
            ctx,
            TrailOf::Customer(self.0.id),
            first,
            after,
            last,
            before,
        )
        .await
    }

    /// The customer's live sessions, newest first (the first 50): the customer
    /// and admins see them, tokens never.
    #[graphql(complexity = "MAX_SESSIONS_LISTED * child_complexity")]
    async fn sessions(&self, ctx: &Context<'_>) -> Result<Vec<LoginSession>> {
        let sessions = ctx
            .loaders()
            .sessions_of_customer()
            .load_one(self.0.id)
            .await?;
        Ok(sessions
            .unwrap_or_default()
            .into_iter()
            .map(LoginSession)
            .collect())
    }

    /// Every address in the customer's address book (the billing address included);
    /// at most 50.
    #[graphql(complexity = "MAX_ADDRESSES_PER_CUSTOMER * child_complexity")]
    async fn shipping_addresses(&self, ctx: &Context<'_>) -> Result<PlainList<Address>> {
        let book = ctx
            .loaders()
            .addresses_of_customer()
            .load_one(self.0.id)
            .await?;
        Ok(PlainList(
            book.unwrap_or_default().into_iter().map(Address).collect(),
        ))
    }
}

/// Where a customer connection's `totalCount` comes from.
#[derive(Clone)]
enum CustomerCount {
    Filter(CustomerFilter),
    MembersOf(uuid::Uuid),
}

/// Fields of a customer connection beyond edges and page info.
pub struct CustomerConnectionFields(CustomerCount, CountOnce);

impl CustomerConnectionFields {
    fn new(count: CustomerCount) -> Self {
        Self(count, CountOnce::default())
    }

    pub fn members_of(group_id: uuid::Uuid) -> Self {
        Self::new(CustomerCount::MembersOf(group_id))
    }

    async fn count(&self, ctx: &Context<'_>) -> Result<Count> {
        self.1
            .get(async {
                Ok(match &self.0 {
                    CustomerCount::Filter(filter) => {
                        customers::count(ctx.db(), filter, ctx.count_limit()).await?
                    }
                    CustomerCount::MembersOf(group) => ctx
                        .loaders()
                        .member_count_of_group()
                        .load_one(*group)
                        .await?
                        // The count query has no row for a group without live members.
                        .unwrap_or(Count::zero()),
                })
            })
            .await
    }
}

#[Object]
impl CustomerConnectionFields {
    /// How many customers match, across all pages: exact up to the server's count
    /// limit (10,000 unless configured), and that limit when more match (then
    /// `totalCountPrecision` is `AT_LEAST`). Counted only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(self.count(ctx).await?.value)
    }

    /// Whether `totalCount` is exact.
    async fn total_count_precision(&self, ctx: &Context<'_>) -> Result<CountPrecision> {
        Ok(self.count(ctx).await?.into())
    }
}

/// The fields that copy a column: every one whose resolver above takes no context
/// and cannot fail (`externalId` checks the caller, `metadata` can fail).
impl PlainFields for Customer {
    fn plain_field(&self, name: &str) -> Option<Column<'_>> {
        let customer = &self.0;
        Some(match name {
            "id" => Column::Id(customer.id),
            "email" => Column::str(&customer.email),
            "firstName" => Column::text(customer.first_name.as_deref()),
            "lastName" => Column::text(customer.last_name.as_deref()),
            "phone" => Column::text(customer.phone.as_deref()),
            "hasAccount" => Column::Boolean(customer.has_account),
            "active" => Column::Boolean(customer.disabled_at.is_none()),
            "disabledAt" => Column::time(customer.disabled_at),
            "erasedAt" => Column::time(customer.erased_at),
            "emailVerifiedAt" => Column::time(customer.email_verified_at),
            "orderCount" => Column::Int(customer.order_count.into()),
            "lastOrderAt" => Column::time(customer.last_order_at),
            "createdAt" => Column::Time(customer.created_at),
            "updatedAt" => Column::Time(customer.updated_at),
            "deletedAt" => Column::time(customer.deleted_at),
            _ => return None,
        })
    }
}

pub type CustomerConnection = Connection<Cursor, Plain<Customer>, CustomerConnectionFields>;

/// Narrows the customer list. All given fields must match.
#[derive(InputObject, Default)]
pub struct CustomerFilterInput {
    /// Words that must each appear in the email, first name or last name
    /// (case-insensitive).
    search: Option<String>,
    has_account: Option<bool>,
    /// `true`: accounts an admin has not disabled; `false`: disabled ones only.
    active: Option<bool>,
    /// At least this many orders.
    order_count_min: Option<i32>,
    /// At most this many orders.
    order_count_max: Option<i32>,
    /// Last ordered at or after this time (customers who never ordered do not match).
    last_order_after: Option<DateTime<Utc>>,
    /// Last ordered before this time (customers who never ordered do not match).
    last_order_before: Option<DateTime<Utc>>,
    /// Members of any of these groups.
    group_ids: Option<Vec<ID>>,
    /// Created at or after this time.
    created_after: Option<DateTime<Utc>>,
    /// Created before this time.
    created_before: Option<DateTime<Utc>>,
    /// Include soft-deleted customers.
    #[graphql(default)]
    include_deleted: bool,
}

impl CustomerFilterInput {
    fn into_domain(self) -> Result<CustomerFilter, DomainError> {
        let group_ids = self
            .group_ids
            .unwrap_or_default()
            .iter()
            .map(|id| parse_id(id, "filter.groupIds"))
            .collect::<Result<_, _>>()?;
        CustomerFilter {
            search: SearchText::parse(self.search.as_deref(), "filter.search")?,
            has_account: self.has_account,
            active: self.active,
            order_count_min: self.order_count_min,
            order_count_max: self.order_count_max,
            last_order_after: self.last_order_after,
            last_order_before: self.last_order_before,
            group_ids,
            created_after: self.created_after,
            created_before: self.created_before,
            include_deleted: self.include_deleted,
        }
        .checked()
    }
}

#[derive(Enum, Copy, Clone, PartialEq, Eq, Default)]
pub enum CustomerSortField {
    #[default]
    CreatedAt,
    Email,
    /// Case-insensitive (ASCII letters); customers without a last name sort first
    /// when ascending.
    LastName,
    /// How many orders the customer has.
    OrderCount,
    /// When they last ordered; customers who never did sort first when ascending.
    LastOrderAt,
}

#[derive(Enum, Copy, Clone, PartialEq, Eq, Default)]
pub enum SortDirection {
    Asc,
    #[default]
    Desc,
}

/// How to order customers; ties are broken by id.
#[derive(InputObject, Default)]
pub struct CustomerSort {
    #[graphql(default)]
    field: CustomerSortField,
    #[graphql(default)]
    direction: SortDirection,
}

impl From<CustomerSort> for CustomerOrder {
    fn from(sort: CustomerSort) -> Self {
        Self {
            field: match sort.field {
                CustomerSortField::CreatedAt => customers::CustomerSortField::CreatedAt,
                CustomerSortField::Email => customers::CustomerSortField::Email,
                CustomerSortField::LastName => customers::CustomerSortField::LastName,
                CustomerSortField::OrderCount => customers::CustomerSortField::OrderCount,
                CustomerSortField::LastOrderAt => customers::CustomerSortField::LastOrderAt,
            },
            descending: sort.direction == SortDirection::Desc,
        }
    }
}

#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    /// One customer (admin only). Soft-deleted customers are NOT_FOUND unless
    /// `includeDeleted` is set.
    async fn customer(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default)] include_deleted: bool,
    ) -> Result<Option<Plain<Customer>>> {
        ctx.principal().await?.require_admin()?;
        let id = parse_id(&id, "id")?;
        Ok(Some(Plain(Customer(
            customers::get(ctx.db(), id, include_deleted).await?,
        ))))
    }

    /// Customers (admin only), newest first unless `sort` says otherwise.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<CustomerFilterInput>,
        sort: Option<CustomerSort>,
    ) -> Result<CustomerConnection> {
        ctx.principal().await?.require_admin()?;
        let request = page_args(first, after, last, before).validate()?;
        let filter = filter.unwrap_or_default().into_domain()?;
        let order = CustomerOrder::from(sort.unwrap_or_default());
        let page = customers::list(ctx.db(), &filter, order, &request).await?;
        Ok(from_page(
            page,
            CustomerConnectionFields::new(CustomerCount::Filter(filter)),
            |customer| Plain(Customer(customer)),
        ))
    }
}

/// Changes to a customer: an omitted field is left alone, `null` clears it.
#[derive(InputObject)]
pub struct UpdateCustomerInput {
    /// The customer's one email: for a registered customer also the login email.
    email: Option<String>,
    first_name: MaybeUndefined<String>,
    last_name: MaybeUndefined<String>,
    phone: MaybeUndefined<String>,
    /// Merged key by key: given keys replace, keys set to `null` are removed, others
    /// stay. `null` for the whole field removes all metadata.
    metadata: MaybeUndefined<Json<serde_json::Value>>,
    /// The customer's groups become exactly these (live groups only).
    group_ids: Option<Vec<ID>>,
    /// The id another system knows the customer by (unique among live customers;
    /// `null` clears it).
    external_id: MaybeUndefined<String>,
}

impl UpdateCustomerInput {
    /// The domain's change; list fields name `field` (`input`, `updates.3.input`).
    pub fn into_change(self, field: &str) -> Result<customers::CustomerChange, DomainError> {
        Ok(customers::CustomerChange {
            email: self.email,
            profile: customers::ProfileChange {
                first_name: change_of(self.first_name),
                last_name: change_of(self.last_name),
                phone: change_of(self.phone),
                metadata: change_of(self.metadata.map_value(|Json(value)| value)),
            },
            group_ids: self
                .group_ids
                .map(|ids| parse_ids(&ids, &format!("{field}.groupIds")))
                .transpose()?,
            external_id: change_of(self.external_id),
        })
    }
}

/// Parses a list of ids, naming `field` in the error.
pub fn parse_ids(ids: &[ID], field: &str) -> Result<Vec<uuid::Uuid>, DomainError> {
    ids.iter().map(|id| parse_id(id, field)).collect()
}

#[derive(Default)]
pub struct CustomerAdminMutation;

#[Object]
impl CustomerAdminMutation {
    /// Adds a customer by hand: a record without an account (`hasAccount: false`).
    /// EMAIL_TAKEN if a live guest record already has the email.
    async fn create_customer(
        &self,
        ctx: &Context<'_>,
        email: String,
        first_name: Option<String>,
        last_name: Option<String>,
        phone: Option<String>,
        metadata: Option<Json<serde_json::Value>>,
        group_ids: Option<Vec<ID>>,
        external_id: Option<String>,
    ) -> Result<Customer> {
        let caller = ctx.principal().await?.require_admin()?;
        let input = customers::NewCustomer {
            email,
            first_name,
            last_name,
            phone,
            metadata: metadata.map(|Json(value)| value),
            group_ids: parse_ids(&group_ids.unwrap_or_default(), "groupIds")?,
            external_id,
        };
        Ok(Customer(
            customers::create(ctx.db(), caller.admin_id, input)
                .await
                .doing("creating a customer")?,
        ))
    }

    /// Changes a live customer. EMAIL_TAKEN (naming the holder in
    /// `extensions.conflictingCustomerId`) if a live customer of the same kind has the
    /// new email.
    async fn update_customer(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCustomerInput,
    ) -> Result<Customer> {
        let caller = ctx.principal().await?.require_admin()?;
        let id = parse_id(&id, "id")?;
        let change = input.into_change("input")?;
        Ok(Customer(
            customers::update(ctx.db(), caller.admin_id, id, change)
                .await
                .doing("updating a customer")?,
        ))
    }

    /// Soft-deletes a customer: kept with its addresses and orders for history,
    /// hidden from normal reads, logged out everywhere, its email free again.
    /// Deleting a deleted customer is NOT_FOUND.
    async fn delete_customer(&self, ctx: &Context<'_>, id: ID) -> Result<Customer> {
        let caller = ctx.principal().await?.require_admin()?;
        let id = parse_id(&id, "id")?;
        Ok(Customer(
            customers::delete(ctx.db(), caller.admin_id, id)
                .await
                .doing("deleting a customer")?,
        ))
    }

    /// Logs a customer out everywhere: every session ends at once. Returns how many
    /// ended; recorded in the customer's `adminActions`. NOT_FOUND for a deleted
    /// customer (whose sessions already ended).
    async fn revoke_customer_sessions(&self, ctx: &Context<'_>, customer_id: ID) -> Result<u64> {
        let principal = ctx.principal().await?;
        let caller = principal.require_admin()?;
        let id = parse_id(&customer_id, "customerId")?;
        let ended = customers::revoke_sessions(ctx.db(), caller.admin_id, id)
            .await
            .doing("revoking a customer's sessions")?;
        crate::auth::events::sessions_revoked(&principal, id, ended);
        Ok(ended)
    }

    /// Disables (`active: false`) or enables a customer's account. A disabled customer
    /// cannot log in (ACCOUNT_DISABLED once the password is right) and every session
    /// of theirs ends at once; the record stays, with its orders, for admins to see.
    /// Recorded in the customer's `adminActions` when the state changes. NOT_FOUND for
    /// a deleted customer.
    async fn set_customer_active(
        &self,
        ctx: &Context<'_>,
        id: ID,
        active: bool,
    ) -> Result<Customer> {
        let caller = ctx.principal().await?.require_admin()?;
        let id = parse_id(&id, "id")?;
        Ok(Customer(
            customers::set_active(ctx.db(), caller.admin_id, id, active)
                .await
                .doing("disabling or enabling a customer")?,
        ))
    }

    /// Undoes a soft delete. EMAIL_TAKEN (naming the holder) if a live customer of
    /// the same kind now has the email; NOT_FOUND if the customer is not deleted.
    async fn restore_customer(&self, ctx: &Context<'_>, id: ID) -> Result<Customer> {
        let caller = ctx.principal().await?.require_admin()?;
        let id = parse_id(&id, "id")?;
        Ok(Customer(
            customers::restore(ctx.db(), caller.admin_id, id)
                .await
                .doing("restoring a customer")?,
        ))
    }
}
