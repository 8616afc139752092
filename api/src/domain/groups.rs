//! Customer groups and their memberships: reads, and the admin's changes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use entity::rows;
use entity::{customer, customer_group, customer_group_customer};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    FromQueryResult, Iterable, QueryFilter, QueryOrder, QuerySelect, QueryTrait, TryInsertResult,
};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Action, ActionKind, Subject};
use super::counts::{self, Count, CountLimit};
use super::events::DomainEvent;
use super::fields::{self, Change, MAX_TEXT_CHARS};
use crate::db::Db;
use crate::db::{self, OnUnique, UniqueKey};

use super::pagination::{
    KeyKind, Keyset, PARTITION_COLUMN, Page, PageRequest, pages_by_parent, per_parent_pages_queries,
};
use super::search::{SearchText, contains_pattern};
use crate::error::{DomainError, DomainResult};

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GroupFilter {
    /// Case-insensitive substring of the name.
    pub search: Option<SearchText>,
    /// Only groups this customer belongs to.
    pub customer_id: Option<Uuid>,
    pub include_deleted: bool,
}

impl GroupFilter {
    fn condition(&self) -> Condition {
        let mut condition = Condition::all();
        if !self.include_deleted {
            condition = condition.add(customer_group::Column::DeletedAt.is_null());
        }
        if let Some(search) = &self.search {
            let name = Func::lower(Expr::col((
                customer_group::Entity,
                customer_group::Column::Name,
            )));
            condition = condition.add(Expr::expr(name).like(contains_pattern(search.phrase())));
        }
        if let Some(customer_id) = self.customer_id {
            let groups_of_customer = Query::select()
                .column(customer_group_customer::Column::CustomerGroupId)
                .from(customer_group_customer::Entity)
                .and_where(customer_group_customer::Column::CustomerId.eq(customer_id))
                .to_owned();
            condition = condition.add(customer_group::Column::Id.in_subquery(groups_of_customer));
        }
        condition
    }
}

/// Groups are listed by name, A to Z.
fn keyset() -> Keyset {
    Keyset {
        name: "customer_group.name",
        key: Some((
            Expr::col((customer_group::Entity, customer_group::Column::Name)),
            KeyKind::Text,
        )),
        id: Expr::col((customer_group::Entity, customer_group::Column::Id)),
        descending: false,
    }
}

pub async fn list(
    db: &impl ConnectionTrait,
    filter: &GroupFilter,
    request: &PageRequest,
) -> DomainResult<Page<customer_group::Model>> {
    let keyset = keyset();
    let select = customer_group::Entity::find().filter(filter.condition());
    let rows = keyset.page_models(db, select, request).await?;
    Ok(Page::from_rows(rows, request, |g| {
        keyset.cursor(g.name.clone(), g.id)
    }))
}

/// How many groups match `filter` (up to the count limit).
pub async fn count(
    db: &impl ConnectionTrait,
    filter: &GroupFilter,
    limit: CountLimit,
) -> DomainResult<Count> {
    let rows = customer_group::Entity::find()
        .select_only()
        .column(customer_group::Column::Id)
        .filter(filter.condition())
        .into_query();
    counts::count_rows(db, rows, limit).await
}

pub async fn get(
    db: &impl ConnectionTrait,
    id: Uuid,
    include_deleted: bool,
) -> DomainResult<customer_group::Model> {
    customer_group::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|g| include_deleted || g.deleted_at.is_none())
        .ok_or(DomainError::NotFound("customer group"))
}

/// The live groups of each customer, by name.
pub async fn of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, Vec<Arc<customer_group::Model>>>> {
    static MEMBERSHIPS: db::PrebuiltByKeys = db::PrebuiltByKeys::new(|backend, ids| {
        customer_group_customer::Entity::find()
            .find_also_related(customer_group::Entity)
            .filter(customer_group_customer::Column::CustomerId.is_in(ids.iter().copied()))
            .filter(customer_group::Column::DeletedAt.is_null())
            .order_by_asc(customer_group::Column::Name)
            .build(backend)
    });
    type Membership = (
        customer_group_customer::Model,
        Option<customer_group::Model>,
    );
    let memberships = MEMBERSHIPS.bind(db.get_database_backend(), customer_ids);
    let rows: Vec<Membership> = rows::read(db, memberships).await?;
    // One model per group, shared by its members here: a page of customers
    // names the same few groups again and again.
    let mut shared: HashMap<Uuid, Arc<customer_group::Model>> = HashMap::new();
    let mut groups: HashMap<Uuid, Vec<Arc<customer_group::Model>>> =
        HashMap::with_capacity(customer_ids.len());
    for (membership, group) in rows {
        if let Some(group) = group {
            let group = shared
                .entry(group.id)
                .or_insert_with(|| Arc::new(group))
                .clone();
            groups
                .entry(membership.customer_id)
                .or_default()
                .push(group);
        }
    }
    Ok(groups)
}

/// Members newest customer first, by id alone. Customer ids are time-ordered (v7), so
/// this is creation order, and the membership key (group, customer) is an index that
/// yields a group's page directly; ordering by `customer.created_at` would sort every
/// member of the group to find the first few.
fn member_keyset() -> Keyset {
    Keyset {
        name: "member.customer_id",
        key: None,
        id: Expr::col((
            customer_group_customer::Entity,
            customer_group_customer::Column::CustomerId,
        )),
        descending: true,
    }
}

/// The live members of each group, one page per group, newest customer first.
pub async fn member_pages(
    db: &impl ConnectionTrait,
    group_ids: &[Uuid],
    request: &PageRequest,
) -> DomainResult<HashMap<Uuid, Page<customer::Model>>> {
    let keyset = member_keyset();
    let group_column = (
        customer_group_customer::Entity,
        customer_group_customer::Column::CustomerGroupId,
    );
    let branch = |group_id: Uuid| {
        customer::Entity::find()
            .select_only()
            .columns(customer::Column::iter())
            .expr_as(Expr::val(group_id), PARTITION_COLUMN)
            .inner_join(customer_group_customer::Entity)
            .filter(Expr::col(group_column).eq(group_id))
            .filter(customer::Column::DeletedAt.is_null())
            .into_query()
    };
    let mut members = Vec::new();
    for query in per_parent_pages_queries(group_ids, branch, &keyset, request)? {
        for row in db.query_all(&query).await? {
            let group_id: Uuid = row.try_get("", PARTITION_COLUMN)?;
            members.push((group_id, customer::Model::from_query_result(&row, "")?));
        }
    }
    Ok(pages_by_parent(group_ids, members, request, |c| {
        keyset.cursor(String::new(), c.id)
    }))
}

/// How many live customers each group has (up to the count limit); groups without
/// live members are absent.
pub async fn member_counts(
    db: &impl ConnectionTrait,
    group_ids: &[Uuid],
    limit: CountLimit,
) -> DomainResult<HashMap<Uuid, Count>> {
    counts::count_rows_per_parent(
        db,
        group_ids,
        |group| {
            customer_group_customer::Entity::find()
                .select_only()
                .column(customer_group_customer::Column::CustomerId)
                .inner_join(customer::Entity)
                .filter(customer_group_customer::Column::CustomerGroupId.eq(group))
                .filter(customer::Column::DeletedAt.is_null())
                .into_query()
        },
        limit,
    )
    .await
}

// ---- Admin changes to groups and memberships ----

/// A group name: trimmed, 1 to 200 characters. Unique among live groups regardless
/// of case ("VIP" and "vip" are one group), which the database's index enforces.
fn group_name(name: &str) -> DomainResult<String> {
    match fields::optional_text(Some(name.to_owned()), "name", MAX_TEXT_CHARS)? {
        Some(name) => Ok(name),
        None => Err(DomainError::bad_input("name", "must not be empty")),
    }
}

pub async fn create(
    db: &Db,
    admin_id: Uuid,
    name: &str,
    metadata: Option<serde_json::Value>,
) -> DomainResult<customer_group::Model> {
    let name = group_name(name)?;
    let metadata = fields::stored(fields::metadata(metadata, "metadata")?);
    let now = db::now();
    let txn = db::begin_write(db).await?;
    let group = customer_group::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name),
        metadata: Set(metadata),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
    }
    .insert(&txn)
    .await
    .on_unique(UniqueKey::GroupLiveName, DomainError::NameTaken)?;
    audit::record(
        &txn,
        Action {
            admin_id,
            kind: ActionKind::GroupCreate,
            subject: Subject::Group(group.id),
            details: Some(json!({ "name": group.name })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(group)
}

/// Renames a group (NAME_TAKEN onto a live group's name) and merges its metadata.
pub async fn update(
    db: &Db,
    admin_id: Uuid,
    id: Uuid,
    name: Option<&str>,
    metadata: Change<serde_json::Value>,
) -> DomainResult<customer_group::Model> {
    let name = name.map(group_name).transpose()?;
    let txn = db::begin_write(db).await?;
    let current = get(&txn, id, false).await?;
    let mut update: customer_group::ActiveModel = current.clone().into();
    if let Some(name) = &name {
        update.name = Set(name.clone());
    }
    update.metadata = Set(fields::apply_metadata(
        current.metadata,
        metadata,
        "metadata",
    )?);
    update.updated_at = Set(db::now());
    let group = update
        .update(&txn)
        .await
        .on_unique(UniqueKey::GroupLiveName, DomainError::NameTaken)?;
    audit::record(
        &txn,
        Action {
            admin_id,
            kind: ActionKind::GroupUpdate,
            subject: Subject::Group(id),
            details: Some(json!({ "name": name })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(group)
}

/// Soft delete: the group leaves every read, its memberships stop counting, and a new
/// group may take its name. Deleting it again is NOT_FOUND.
pub async fn delete(db: &Db, admin_id: Uuid, id: Uuid) -> DomainResult<customer_group::Model> {
    let now = db::now();
    let txn = db::begin_write(db).await?;
    let deleted = customer_group::Entity::update_many()
        .col_expr(customer_group::Column::DeletedAt, Expr::val(now))
        .col_expr(customer_group::Column::UpdatedAt, Expr::val(now))
        .filter(customer_group::Column::Id.eq(id))
        .filter(customer_group::Column::DeletedAt.is_null())
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(DomainError::NotFound("customer group"));
    }
    audit::record(
        &txn,
        Action {
            admin_id,
            kind: ActionKind::GroupDelete,
            subject: Subject::Group(id),
            details: None,
        },
    )
    .await?;
    let group = get(&txn, id, true).await?;
    txn.commit().await?;
    Ok(group)
}

/// Every id must be a live group, or NOT_FOUND names the missing ones.
pub(crate) async fn require_live(
    db: &impl ConnectionTrait,
    ids: &BTreeSet<Uuid>,
    field: &str,
) -> DomainResult<()> {
    let found = live_ids::<customer_group::Entity>(
        db,
        customer_group::Column::Id,
        customer_group::Column::DeletedAt,
        ids,
    )
    .await?;
    missing(ids, &found, "customer group", field)
}

/// Every id must be a live customer, or NOT_FOUND names the missing ones.
async fn require_live_customers(
    db: &impl ConnectionTrait,
    ids: &BTreeSet<Uuid>,
    field: &str,
) -> DomainResult<()> {
    let found =
        live_ids::<customer::Entity>(db, customer::Column::Id, customer::Column::DeletedAt, ids)
            .await?;
    missing(ids, &found, "customer", field)
}

/// The ids among `ids` of rows that are not soft-deleted.
async fn live_ids<E: EntityTrait>(
    db: &impl ConnectionTrait,
    id: E::Column,
    deleted_at: E::Column,
    ids: &BTreeSet<Uuid>,
) -> DomainResult<BTreeSet<Uuid>> {
    Ok(E::find()
        .select_only()
        .column(id)
        .filter(id.is_in(ids.iter().copied()))
        .filter(deleted_at.is_null())
        .into_tuple::<Uuid>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

fn missing(
    wanted: &BTreeSet<Uuid>,
    found: &BTreeSet<Uuid>,
    what: &'static str,
    field: &str,
) -> DomainResult<()> {
    let ids: Vec<Uuid> = wanted.difference(found).copied().collect();
    if ids.is_empty() {
        Ok(())
    } else {
        Err(DomainError::NotFoundIds {
            what,
            field: field.to_owned(),
            ids,
        })
    }
}

/// Most ids one batch membership change takes.
pub const MAX_BATCH_IDS: usize = 1_000;
/// Most groups `Customer.groups` lists; it bounds that list's query cost.
pub const MAX_GROUPS_LISTED: usize = 50;

fn batch(ids: &[Uuid]) -> DomainResult<BTreeSet<Uuid>> {
    if ids.len() > MAX_BATCH_IDS {
        return Err(DomainError::bad_input(
            "customerIds",
            format!("at most {MAX_BATCH_IDS} ids at a time"),
        ));
    }
    Ok(ids.iter().copied().collect())
}

/// Adds customers to a live group. Idempotent (members stay members, once), and
/// all-or-nothing: if any id is not a live customer, NOT_FOUND names it and nothing
/// changes.
pub async fn add_customers(
    db: &Db,
    admin_id: Uuid,
    group_id: Uuid,
    customer_ids: &[Uuid],
) -> DomainResult<customer_group::Model> {
    let ids = batch(customer_ids)?;
    let txn = db::begin_write(db).await?;
    let group = get(&txn, group_id, false).await?;
    require_live_customers(&txn, &ids, "customerIds").await?;
    let ids: Vec<Uuid> = ids.into_iter().collect();
    add_member_rows(&txn, admin_id, group_id, &ids).await?;
    txn.commit().await?;
    Ok(group)
}

/// Removes customers from a live group. Idempotent (removing a non-member is fine),
/// all-or-nothing on unknown ids like [`add_customers`].
pub async fn remove_customers(
    db: &Db,
    admin_id: Uuid,
    group_id: Uuid,
    customer_ids: &[Uuid],
) -> DomainResult<customer_group::Model> {
    let ids = batch(customer_ids)?;
    let txn = db::begin_write(db).await?;
    let group = get(&txn, group_id, false).await?;
    require_live_customers(&txn, &ids, "customerIds").await?;
    let ids: Vec<Uuid> = ids.into_iter().collect();
    remove_member_rows(&txn, admin_id, group_id, &ids).await?;
    txn.commit().await?;
    Ok(group)
}

/// Inserts the memberships that do not exist yet and records each one. The primary
/// key (group, customer) makes an existing or concurrent duplicate a no-op, and
/// `RETURNING` says which rows this statement really inserted: only those are
/// recorded, so two admins adding one customer at once leave one audit row.
pub(crate) async fn add_member_rows(
    db: &impl ConnectionTrait,
    admin_id: Uuid,
    group_id: Uuid,
    customer_ids: &[Uuid],
) -> DomainResult<()> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    let now = db::now();
    let rows = customer_ids
        .iter()
        .map(|customer_id| customer_group_customer::ActiveModel {
            customer_group_id: Set(group_id),
            customer_id: Set(*customer_id),
            created_at: Set(now),
        });
    let inserted = customer_group_customer::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([
            customer_group_customer::Column::CustomerGroupId,
            customer_group_customer::Column::CustomerId,
        ])
        .exec_with_returning_many(db)
        .await?;
    let added: Vec<Uuid> = match inserted {
        TryInsertResult::Inserted(rows) => rows.into_iter().map(|row| row.customer_id).collect(),
        TryInsertResult::Empty | TryInsertResult::Conflicted => Vec::new(),
    };
    audit::record_all(
        db,
        membership_actions(admin_id, group_id, &added, ActionKind::GroupAddCustomer),
    )
    .await?;
    if !added.is_empty() {
        DomainEvent::membership_changed(group_id, &added, &[])
            .publish(db)
            .await?;
    }
    Ok(())
}

/// Deletes the memberships that exist and records each one; `RETURNING` names the
/// rows this statement deleted, so a concurrent removal is recorded once.
pub(crate) async fn remove_member_rows(
    db: &impl ConnectionTrait,
    admin_id: Uuid,
    group_id: Uuid,
    customer_ids: &[Uuid],
) -> DomainResult<()> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    let removed: Vec<Uuid> = customer_group_customer::Entity::delete_many()
        .filter(customer_group_customer::Column::CustomerGroupId.eq(group_id))
        .filter(customer_group_customer::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .exec_with_returning(db)
        .await?
        .into_iter()
        .map(|row| row.customer_id)
        .collect();
    audit::record_all(
        db,
        membership_actions(
            admin_id,
            group_id,
            &removed,
            ActionKind::GroupRemoveCustomer,
        ),
    )
    .await?;
    if !removed.is_empty() {
        DomainEvent::membership_changed(group_id, &[], &removed)
            .publish(db)
            .await?;
    }
    Ok(())
}

fn membership_actions(
    admin_id: Uuid,
    group_id: Uuid,
    customers: &[Uuid],
    kind: ActionKind,
) -> Vec<Action> {
    customers
        .iter()
        .map(|customer| Action {
            admin_id,
            kind,
            subject: Subject::Membership {
                group: group_id,
                customer: *customer,
            },
            details: None,
        })
        .collect()
}
