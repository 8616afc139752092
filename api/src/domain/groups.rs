//! Reading customer groups and their memberships.

use std::collections::HashMap;

use entity::{customer, customer_group, customer_group_customer};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, Iterable,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use uuid::Uuid;

use super::customers::contains_pattern;
use super::pagination::{
    KeyKind, Keyset, PARTITION_COLUMN, Page, PageRequest, pages_by_parent, per_parent_pages_queries,
};
use crate::error::{DomainError, DomainResult};

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GroupFilter {
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
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
        if let Some(search) = self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let name = Func::lower(Expr::col((
                customer_group::Entity,
                customer_group::Column::Name,
            )));
            condition =
                condition.add(Expr::expr(name).like(contains_pattern(&search.to_lowercase())));
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
    let mut select = customer_group::Entity::find().filter(filter.condition());
    keyset.apply(QueryTrait::query(&mut select), request)?;
    let rows = select.all(db).await?;
    Ok(Page::from_rows(rows, request, |g| {
        keyset.cursor(g.name.clone(), g.id)
    }))
}

pub async fn count(db: &impl ConnectionTrait, filter: &GroupFilter) -> DomainResult<u64> {
    Ok(customer_group::Entity::find()
        .filter(filter.condition())
        .count(db)
        .await?)
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
) -> DomainResult<HashMap<Uuid, Vec<customer_group::Model>>> {
    let rows = customer_group_customer::Entity::find()
        .find_also_related(customer_group::Entity)
        .filter(customer_group_customer::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .filter(customer_group::Column::DeletedAt.is_null())
        .order_by_asc(customer_group::Column::Name)
        .all(db)
        .await?;
    let mut groups: HashMap<Uuid, Vec<customer_group::Model>> = HashMap::new();
    for (membership, group) in rows {
        if let Some(group) = group {
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

/// How many live customers each group has.
pub async fn member_counts(
    db: &impl ConnectionTrait,
    group_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, u64>> {
    let rows: Vec<(Uuid, i64)> = customer_group_customer::Entity::find()
        .select_only()
        .column(customer_group_customer::Column::CustomerGroupId)
        .column_as(
            customer_group_customer::Column::CustomerId.count(),
            "members",
        )
        .inner_join(customer::Entity)
        .filter(customer_group_customer::Column::CustomerGroupId.is_in(group_ids.iter().copied()))
        .filter(customer::Column::DeletedAt.is_null())
        .group_by(customer_group_customer::Column::CustomerGroupId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(group, members)| (group, u64::try_from(members).unwrap_or(0)))
        .collect())
}
