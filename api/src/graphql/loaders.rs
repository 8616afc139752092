//! One DataLoader per relation. A request gets fresh loaders (no cross-request cache,
//! so no stale or cross-user data); within a request, every parent's lookup of a
//! relation is batched into one SQL statement.

use std::collections::HashMap;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{
    address, admin_action, admin_user, customer, customer_consent, customer_group, customer_note,
    customer_spend, line_item, order, order_transfer, session,
};
use tracing::Instrument;
use uuid::Uuid;

use super::gate::Gate;
use crate::auth::sessions::{self, SessionPolicy};
use crate::db::Db;
use crate::domain::audit::TrailSubject;
use crate::domain::counts::CountLimit;
use crate::domain::orders::OrderFilter;
use crate::domain::pagination::{Page, PageRequest};
use crate::domain::{addresses, admins, audit, customers, groups, orders};
use crate::error::DomainError;

/// Keys per batch. Larger than any page can produce (100 parents x 100 children), so
/// batches never split and the statement count stays independent of page size; well
/// under SQLite's and PostgreSQL's bind-parameter limits.
const MAX_BATCH: usize = 10_000;

pub struct Loaders {
    pub node: DataLoader<NodeById>,
    pub customer: DataLoader<CustomerById>,
    pub groups_of_customer: DataLoader<GroupsOfCustomer>,
    pub addresses_of_customer: DataLoader<AddressesOfCustomer>,
    pub orders_of_customer: DataLoader<OrdersOfCustomer>,
    pub order_count_of_customer: DataLoader<OrderCountOfCustomer>,
    pub line_items_of_order: DataLoader<LineItemsOfOrder>,
    pub members_of_group: DataLoader<MembersOfGroup>,
    pub member_count_of_group: DataLoader<MemberCountOfGroup>,
    pub admin_user: DataLoader<AdminUserById>,
    pub transfers_of_order: DataLoader<TransfersOfOrder>,
    pub actions_of_customer: DataLoader<ActionsOfCustomer>,
    pub notes_of_customer: DataLoader<NotesOfCustomer>,
    pub events_of_customer: DataLoader<EventsOfCustomer>,
    pub spend_of_customer: DataLoader<SpendOfCustomer>,
    pub consents_of_customer: DataLoader<ConsentsOfCustomer>,
    pub actions_of_group: DataLoader<ActionsOfGroup>,
    pub sessions_of_customer: DataLoader<SessionsOfCustomer>,
}

/// A loader whose batches run behind the request's gate (see [`Gate`]).
fn loader<T: Loader<K>, K>(inner: T, gate: &Gate) -> DataLoader<T>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
{
    let gate = gate.clone();
    // The batch runs in the request's span, so its logs carry the request id.
    DataLoader::new(inner, move |batch| {
        tokio::spawn(gate.batch(batch).in_current_span())
    })
    .max_batch_size(MAX_BATCH)
    .delay(Duration::ZERO)
}

impl Loaders {
    /// Loaders for one request, whose execution runs behind `gate`.
    pub fn new(db: &Db, sessions: SessionPolicy, count_limit: CountLimit, gate: &Gate) -> Self {
        Self {
            node: loader(NodeById(db.clone()), gate),
            customer: loader(CustomerById(db.clone()), gate),
            groups_of_customer: loader(GroupsOfCustomer(db.clone()), gate),
            addresses_of_customer: loader(AddressesOfCustomer(db.clone()), gate),
            orders_of_customer: loader(OrdersOfCustomer(db.clone()), gate),
            order_count_of_customer: loader(OrderCountOfCustomer(db.clone()), gate),
            line_items_of_order: loader(LineItemsOfOrder(db.clone()), gate),
            members_of_group: loader(MembersOfGroup(db.clone()), gate),
            member_count_of_group: loader(MemberCountOfGroup(db.clone(), count_limit), gate),
            admin_user: loader(AdminUserById(db.clone()), gate),
            transfers_of_order: loader(TransfersOfOrder(db.clone()), gate),
            actions_of_customer: loader(ActionsOfCustomer(db.clone()), gate),
            notes_of_customer: loader(NotesOfCustomer(db.clone()), gate),
            events_of_customer: loader(EventsOfCustomer(db.clone()), gate),
            spend_of_customer: loader(SpendOfCustomer(db.clone()), gate),
            consents_of_customer: loader(ConsentsOfCustomer(db.clone()), gate),
            actions_of_group: loader(ActionsOfGroup(db.clone()), gate),
            sessions_of_customer: loader(SessionsOfCustomer(db.clone(), sessions), gate),
        }
    }
}

/// `node`, `nodes`: any object by id (visibility is the resolver's).
pub struct NodeById(Db);

impl Loader<Uuid> for NodeById {
    type Value = crate::domain::nodes::Found;
    type Error = DomainError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        crate::domain::nodes::by_ids(&self.0, ids).await
    }
}

/// `order.customer`, `address.customer`: soft-deleted customers included (history).
pub struct CustomerById(Db);

impl Loader<Uuid> for CustomerById {
    type Value = customer::Model;
    type Error = DomainError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        customers::by_ids(&self.0, ids).await
    }
}

/// `customer.sessions`.
pub struct SessionsOfCustomer(Db, SessionPolicy);

impl Loader<Uuid> for SessionsOfCustomer {
    type Value = Vec<session::Model>;
    type Error = DomainError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        sessions::of_customers(&self.0, ids, &self.1).await
    }
}

/// `customer.groups`.
pub struct GroupsOfCustomer(Db);

impl Loader<Uuid> for GroupsOfCustomer {
    type Value = Vec<customer_group::Model>;
    type Error = DomainError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        groups::of_customers(&self.0, ids).await
    }
}

/// `customer.shippingAddresses` and `customer.billingAddress`.
pub struct AddressesOfCustomer(Db);

impl Loader<Uuid> for AddressesOfCustomer {
    type Value = Vec<address::Model>;
    type Error = DomainError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        addresses::of_customers(&self.0, ids).await
    }
}

/// Keys `(parent, rest)` grouped by `rest`: one statement per distinct page request
/// or filter, each for all the parents that share it.
fn parents_by_rest<Q: std::hash::Hash + Eq>(keys: &[(Uuid, Q)]) -> HashMap<&Q, Vec<Uuid>> {
    let mut grouped: HashMap<&Q, Vec<Uuid>> = HashMap::new();
    for (parent, rest) in keys {
        grouped.entry(rest).or_default().push(*parent);
    }
    grouped
}

/// Groups paged keys by their page request: siblings in one query share the request,
/// so a whole list of parents is still one statement.
async fn load_pages<Q, T, F, Fut>(
    keys: &[(Uuid, Q)],
    load: F,
) -> Result<HashMap<(Uuid, Q), Page<T>>, DomainError>
where
    Q: std::hash::Hash + Eq + Clone,
    F: Fn(Vec<Uuid>, Q) -> Fut,
    Fut: Future<Output = Result<HashMap<Uuid, Page<T>>, DomainError>>,
{
    let mut pages = HashMap::with_capacity(keys.len());
    for (request, parents) in parents_by_rest(keys) {
        for (parent, page) in load(parents, request.clone()).await? {
            pages.insert((parent, request.clone()), page);
        }
    }
    Ok(pages)
}

/// `customer.orders`, keyed by customer, page and filter.
pub struct OrdersOfCustomer(Db);

impl Loader<(Uuid, (PageRequest, OrderFilter))> for OrdersOfCustomer {
    type Value = Page<order::Model>;
    type Error = DomainError;

    async fn load(
        &self,
        keys: &[(Uuid, (PageRequest, OrderFilter))],
    ) -> Result<HashMap<(Uuid, (PageRequest, OrderFilter)), Self::Value>, Self::Error> {
        load_pages(keys, |parents, (request, filter)| async move {
            orders::pages_of_customers(&self.0, &parents, &request, &filter).await
        })
        .await
    }
}

/// `customer.orders.totalCount`, keyed by customer and filter.
pub struct OrderCountOfCustomer(Db);

impl Loader<(Uuid, OrderFilter)> for OrderCountOfCustomer {
    type Value = u64;
    type Error = DomainError;

    async fn load(
        &self,
        keys: &[(Uuid, OrderFilter)],
    ) -> Result<HashMap<(Uuid, OrderFilter), Self::Value>, Self::Error> {
        let mut counts = HashMap::with_capacity(keys.len());
        for (filter, customers) in parents_by_rest(keys) {
            for (customer, count) in
                orders::counts_of_customers(&self.0, &customers, filter).await?
            {
                counts.insert((customer, filter.clone()), count);
            }
        }
        Ok(counts)
    }
}

/// `order.lineItems`.
pub struct LineItemsOfOrder(Db);

impl Loader<Uuid> for LineItemsOfOrder {
    type Value = Vec<line_item::Model>;
    type Error = DomainError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        orders::line_items_of_orders(&self.0, ids).await
    }
}

/// `customerGroup.customers`.
pub struct MembersOfGroup(Db);

impl Loader<(Uuid, PageRequest)> for MembersOfGroup {
    type Value = Page<customer::Model>;
    type Error = DomainError;

    async fn load(
        &self,
        keys: &[(Uuid, PageRequest)],
    ) -> Result<HashMap<(Uuid, PageRequest), Self::Value>, Self::Error> {
        load_pages(keys, |parents, request| async move {
            groups::member_pages(&self.0, &parents, &request).await
        })
        .await
    }
}

/// `customerGroup.customers.totalCount`.
pub struct MemberCountOfGroup(Db, CountLimit);

impl Loader<Uuid> for MemberCountOfGroup {
    type Value = crate::domain::counts::Count;
    type Error = DomainError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        groups::member_counts(&self.0, ids, self.1).await
    }
}

/// `adminAction.admin`.
pub struct AdminUserById(Db);

impl Loader<Uuid> for AdminUserById {
    type Value = admin_user::Model;
    type Error = DomainError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        admins::by_ids(&self.0, ids).await
    }
}

/// `customer.events`, keyed by customer, page and view (the staff's or the customer's).
pub struct EventsOfCustomer(Db);

impl Loader<(Uuid, (PageRequest, TrailSubject))> for EventsOfCustomer {
    type Value = Page<admin_action::Model>;
    type Error = DomainError;

    async fn load(
        &self,
        keys: &[(Uuid, (PageRequest, TrailSubject))],
    ) -> Result<HashMap<(Uuid, (PageRequest, TrailSubject)), Self::Value>, Self::Error> {
        load_pages(keys, |parents, (request, of)| async move {
            audit::pages(&self.0, &parents, of, &request).await
        })
        .await
    }
}

/// `customer.amountSpent`.
pub struct SpendOfCustomer(Db);

impl Loader<Uuid> for SpendOfCustomer {
    type Value = Vec<customer_spend::Model>;
    type Error = DomainError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        crate::domain::stats::spend_of_customers(&self.0, ids).await
    }
}

/// `customer.consents`.
pub struct ConsentsOfCustomer(Db);

impl Loader<Uuid> for ConsentsOfCustomer {
    type Value = Vec<customer_consent::Model>;
    type Error = DomainError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        crate::domain::consents::current_of_customers(&self.0, ids).await
    }
}

/// `customer.notes`, keyed by customer and page.
pub struct NotesOfCustomer(Db);

/// `customer.adminActions`.
pub struct ActionsOfCustomer(Db);

impl Loader<(Uuid, PageRequest)> for NotesOfCustomer {
    type Value = Page<customer_note::Model>;
    type Error = DomainError;

    async fn load(
        &self,
        keys: &[(Uuid, PageRequest)],
    ) -> Result<HashMap<(Uuid, PageRequest), Self::Value>, Self::Error> {
        load_pages(keys, |parents, request| async move {
            crate::domain::notes::pages_of_customers(&self.0, &parents, &request).await
        })
        .await
    }
}

impl Loader<(Uuid, PageRequest)> for ActionsOfCustomer {
    type Value = Page<admin_action::Model>;
    type Error = DomainError;

    async fn load(
        &self,
        keys: &[(Uuid, PageRequest)],
    ) -> Result<HashMap<(Uuid, PageRequest), Self::Value>, Self::Error> {
        load_pages(keys, |parents, request| async move {
            audit::pages(&self.0, &parents, TrailSubject::Customers, &request).await
        })
        .await
    }
}

/// `customerGroup.adminActions`.
pub struct ActionsOfGroup(Db);

impl Loader<(Uuid, PageRequest)> for ActionsOfGroup {
    type Value = Page<admin_action::Model>;
    type Error = DomainError;

    async fn load(
        &self,
        keys: &[(Uuid, PageRequest)],
    ) -> Result<HashMap<(Uuid, PageRequest), Self::Value>, Self::Error> {
        load_pages(keys, |parents, request| async move {
            audit::pages(&self.0, &parents, TrailSubject::Groups, &request).await
        })
        .await
    }
}

/// `order.transfers`.
pub struct TransfersOfOrder(Db);

impl Loader<Uuid> for TransfersOfOrder {
    type Value = Vec<order_transfer::Model>;
    type Error = DomainError;

    async fn load(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        orders::transfers_of_orders(&self.0, ids).await
    }
}
