//! Keyset (cursor) pagination, shared by every list and nested connection.
//!
//! A page is ordered by a sort key plus the row id as tie-breaker, and continues from
//! a cursor with a row-value comparison `(key, id) > (cursor_key, cursor_id)`. Unlike
//! OFFSET, this never skips or repeats rows when rows with equal keys exist or rows are
//! inserted between requests, and its cost does not grow with the page number.
//!
//! Cursors are opaque to clients: base64url of a small JSON object naming the ordering
//! it belongs to, the key and the id. A cursor from another ordering is rejected.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order, SelectStatement, Value};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryTrait, Select, Statement};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, DomainResult};

/// Page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;

/// Relay pagination arguments as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

/// A validated page request: how many rows, from where, in which direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub limit: u64,
    /// `last`/`before`: walk the ordering backwards from the cursor.
    pub backward: bool,
    pub cursor: Option<Cursor>,
}

/// A position in one ordering.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor {
    /// The ordering this cursor belongs to (e.g. `customer.email`).
    #[serde(rename = "o")]
    pub ordering: String,
    /// The sort key of the row, as text (timestamps in RFC 3339).
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "i")]
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        // Built as a JSON value, whose text form cannot fail (the derived Serialize is
        // what `decode` reads; the names must stay the same).
        let json = serde_json::json!({ "o": self.ordering, "k": self.key, "i": self.id });
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    pub fn decode(text: &str, field: &str) -> DomainResult<Self> {
        URL_SAFE_NO_PAD
            .decode(text)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Self>(&bytes).ok())
            // PostgreSQL text cannot hold NUL; no key the server encodes has one.
            .filter(|cursor| !cursor.key.contains('\0'))
            .ok_or_else(|| DomainError::bad_input(field, "not a valid cursor"))
    }
}

impl PageArgs {
    pub fn forward(first: i32) -> Self {
        Self {
            first: Some(first),
            ..Self::default()
        }
    }

    /// Checks the Relay rules: `first` with `after`, or `last` with `before`, sizes
    /// between 0 and [`MAX_PAGE_SIZE`].
    pub fn validate(&self) -> DomainResult<PageRequest> {
        let size = |value: i32, field: &str| -> DomainResult<u64> {
            u64::try_from(value)
                .ok()
                .filter(|&n| n <= MAX_PAGE_SIZE)
                .ok_or_else(|| {
                    DomainError::bad_input(field, format!("must be between 0 and {MAX_PAGE_SIZE}"))
                })
        };
        if self.last.is_some() || self.before.is_some() {
            if self.first.is_some() || self.after.is_some() {
                return Err(DomainError::bad_input(
                    "last",
                    "use first/after or last/before, not both",
                ));
            }
            return Ok(PageRequest {
                limit: match self.last {
                    Some(last) => size(last, "last")?,
                    None => DEFAULT_PAGE_SIZE,
                },
                backward: true,
                cursor: self
                    .before
                    .as_deref()
                    .map(|c| Cursor::decode(c, "before"))
                    .transpose()?,
            });
        }
        Ok(PageRequest {
            limit: match self.first {
                Some(first) => size(first, "first")?,
                None => DEFAULT_PAGE_SIZE,
            },
            backward: false,
            cursor: self
                .after
                .as_deref()
                .map(|c| Cursor::decode(c, "after"))
                .transpose()?,
        })
    }
}

/// What a sort key is, so a cursor's text can be turned back into a SQL value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Text,
    Time,
    /// A whole number, decimal in the cursor.
    Integer,
}

/// One ordering of one table: a sort key (or none: ids alone) and the id column.
#[derive(Debug, Clone)]
pub struct Keyset {
    /// Names the ordering inside cursors.
    pub name: &'static str,
    /// The sort-key expression and what it holds; `None` orders by id alone, which
    /// for time-ordered (v7) ids is creation order.
    pub key: Option<(Expr, KeyKind)>,
    pub id: Expr,
    pub descending: bool,
}

impl Keyset {
    /// The rows this ordering walks in the requested direction.
    fn effective_order(&self, request: &PageRequest) -> Order {
        if self.descending != request.backward {
            Order::Desc
        } else {
            Order::Asc
        }
    }

    /// `(key, id)` beyond the cursor in the walking direction, or `None` without cursor.
    pub fn after_cursor(&self, request: &PageRequest) -> DomainResult<Option<Expr>> {
        let Some(cursor) = &request.cursor else {
            return Ok(None);
        };
        let field = if request.backward { "before" } else { "after" };
        if cursor.ordering != self.name {
            return Err(DomainError::bad_input(
                field,
                "this cursor belongs to a different ordering",
            ));
        }
        let (row, bound) = match &self.key {
            None => (self.id.clone(), Expr::val(cursor.id)),
            Some((key, kind)) => {
                let value: Value = match kind {
                    KeyKind::Text => cursor.key.clone().into(),
                    KeyKind::Time => DateTime::parse_from_rfc3339(&cursor.key)
                        .map_err(|_| DomainError::bad_input(field, "not a valid cursor"))?
                        .with_timezone(&Utc)
                        .into(),
                    KeyKind::Integer => cursor
                        .key
                        .parse::<i64>()
                        .map_err(|_| DomainError::bad_input(field, "not a valid cursor"))?
                        .into(),
                };
                (
                    Expr::tuple([key.clone(), self.id.clone()]),
                    Expr::tuple([Expr::val(value), Expr::val(cursor.id)]),
                )
            }
        };
        Ok(Some(match self.effective_order(request) {
            Order::Desc => row.lt(bound),
            _ => row.gt(bound),
        }))
    }

    /// The ORDER BY of this ordering in the walking direction.
    pub fn order_by(&self, request: &PageRequest) -> Vec<(Expr, Order)> {
        let order = self.effective_order(request);
        let key = self.key.iter().map(|(key, _)| (key.clone(), order.clone()));
        key.chain([(self.id.clone(), order.clone())]).collect()
    }

    /// Applies cursor condition, ordering and `limit + 1` (to learn whether more rows
    /// exist) to a select that goes inside another statement; a page read on its own
    /// is [`Keyset::page_statement`].
    pub fn apply(&self, select: &mut SelectStatement, request: &PageRequest) -> DomainResult<()> {
        self.order(select, request)?;
        select.limit(request.limit + 1);
        Ok(())
    }

    /// The statement of one page: `select` with the cursor condition, the ordering and
    /// `LIMIT limit + 1` written as a number.
    ///
    /// Why a number: as a parameter (all sea-query can make of a LIMIT), PostgreSQL
    /// costs the statement's generic plan for a tenth of the table, finds it dearer than
    /// the plan for 51 rows, and so plans the page query again on every execution:
    /// 23 to 40 µs of its CPU per page of 50 customers (pgbench, parameter against
    /// number). The number is at most [`MAX_PAGE_SIZE`] + 1, so a query shape has at
    /// most that many texts in a connection's statement cache.
    pub fn page_statement(
        &self,
        mut select: SelectStatement,
        request: &PageRequest,
        backend: DbBackend,
    ) -> DomainResult<Statement> {
        self.order(&mut select, request)?;
        let mut statement = backend.build(&select);
        statement.sql += &format!(" LIMIT {}", request.limit + 1);
        Ok(statement)
    }

    /// One page of `select`'s models, read with [`Keyset::page_statement`].
    pub async fn page_models<E: EntityTrait>(
        &self,
        db: &impl ConnectionTrait,
        select: Select<E>,
        request: &PageRequest,
    ) -> DomainResult<Vec<E::Model>> {
        let backend = db.get_database_backend();
        let statement = self.page_statement(select.into_query(), request, backend)?;
        Ok(E::find().from_raw_sql(statement).all(db).await?)
    }

    fn order(&self, select: &mut SelectStatement, request: &PageRequest) -> DomainResult<()> {
        if let Some(condition) = self.after_cursor(request)? {
            select.and_where(condition);
        }
        for (expr, order) in self.order_by(request) {
            select.order_by_expr(expr, order);
        }
        Ok(())
    }

    pub fn cursor(&self, key: String, id: Uuid) -> Cursor {
        Cursor {
            ordering: self.name.to_owned(),
            key,
            id,
        }
    }
}

/// One page of results, in the ordering's order, each with its cursor.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<(Cursor, T)>,
    pub has_previous_page: bool,
    pub has_next_page: bool,
}

impl<T> Page<T> {
    /// Builds a page from the `limit + 1` rows fetched in walking order.
    pub fn from_rows(
        mut rows: Vec<T>,
        request: &PageRequest,
        cursor_of: impl Fn(&T) -> Cursor,
    ) -> Self {
        let more = rows.len() as u64 > request.limit;
        rows.truncate(request.limit as usize);
        if request.backward {
            rows.reverse();
        }
        let has_cursor = request.cursor.is_some();
        let (has_previous_page, has_next_page) = if request.backward {
            (more, has_cursor)
        } else {
            (has_cursor, more)
        };
        Page {
            items: rows.into_iter().map(|row| (cursor_of(&row), row)).collect(),
            has_previous_page,
            has_next_page,
        }
    }

    pub fn empty() -> Self {
        Page {
            items: Vec::new(),
            has_previous_page: false,
            has_next_page: false,
        }
    }
}

/// How a timestamp key is written into a cursor.
pub fn time_key(time: &DateTime<Utc>) -> String {
    time.to_rfc3339()
}

/// Pages for many parents in one statement: one `UNION ALL` branch per parent, each
/// with its own keyset condition, ORDER BY and LIMIT. Unlike one ranked window over
/// all children, each branch walks an index and stops after `limit + 1` rows, so a
/// group of 10,000 members costs as little as one of 10. `branch(parent)` must select
/// the child's columns plus the parent id aliased as [`PARTITION_COLUMN`] and hold
/// every filter.
///
/// SQLite allows at most 500 terms in a compound SELECT, so parents are split into
/// statements of [`PARENTS_PER_STATEMENT`]; a page of at most [`MAX_PAGE_SIZE`] parents
/// is always one statement.
pub fn per_parent_pages_queries(
    parents: &[Uuid],
    branch: impl Fn(Uuid) -> SelectStatement,
    keyset: &Keyset,
    request: &PageRequest,
) -> DomainResult<Vec<SelectStatement>> {
    use sea_orm::sea_query::{Alias, Asterisk, Query, UnionType};

    let walk = keyset.order_by(request);
    let mut statements = Vec::new();
    for chunk in parents.chunks(PARENTS_PER_STATEMENT) {
        let mut union: Option<SelectStatement> = None;
        for (n, parent) in chunk.iter().enumerate() {
            let mut inner = branch(*parent);
            if let Some((key, _)) = &keyset.key {
                inner.expr_as(key.clone(), Alias::new(KEY_COLUMN));
            }
            inner.expr_as(keyset.id.clone(), Alias::new(ID_COLUMN));
            keyset.apply(&mut inner, request)?;
            // Wrapped so each branch keeps its ORDER BY and LIMIT on both backends.
            let wrapped = Query::select()
                .column(Asterisk)
                .from_subquery(inner, Alias::new(format!("p{n}")))
                .to_owned();
            union = Some(match union {
                None => wrapped,
                Some(mut all) => {
                    all.union(UnionType::All, wrapped);
                    all
                }
            });
        }
        let Some(mut statement) = union else { continue };
        // Rows come back grouped by parent, each group in walking order.
        statement.order_by(Alias::new(PARTITION_COLUMN), Order::Asc);
        let mut outer = walk.iter().map(|(_, order)| order.clone());
        if keyset.key.is_some() {
            statement.order_by(Alias::new(KEY_COLUMN), outer.next().unwrap_or(Order::Asc));
        }
        statement.order_by(Alias::new(ID_COLUMN), outer.next().unwrap_or(Order::Asc));
        statements.push(statement);
    }
    Ok(statements)
}

/// The alias under which [`per_parent_pages_queries`] expects the parent id.
pub const PARTITION_COLUMN: &str = "partition_id";
const KEY_COLUMN: &str = "page_key";
const ID_COLUMN: &str = "page_id";
/// Below SQLite's limit of 500 terms in one compound SELECT.
pub const PARENTS_PER_STATEMENT: usize = 400;

/// Splits rows `(parent, row)` into one page per requested parent; parents
/// without rows get an empty page.
pub fn pages_by_parent<T>(
    parents: &[Uuid],
    rows: Vec<(Uuid, T)>,
    request: &PageRequest,
    cursor_of: impl Fn(&T) -> Cursor,
) -> std::collections::HashMap<Uuid, Page<T>> {
    let mut grouped: std::collections::HashMap<Uuid, Vec<T>> =
        parents.iter().map(|parent| (*parent, Vec::new())).collect();
    for (parent, row) in rows {
        grouped.entry(parent).or_default().push(row);
    }
    grouped
        .into_iter()
        .map(|(parent, rows)| (parent, Page::from_rows(rows, request, &cursor_of)))
        .collect()
}

#[cfg(test)]
mod tests {
    use entity::customer;

    use super::*;

    #[test]
    fn a_page_statement_carries_its_limit_as_a_number_not_a_parameter() {
        let keyset = Keyset {
            name: "createdAt",
            key: Some((
                Expr::col((customer::Entity, customer::Column::CreatedAt)),
                KeyKind::Time,
            )),
            id: Expr::col((customer::Entity, customer::Column::Id)),
            descending: true,
        };
        let request = PageRequest {
            limit: 50,
            backward: false,
            cursor: Some(keyset.cursor("2026-01-01T00:00:00+00:00".to_owned(), Uuid::nil())),
        };
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let select = customer::Entity::find().into_query();
            let statement = keyset.page_statement(select, &request, backend).unwrap();
            assert!(statement.sql.ends_with(" LIMIT 51"), "{}", statement.sql);
            // The cursor's key and id are the only parameters.
            let values = statement.values.expect("the cursor's values").0;
            assert_eq!(values.len(), 2, "{}", statement.sql);
        }
    }
}
