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
        // Serialising a struct of strings cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(text: &str, field: &str) -> DomainResult<Self> {
        URL_SAFE_NO_PAD
            .decode(text)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
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
}

/// One ordering of one table: a sort-key expression and the id column.
#[derive(Debug, Clone)]
pub struct Keyset {
    /// Names the ordering inside cursors.
    pub name: &'static str,
    pub key: Expr,
    pub key_kind: KeyKind,
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
        let key: Value = match self.key_kind {
            KeyKind::Text => cursor.key.clone().into(),
            KeyKind::Time => DateTime::parse_from_rfc3339(&cursor.key)
                .map_err(|_| DomainError::bad_input(field, "not a valid cursor"))?
                .with_timezone(&Utc)
                .into(),
        };
        let row = Expr::tuple([self.key.clone(), self.id.clone()]);
        let bound = Expr::tuple([Expr::val(key), Expr::val(cursor.id)]);
        Ok(Some(match self.effective_order(request) {
            Order::Desc => row.lt(bound),
            _ => row.gt(bound),
        }))
    }

    /// The ORDER BY of this ordering in the walking direction.
    pub fn order_by(&self, request: &PageRequest) -> [(Expr, Order); 2] {
        let order = self.effective_order(request);
        [(self.key.clone(), order.clone()), (self.id.clone(), order)]
    }

    /// Applies cursor condition, ordering and `limit + 1` (to learn whether more rows
    /// exist) to a select.
    pub fn apply(&self, select: &mut SelectStatement, request: &PageRequest) -> DomainResult<()> {
        if let Some(condition) = self.after_cursor(request)? {
            select.and_where(condition);
        }
        for (expr, order) in self.order_by(request) {
            select.order_by_expr(expr, order);
        }
        select.limit(request.limit + 1);
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

/// Pages for many parents in one statement: rank each parent's rows with
/// `ROW_NUMBER() OVER (PARTITION BY parent ORDER BY key, id)` and keep the first
/// `limit + 1` of each. This is what lets `customers { orders(first: 5) }` cost one
/// statement for the whole list instead of one per customer.
///
/// `inner` must select the child's columns plus the parent id aliased as
/// [`PARTITION_COLUMN`] and hold every filter; the keyset condition is added here.
pub fn ranked_pages_query(
    mut inner: SelectStatement,
    parent: sea_orm::sea_query::ColumnRef,
    keyset: &Keyset,
    request: &PageRequest,
) -> DomainResult<SelectStatement> {
    use sea_orm::sea_query::{Alias, Asterisk, Query, WindowStatement};

    if let Some(condition) = keyset.after_cursor(request)? {
        inner.and_where(condition);
    }
    let mut window = WindowStatement::partition_by(parent);
    for (expr, order) in keyset.order_by(request) {
        window.order_by_expr(expr, order);
    }
    inner.expr_window_as(Expr::cust("ROW_NUMBER()"), window, Alias::new(RANK_COLUMN));
    let limit = i64::try_from(request.limit + 1).unwrap_or(i64::MAX);
    Ok(Query::select()
        .column(Asterisk)
        .from_subquery(inner, Alias::new("ranked"))
        .and_where(Expr::col(Alias::new(RANK_COLUMN)).lte(limit))
        .order_by(Alias::new(PARTITION_COLUMN), Order::Asc)
        .order_by(Alias::new(RANK_COLUMN), Order::Asc)
        .to_owned())
}

/// The alias under which [`ranked_pages_query`] expects the parent id.
pub const PARTITION_COLUMN: &str = "partition_id";
const RANK_COLUMN: &str = "partition_rank";

/// Splits ranked rows `(parent, row)` into one page per requested parent; parents
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
