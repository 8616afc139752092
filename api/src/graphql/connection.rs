//! Relay connections built from domain pages.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{ObjectType, OutputType};

use crate::domain::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageArgs};

/// Turns a domain page into a connection whose `totalCount` and other extra fields
/// live in `fields`.
pub fn from_page<T, N, F>(
    page: Page<T>,
    fields: F,
    node: impl Fn(T) -> N,
) -> Connection<String, N, F>
where
    N: OutputType,
    F: ObjectType,
{
    let mut connection =
        Connection::with_additional_fields(page.has_previous_page, page.has_next_page, fields);
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|(cursor, item)| Edge::new(cursor.encode(), node(item))),
    );
    connection
}

/// Relay arguments, as the resolvers receive them.
pub fn page_args(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> PageArgs {
    PageArgs {
        first,
        after,
        last,
        before,
    }
}

/// Complexity of a connection field: its selection counted once per row it may return,
/// so `customers(first: 100) { orders(first: 100) { ... } }` is priced as 10,000 rows.
pub fn page_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let rows = first
        .or(last)
        .and_then(|n| usize::try_from(n).ok())
        .map_or(DEFAULT_PAGE_SIZE as usize, |n| {
            n.min(MAX_PAGE_SIZE as usize)
        });
    rows.max(1)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}
