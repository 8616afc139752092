//! Customers as the admin sees them: the list with its filters and orderings, single
//! reads, the batch reads behind the relation loaders, and the admin's changes
//! (create, update, soft delete, restore).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::rows;
use entity::{customer, customer_group, customer_group_customer};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend,
    EntityTrait, QueryFilter, QuerySelect, QueryTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Action, ActionKind, Subject};
use super::counts::{self, Count, CountLimit};
use super::email::Email;
use super::events::{DomainEvent, EventType};
use super::fields::{self, Change, MAX_PHONE_CHARS, MAX_TEXT_CHARS};
use super::pagination::{KeyKind, Keyset, Page, PageRequest, time_key};
use super::search::{SearchText, contains_pattern};
use crate::db::Db;
use crate::db::{self, UniqueKey};
use crate::error::{DomainError, DomainResult};

/// The admin dashboard's customer filters. Every field narrows the result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CustomerFilter {
    /// Every whitespace-separated term must appear (case-insensitively) in the email,
    /// first name or last name.
    pub search: Option<SearchText>,
    pub has_account: Option<bool>,
    /// Active (not disabled by an admin) or disabled accounts only.
    pub active: Option<bool>,
    /// At least / at most this many orders.
    pub order_count_min: Option<i32>,
    pub order_count_max: Option<i32>,
    /// Last order placed at or after / strictly before (customers without orders
    /// never match either).
    pub last_order_after: Option<DateTime<Utc>>,
    pub last_order_before: Option<DateTime<Utc>>,
    /// Members of any of these (live) groups; at most [`MAX_FILTER_GROUPS`].
    pub group_ids: Vec<Uuid>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created strictly before.
    pub created_before: Option<DateTime<Utc>>,
    /// Soft-deleted customers are hidden unless this is set.
    pub include_deleted: bool,
}

/// Most groups one customer filter may name.
pub const MAX_FILTER_GROUPS: usize = 100;

impl CustomerFilter {
    /// Refuses a filter too large to run (BAD_USER_INPUT on `filter.groupIds`).
    pub fn checked(self) -> DomainResult<Self> {
        if self.group_ids.len() > MAX_FILTER_GROUPS {
            return Err(DomainError::bad_input(
                "filter.groupIds",
                format!("at most {MAX_FILTER_GROUPS} groups"),
            ));
        }
        Ok(self)
    }
}

/// Where customers without orders sort by last order: before every real order.
const NEVER_ORDERED: DateTime<Utc> = DateTime::UNIX_EPOCH;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CustomerSortField {
    #[default]
    CreatedAt,
    Email,
    /// Customers without a last name sort as if it were empty.
    LastName,
    OrderCount,
    /// Customers who never ordered sort as if their last order were in 1970.
    LastOrderAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CustomerOrder {
    pub field: CustomerSortField,
    pub descending: bool,
}

impl Default for CustomerOrder {
    /// Newest first.
    fn default() -> Self {
        Self {
            field: CustomerSortField::CreatedAt,
            descending: true,
        }
    }
}

fn lower_contains(column: customer::Column, term: &str) -> Expr {
    let value = Func::coalesce([Expr::col((customer::Entity, column)), Expr::val("")]);
    Expr::expr(Func::lower(value)).like(contains_pattern(term))
}

/// Shortest word the SQLite trigram index can look up.
const TRIGRAM: usize = 3;

/// Every search word in the email, first or last name, answered from the search index
/// (migrations `m20261201_000010_add_customer_search` and
/// `m20261202_000018_index_customer_search_rows`).
///
/// PostgreSQL: one `LIKE` per word on the trigram-indexed `search_text`. SQLite: the
/// words of three characters or more as one FTS5 query of quoted phrases (a phrase
/// of the trigram tokenizer matches exactly that substring, case-insensitively); a
/// shorter word has no trigram to look up and is matched on the columns.
fn search_condition(search: &SearchText, backend: DbBackend) -> Condition {
    let mut condition = Condition::all();
    if backend == DbBackend::Postgres {
        for word in search.words() {
            condition = condition.add(
                Expr::col((customer::Entity, SEARCH_TEXT_COLUMN)).like(contains_pattern(word)),
            );
        }
        return condition;
    }
    let (indexed, short): (Vec<&str>, Vec<&str>) =
        search.words().partition(|w| w.chars().count() >= TRIGRAM);
    if !indexed.is_empty() {
        condition = condition.add(customer::Column::Id.in_subquery(search_rows(&indexed, false)));
    }
    for word in short {
        condition = condition.add(
            Condition::any()
                .add(lower_contains(customer::Column::Email, word))
                .add(lower_contains(customer::Column::FirstName, word))
                .add(lower_contains(customer::Column::LastName, word)),
        );
    }
    condition
}

/// SQLite's search rows (`customer_search_row`) whose text holds every one of `words`
/// (each of at least [`TRIGRAM`] characters), selecting `customer_id`; with `live_only`,
/// only those whose customer is not deleted.
fn search_rows(words: &[&str], live_only: bool) -> sea_orm::sea_query::SelectStatement {
    let phrases: Vec<String> = words
        .iter()
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect();
    let mut rows = Query::select();
    rows.column((CustomerSearchRow::Table, CustomerSearchRow::CustomerId))
        .from(CustomerSearchRow::Table)
        .and_where(Expr::cust_with_values(
            "customer_search_row.row IN (SELECT rowid FROM customer_search \
             WHERE customer_search MATCH ?)",
            [phrases.join(" AND ")],
        ));
    if live_only {
        rows.and_where(Expr::col((CustomerSearchRow::Table, CustomerSearchRow::Live)).eq(true));
    }
    rows.to_owned()
}

/// SQLite's search rows: one per customer, kept by triggers (migration 18).
#[derive(sea_orm::DeriveIden, Clone, Copy)]
enum CustomerSearchRow {
    Table,
    CustomerId,
    Live,
    CreatedAt,
}

/// A plain search on SQLite (every word indexed, no other filter but the deleted
/// flag): the search rows alone say which customers match, without looking each up.
fn sqlite_search_rows(
    filter: &CustomerFilter,
    backend: DbBackend,
) -> Option<sea_orm::sea_query::SelectStatement> {
    let search = filter.search.as_ref()?;
    let words: Vec<&str> = search.words().collect();
    let plain = CustomerFilter {
        search: filter.search.clone(),
        include_deleted: filter.include_deleted,
        ..CustomerFilter::default()
    };
    let indexed = words.iter().all(|w| w.chars().count() >= TRIGRAM);
    (backend == DbBackend::Sqlite && indexed && *filter == plain)
        .then(|| search_rows(&words, !filter.include_deleted))
}

/// PostgreSQL's generated, lower-cased "email first last" (not in the entity: the
/// server never reads it).
const SEARCH_TEXT_COLUMN: &str = "search_text";

impl CustomerFilter {
    pub(crate) fn condition(&self, backend: DbBackend) -> Condition {
        let mut condition = Condition::all();
        if !self.include_deleted {
            condition = condition.add(customer::Column::DeletedAt.is_null());
        }
        if let Some(has_account) = self.has_account {
            condition = condition.add(customer::Column::HasAccount.eq(has_account));
        }
        if let Some(min) = self.order_count_min {
            condition = condition.add(customer::Column::OrderCount.gte(min));
        }
        if let Some(max) = self.order_count_max {
            condition = condition.add(customer::Column::OrderCount.lte(max));
        }
        if let Some(after) = self.last_order_after {
            condition = condition.add(customer::Column::LastOrderAt.gte(after));
        }
        if let Some(before) = self.last_order_before {
            condition = condition.add(customer::Column::LastOrderAt.lt(before));
        }
        match self.active {
            Some(true) => condition = condition.add(customer::Column::DisabledAt.is_null()),
            Some(false) => condition = condition.add(customer::Column::DisabledAt.is_not_null()),
            None => {}
        }
        if let Some(after) = self.created_after {
            condition = condition.add(customer::Column::CreatedAt.gte(after));
        }
        if let Some(before) = self.created_before {
            condition = condition.add(customer::Column::CreatedAt.lt(before));
        }
        if let Some(search) = &self.search {
            condition = condition.add(search_condition(search, backend));
        }
        if !self.group_ids.is_empty() {
            // IN (subquery) rather than a join: a customer in two of the groups is
            // still listed once.
            let members = Query::select()
                .column((
                    customer_group_customer::Entity,
                    customer_group_customer::Column::CustomerId,
                ))
                .from(customer_group_customer::Entity)
                .inner_join(
                    customer_group::Entity,
                    Expr::col((customer_group::Entity, customer_group::Column::Id)).equals((
                        customer_group_customer::Entity,
                        customer_group_customer::Column::CustomerGroupId,
                    )),
                )
                .and_where(
                    Expr::col((
                        customer_group_customer::Entity,
                        customer_group_customer::Column::CustomerGroupId,
                    ))
                    .is_in(self.group_ids.iter().copied()),
                )
                .and_where(
                    Expr::col((customer_group::Entity, customer_group::Column::DeletedAt))
                        .is_null(),
                )
                .to_owned();
            condition = condition.add(customer::Column::Id.in_subquery(members));
        }
        condition
    }
}

impl CustomerOrder {
    pub(crate) fn keyset(&self) -> Keyset {
        let column = |c: customer::Column| Expr::col((customer::Entity, c));
        let (name, key, key_kind) = match self.field {
            CustomerSortField::CreatedAt => (
                "customer.created_at",
                column(customer::Column::CreatedAt),
                KeyKind::Time,
            ),
            CustomerSortField::Email => (
                "customer.email",
                column(customer::Column::Email),
                KeyKind::Text,
            ),
            CustomerSortField::OrderCount => (
                "customer.order_count",
                column(customer::Column::OrderCount),
                KeyKind::Integer,
            ),
            CustomerSortField::LastOrderAt => (
                "customer.last_order_at",
                Func::coalesce([
                    column(customer::Column::LastOrderAt),
                    Expr::val(NEVER_ORDERED),
                ])
                .into(),
                KeyKind::Time,
            ),
            CustomerSortField::LastName => (
                "customer.last_name",
                // Lower-cased so "de Vries" files beside "Dekker"; missing names first.
                Func::lower(Func::coalesce([
                    column(customer::Column::LastName),
                    Expr::val(""),
                ]))
                .into(),
                KeyKind::Text,
            ),
        };
        Keyset {
            name,
            key: Some((key, key_kind)),
            id: column(customer::Column::Id),
            descending: self.descending,
        }
    }

    pub(crate) fn key_of(&self, customer: &customer::Model) -> String {
        match self.field {
            CustomerSortField::CreatedAt => time_key(&customer.created_at),
            CustomerSortField::OrderCount => customer.order_count.to_string(),
            CustomerSortField::LastOrderAt => {
                time_key(&customer.last_order_at.unwrap_or(NEVER_ORDERED))
            }
            CustomerSortField::Email => customer.email.clone(),
            // ASCII only, as SQL `LOWER` does on SQLite and under the "C" collation.
            CustomerSortField::LastName => customer
                .last_name
                .as_deref()
                .unwrap_or_default()
                .to_ascii_lowercase(),
        }
    }
}

/// One page of the customer list.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &CustomerFilter,
    order: CustomerOrder,
    request: &PageRequest,
) -> DomainResult<Page<customer::Model>> {
    let keyset = order.keyset();
    let backend = db.get_database_backend();
    let condition = match sqlite_search_rows(filter, backend) {
        // Newest or oldest first: the page is picked from the search rows (which
        // hold the creation time), and only its customers are read.
        Some(mut rows) if order.field == CustomerSortField::CreatedAt => {
            let on_rows = Keyset {
                key: Some((
                    Expr::col((CustomerSearchRow::Table, CustomerSearchRow::CreatedAt)),
                    KeyKind::Time,
                )),
                id: Expr::col((CustomerSearchRow::Table, CustomerSearchRow::CustomerId)),
                ..keyset.clone()
            };
            on_rows.apply(&mut rows, request)?;
            Condition::all().add(customer::Column::Id.in_subquery(rows))
        }
        _ => filter.condition(backend),
    };
    let select = customer::Entity::find().filter(condition).into_query();
    let rows = rows::read(db, keyset.page_statement(select, request, backend)?).await?;
    Ok(Page::from_rows(rows, request, |c| {
        keyset.cursor(order.key_of(c), c.id)
    }))
}

/// How many customers match `filter`, ignoring pagination (up to the count limit).
pub async fn count(
    db: &impl ConnectionTrait,
    filter: &CustomerFilter,
    limit: CountLimit,
) -> DomainResult<Count> {
    let backend = db.get_database_backend();
    let rows = match sqlite_search_rows(filter, backend) {
        Some(rows) => rows,
        None => customer::Entity::find()
            .select_only()
            .column(customer::Column::Id)
            .filter(filter.condition(backend))
            .into_query(),
    };
    counts::count_rows(db, rows, limit).await
}

/// One customer; soft-deleted ones only when `include_deleted`.
pub async fn get(
    db: &impl ConnectionTrait,
    id: Uuid,
    include_deleted: bool,
) -> DomainResult<customer::Model> {
    static BY_ID: db::Prebuilt =
        db::Prebuilt::new(|backend| customer::Entity::find_by_id(Uuid::nil()).build(backend));
    let by_id = BY_ID.bind(db.get_database_backend(), [id.into()]);
    rows::read::<customer::Model>(db, by_id)
        .await?
        .pop()
        .filter(|c| include_deleted || c.deleted_at.is_none())
        .ok_or(DomainError::NotFound("customer"))
}

/// Customers by id, soft-deleted ones included: an order or address keeps pointing at
/// its customer after deletion, for history.
pub async fn by_ids(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, customer::Model>> {
    static BY_IDS: db::PrebuiltByKeys = db::PrebuiltByKeys::new(|backend, ids| {
        customer::Entity::find()
            .filter(customer::Column::Id.is_in(ids.iter().copied()))
            .build(backend)
    });
    let by_ids = BY_IDS.bind(db.get_database_backend(), ids);
    Ok(rows::read::<customer::Model>(db, by_ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect())
}

// ---- Admin changes to customers ----
//
// Every change is recorded in the audit trail in its own transaction. The email rule
// is the database's (partial unique index), so these functions never check first.

/// A customer an admin adds by hand: a record without an account.
#[derive(Debug, Clone, Default)]
pub struct NewCustomer {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub group_ids: Vec<Uuid>,
    pub external_id: Option<String>,
}

/// What `updateCustomer` may change; `Keep`/`None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct CustomerChange {
    pub email: Option<String>,
    pub profile: ProfileChange,
    /// The customer's groups become exactly these.
    pub group_ids: Option<Vec<Uuid>>,
    pub external_id: Change<String>,
}

/// Changes to the details a customer (through `updateMe`) and an admin may both
/// make; `Keep` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub first_name: Change<String>,
    pub last_name: Change<String>,
    pub phone: Change<String>,
    /// Merged key by key into the current metadata; `Clear` removes it all.
    pub metadata: Change<serde_json::Value>,
}

impl ProfileChange {
    /// The names of the fields this change touches, for the timeline.
    pub fn fields(&self) -> Vec<&'static str> {
        [
            ("firstName", self.first_name.is_keep()),
            ("lastName", self.last_name.is_keep()),
            ("phone", self.phone.is_keep()),
            ("metadata", self.metadata.is_keep()),
        ]
        .into_iter()
        .filter(|(_, kept)| !kept)
        .map(|(name, _)| name)
        .collect()
    }

    /// Validates the change and applies it to `current`.
    pub fn apply_to(self, current: customer::Model) -> DomainResult<customer::ActiveModel> {
        let text = |value: Option<String>, field: &str| {
            fields::optional_text(value, field, MAX_TEXT_CHARS)
        };
        let first_name = self.first_name.try_map(|v| text(v, "firstName"))?;
        let last_name = self.last_name.try_map(|v| text(v, "lastName"))?;
        let phone = self
            .phone
            .try_map(|v| fields::optional_text(v, "phone", MAX_PHONE_CHARS))?;
        let metadata = fields::apply_metadata(current.metadata.clone(), self.metadata, "metadata")?;
        let mut update: customer::ActiveModel = current.clone().into();
        update.first_name = Set(first_name.apply(current.first_name));
        update.last_name = Set(last_name.apply(current.last_name));
        update.phone = Set(phone.apply(current.phone));
        update.metadata = Set(metadata);
        update.updated_at = Set(db::now());
        Ok(update)
    }
}

/// The live customer of one kind (guest or registered) with this normalised email: at
/// most one exists, by the partial unique index.
pub async fn live_with_email(
    db: &impl ConnectionTrait,
    email: &str,
    has_account: bool,
) -> DomainResult<Option<customer::Model>> {
    Ok(customer::Entity::find()
        .filter(customer::Column::Email.eq(email))
        .filter(customer::Column::HasAccount.eq(has_account))
        .filter(customer::Column::DeletedAt.is_null())
        .one(db)
        .await?)
}

/// The live email rule refused the write: name the holder, which an admin may see.
async fn email_conflict(
    db: &impl ConnectionTrait,
    error: sea_orm::DbErr,
    email: &str,
    has_account: bool,
    external_id: Option<&str>,
) -> DomainError {
    if let Some(external_id) = external_id
        && UniqueKey::CustomerLiveExternalId.refused(&error)
    {
        return match with_external_id(db, external_id).await {
            Ok(Some(holder)) => DomainError::ExternalIdTakenBy { holder: holder.id },
            _ => DomainError::bad_input("externalId", "is already in use"),
        };
    }
    if !UniqueKey::CustomerLiveEmail.refused(&error) {
        return error.into();
    }
    match live_with_email(db, email, has_account).await {
        Ok(Some(holder)) => DomainError::EmailTakenBy { holder: holder.id },
        _ => DomainError::EmailTaken,
    }
}

/// The live customer another system knows by `external_id`.
pub async fn with_external_id(
    db: &impl ConnectionTrait,
    external_id: &str,
) -> DomainResult<Option<customer::Model>> {
    Ok(customer::Entity::find()
        .filter(customer::Column::ExternalId.eq(external_id))
        .filter(customer::Column::DeletedAt.is_null())
        .one(db)
        .await?)
}

/// Longest external id, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 255;

/// An external id as given: trimmed, at most 255 characters, no control characters;
/// blank is none.
pub fn external_id(value: Option<String>, field: &str) -> DomainResult<Option<String>> {
    fields::optional_text(value, field, MAX_EXTERNAL_ID_CHARS)
}

pub async fn create(db: &Db, admin_id: Uuid, input: NewCustomer) -> DomainResult<customer::Model> {
    let email = Email::parse(&input.email, "email")?;
    let external = external_id(input.external_id.clone(), "externalId")?;
    let now = db::now();
    let new = customer::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.as_str().to_owned()),
        first_name: Set(fields::optional_text(
            input.first_name,
            "firstName",
            MAX_TEXT_CHARS,
        )?),
        last_name: Set(fields::optional_text(
            input.last_name,
            "lastName",
            MAX_TEXT_CHARS,
        )?),
        phone: Set(fields::optional_text(
            input.phone,
            "phone",
            MAX_PHONE_CHARS,
        )?),
        has_account: Set(false),
        billing_address_id: Set(None),
        default_shipping_address_id: Set(None),
        disabled_at: Set(None),
        erased_at: Set(None),
        email_verified_at: Set(None),
        order_count: Set(0),
        last_order_at: Set(None),
        external_id: Set(external.clone()),
        metadata: Set(fields::stored(fields::metadata(
            input.metadata,
            "metadata",
        )?)),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
    };
    let txn = db::begin_write(db).await?;
    let created = match new.insert(&txn).await {
        Ok(created) => created,
        Err(error) => {
            drop(txn);
            let external = external.as_deref();
            return Err(email_conflict(db, error, email.as_str(), false, external).await);
        }
    };
    audit::record(
        &txn,
        Action {
            admin_id,
            kind: ActionKind::CustomerCreate,
            subject: Subject::Customer(created.id),
            details: Some(json!({
                "email": created.email,
                "externalId": created.external_id,
                "groupIds": input.group_ids,
            })),
        },
    )
    .await?;
    DomainEvent::customer(EventType::CustomerCreated, created.id)
        .publish(&txn)
        .await?;
    set_groups(&txn, admin_id, created.id, &input.group_ids).await?;
    txn.commit().await?;
    Ok(created)
}

pub async fn update(
    db: &Db,
    admin_id: Uuid,
    id: Uuid,
    change: CustomerChange,
) -> DomainResult<customer::Model> {
    let email = change
        .email
        .as_deref()
        .map(|e| Email::parse(e, "email"))
        .transpose()?;
    let txn = db::begin_write(db).await?;
    let current = get(&txn, id, false).await?;
    let (current_email, has_account) = (current.email.clone(), current.has_account);
    let external = change
        .external_id
        .clone()
        .try_map(|v| external_id(v, "externalId"))?;
    let mut update = change.profile.apply_to(current)?;
    match &external {
        Change::Keep => {}
        Change::Set(value) => update.external_id = Set(Some(value.clone())),
        Change::Clear => update.external_id = Set(None),
    }
    if let Some(email) = &email {
        // One column is both the contact and the login email, so they never drift.
        update.email = Set(email.as_str().to_owned());
        // Nobody proved the customer receives mail at an address an admin typed in.
        if email.as_str() != current_email {
            update.email_verified_at = Set(None);
        }
    }
    let updated = match update.update(&txn).await {
        Ok(updated) => updated,
        Err(error) => {
            drop(txn);
            let email = email.as_ref().map_or(current_email.as_str(), Email::as_str);
            let external = match &external {
                Change::Set(value) => Some(value.as_str()),
                _ => None,
            };
            return Err(email_conflict(db, error, email, has_account, external).await);
        }
    };
    if let Some(group_ids) = &change.group_ids {
        set_groups(&txn, admin_id, id, group_ids).await?;
    }
    audit::record(
        &txn,
        Action {
            admin_id,
            kind: ActionKind::CustomerUpdate,
            subject: Subject::Customer(id),
            details: Some(json!({
                "email": email.as_ref().map(Email::as_str),
                "externalId": match &external {
                    Change::Keep => None,
                    Change::Set(value) => Some(json!(value)),
                    Change::Clear => Some(serde_json::Value::Null),
                },
                "groupIds": change.group_ids,
            })),
        },
    )
    .await?;
    DomainEvent::customer(EventType::CustomerUpdated, id)
        .publish(&txn)
        .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Makes the customer's live groups exactly `group_ids`; every id must be a live
/// group, or nothing changes.
async fn set_groups(
    db: &impl ConnectionTrait,
    admin_id: Uuid,
    customer_id: Uuid,
    group_ids: &[Uuid],
) -> DomainResult<()> {
    // One statement per changed membership: the list is bounded like a filter's.
    if group_ids.len() > MAX_FILTER_GROUPS {
        return Err(DomainError::bad_input(
            "groupIds",
            format!("at most {MAX_FILTER_GROUPS} groups"),
        ));
    }
    let wanted: std::collections::BTreeSet<Uuid> = group_ids.iter().copied().collect();
    super::groups::require_live(db, &wanted, "groupIds").await?;
    let current: std::collections::BTreeSet<Uuid> = customer_group_customer::Entity::find()
        .filter(customer_group_customer::Column::CustomerId.eq(customer_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.customer_group_id)
        .collect();
    for group in current.difference(&wanted) {
        super::groups::remove_member_rows(db, admin_id, *group, &[customer_id]).await?;
    }
    for group in wanted.difference(&current) {
        super::groups::add_member_rows(db, admin_id, *group, &[customer_id]).await?;
    }
    Ok(())
}

/// Soft delete: the record, its addresses and orders stay for history; it leaves
/// every normal read, its sessions end, and its email is free again. Deleting a
/// customer that is already deleted (or never existed) is NOT_FOUND.
pub async fn delete(db: &Db, admin_id: Uuid, id: Uuid) -> DomainResult<customer::Model> {
    let txn = db::begin_write(db).await?;
    soft_delete(&txn, id).await?;
    audit::record(
        &txn,
        Action {
            admin_id,
            kind: ActionKind::CustomerDelete,
            subject: Subject::Customer(id),
            details: None,
        },
    )
    .await?;
    DomainEvent::customer(EventType::CustomerDeleted, id)
        .publish(&txn)
        .await?;
    let customer = get(&txn, id, true).await?;
    txn.commit().await?;
    Ok(customer)
}

/// Disables or enables a live customer's account (an admin action, audited, in one
/// transaction). Disabling ends every session; the customer cannot log in until an
/// admin enables the account again. Setting the state it already has changes and
/// records nothing.
pub async fn set_active(
    db: &Db,
    admin_id: Uuid,
    id: Uuid,
    active: bool,
) -> DomainResult<customer::Model> {
    let now = db::now();
    let txn = db::begin_write(db).await?;
    let disabled_at = (!active).then_some(now);
    let changed = customer::Entity::update_many()
        .col_expr(customer::Column::DisabledAt, Expr::val(disabled_at))
        .col_expr(customer::Column::UpdatedAt, Expr::val(now))
        .filter(customer::Column::Id.eq(id))
        .filter(customer::Column::DeletedAt.is_null())
        .filter(if active {
            customer::Column::DisabledAt.is_not_null()
        } else {
            customer::Column::DisabledAt.is_null()
        })
        .exec(&txn)
        .await?;
    if changed.rows_affected == 1 {
        let ended = if active {
            0
        } else {
            crate::auth::sessions::revoke_customer_sessions(&txn, id, None).await?
        };
        audit::record(
            &txn,
            Action {
                admin_id,
                kind: if active {
                    ActionKind::CustomerEnable
                } else {
                    ActionKind::CustomerDisable
                },
                subject: Subject::Customer(id),
                details: (!active).then(|| json!({ "sessionsEnded": ended })),
            },
        )
        .await?;
        DomainEvent::customer(EventType::CustomerUpdated, id)
            .publish(&txn)
            .await?;
    }
    // NOT_FOUND for a deleted or missing customer, whether or not anything changed.
    let customer = get(&txn, id, false).await?;
    txn.commit().await?;
    Ok(customer)
}

/// The soft delete itself, in the caller's transaction (an admin's delete or the
/// customer's own): the record is hidden, its email free again, its sessions ended.
/// NOT_FOUND if it is not live.
pub async fn soft_delete(db: &impl ConnectionTrait, id: Uuid) -> DomainResult<()> {
    let now = db::now();
    let deleted = customer::Entity::update_many()
        .col_expr(customer::Column::DeletedAt, Expr::val(now))
        .col_expr(customer::Column::UpdatedAt, Expr::val(now))
        .filter(customer::Column::Id.eq(id))
        .filter(customer::Column::DeletedAt.is_null())
        .exec(db)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(DomainError::NotFound("customer"));
    }
    // Resolving a session already refuses a deleted customer; removing the rows
    // makes that independent of the check.
    crate::auth::sessions::revoke_customer_sessions(db, id, None).await?;
    Ok(())
}

/// Ends every session of a live customer (an admin action, audited); returns how many
/// ended. The customer logs in again; nothing else changes.
pub async fn revoke_sessions(db: &Db, admin_id: Uuid, id: Uuid) -> DomainResult<u64> {
    let txn = db::begin_write(db).await?;
    get(&txn, id, false).await?;
    let ended = crate::auth::sessions::revoke_customer_sessions(&txn, id, None).await?;
    audit::record(
        &txn,
        Action {
            admin_id,
            kind: ActionKind::CustomerSessionsRevoke,
            subject: Subject::Customer(id),
            details: Some(json!({ "sessionsEnded": ended })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(ended)
}

/// Undoes a soft delete, unless a live customer now holds the same (email,
/// hasAccount): then EMAIL_TAKEN names that customer and nothing changes. A customer
/// that is not deleted is NOT_FOUND; an erased one is CUSTOMER_ERASED.
pub async fn restore(db: &Db, admin_id: Uuid, id: Uuid) -> DomainResult<customer::Model> {
    let txn = db::begin_write(db).await?;
    let current = get(&txn, id, true).await?;
    if current.erased_at.is_some() {
        return Err(DomainError::Erased);
    }
    if current.deleted_at.is_none() {
        return Err(DomainError::NotFound("deleted customer"));
    }
    let restored = customer::Entity::update_many()
        .col_expr(
            customer::Column::DeletedAt,
            Expr::val(Option::<DateTime<Utc>>::None),
        )
        .col_expr(customer::Column::UpdatedAt, Expr::val(db::now()))
        .filter(customer::Column::Id.eq(id))
        .filter(customer::Column::DeletedAt.is_not_null())
        .filter(customer::Column::ErasedAt.is_null())
        .exec(&txn)
        .await;
    match restored {
        Ok(result) if result.rows_affected == 1 => {}
        Ok(_) => return Err(DomainError::NotFound("deleted customer")),
        Err(error) => {
            drop(txn);
            let external = current.external_id.as_deref();
            let (email, has_account) = (&current.email, current.has_account);
            return Err(email_conflict(db, error, email, has_account, external).await);
        }
    }
    audit::record(
        &txn,
        Action {
            admin_id,
            kind: ActionKind::CustomerRestore,
            subject: Subject::Customer(id),
            details: None,
        },
    )
    .await?;
    DomainEvent::customer(EventType::CustomerRestored, id)
        .publish(&txn)
        .await?;
    let customer = get(&txn, id, false).await?;
    txn.commit().await?;
    Ok(customer)
}
