//! Reading customers: the admin list with its filters and orderings, single reads,
//! and the batch reads behind the relation loaders.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{customer, customer_group, customer_group_customer};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryTrait,
};
use uuid::Uuid;

use super::pagination::{KeyKind, Keyset, Page, PageRequest, time_key};
use crate::error::{DomainError, DomainResult};

/// The admin dashboard's customer filters. Every field narrows the result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CustomerFilter {
    /// Every whitespace-separated term must appear (case-insensitively) in the email,
    /// first name or last name.
    pub search: Option<String>,
    pub has_account: Option<bool>,
    /// Members of any of these (live) groups.
    pub group_ids: Vec<Uuid>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created strictly before.
    pub created_before: Option<DateTime<Utc>>,
    /// Soft-deleted customers are hidden unless this is set.
    pub include_deleted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CustomerSortField {
    #[default]
    CreatedAt,
    Email,
    /// Customers without a last name sort as if it were empty.
    LastName,
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

/// `LIKE` pattern matching `term` anywhere, with the wildcards in `term` escaped.
pub(crate) fn contains_pattern(term: &str) -> LikeExpr {
    let mut escaped = String::with_capacity(term.len() + 2);
    escaped.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    LikeExpr::new(escaped).escape('\\')
}

fn lower_contains(column: customer::Column, term: &str) -> Expr {
    let value = Func::coalesce([Expr::col((customer::Entity, column)), Expr::val("")]);
    Expr::expr(Func::lower(value)).like(contains_pattern(term))
}

impl CustomerFilter {
    pub(crate) fn condition(&self) -> Condition {
        let mut condition = Condition::all();
        if !self.include_deleted {
            condition = condition.add(customer::Column::DeletedAt.is_null());
        }
        if let Some(has_account) = self.has_account {
            condition = condition.add(customer::Column::HasAccount.eq(has_account));
        }
        if let Some(after) = self.created_after {
            condition = condition.add(customer::Column::CreatedAt.gte(after));
        }
        if let Some(before) = self.created_before {
            condition = condition.add(customer::Column::CreatedAt.lt(before));
        }
        for term in self.search.iter().flat_map(|s| s.split_whitespace()) {
            let term = term.to_lowercase();
            condition = condition.add(
                Condition::any()
                    .add(lower_contains(customer::Column::Email, &term))
                    .add(lower_contains(customer::Column::FirstName, &term))
                    .add(lower_contains(customer::Column::LastName, &term)),
            );
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
    let mut select = customer::Entity::find().filter(filter.condition());
    keyset.apply(QueryTrait::query(&mut select), request)?;
    let rows = select.all(db).await?;
    Ok(Page::from_rows(rows, request, |c| {
        keyset.cursor(order.key_of(c), c.id)
    }))
}

/// How many customers match `filter`, ignoring pagination.
pub async fn count(db: &impl ConnectionTrait, filter: &CustomerFilter) -> DomainResult<u64> {
    Ok(customer::Entity::find()
        .filter(filter.condition())
        .count(db)
        .await?)
}

/// One customer; soft-deleted ones only when `include_deleted`.
pub async fn get(
    db: &impl ConnectionTrait,
    id: Uuid,
    include_deleted: bool,
) -> DomainResult<customer::Model> {
    customer::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|c| include_deleted || c.deleted_at.is_none())
        .ok_or(DomainError::NotFound("customer"))
}

/// Customers by id, soft-deleted ones included: an order or address keeps pointing at
/// its customer after deletion, for history.
pub async fn by_ids(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, customer::Model>> {
    Ok(customer::Entity::find()
        .filter(customer::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect())
}
