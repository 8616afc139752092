//! Relay connections built from domain pages.

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{ObjectType, OutputType};

use crate::domain::counts::Count;
use crate::domain::pagination::{Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageArgs};

/// Edges keep their cursor as the domain's position and write it out only when a
/// field shows it: a page that asks for `pageInfo { endCursor }` and its nodes encodes
/// one cursor, not one per row (50 encodings were 1.7 % of a page's instructions).
impl CursorType for Cursor {
    type Error = crate::error::DomainError;

    /// async-graphql's `connection::query` helper reads cursors with this; the
    /// resolvers read `after` and `before` through the domain ([`PageArgs`]) instead.
    fn decode_cursor(text: &str) -> Result<Self, Self::Error> {
        Cursor::decode(text, "after")
    }

    fn encode_cursor(&self) -> String {
        self.encode()
    }
}

/// Turns a domain page into a connection whose `totalCount` and other extra fields
/// live in `fields`.
pub fn from_page<T, N, F>(
    page: Page<T>,
    fields: F,
    node: impl Fn(T) -> N,
) -> Connection<Cursor, N, F>
where
    N: OutputType,
    F: ObjectType,
{
    let mut connection =
        Connection::with_additional_fields(page.has_previous_page, page.has_next_page, fields);
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|(cursor, item)| Edge::new(cursor, node(item))),
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

/// Whether a connection's `totalCount` is exact or a lower bound.
#[derive(async_graphql::Enum, Copy, Clone, PartialEq, Eq)]
pub enum CountPrecision {
    /// `totalCount` is the number of matches.
    Exact,
    /// More matched than the server counts (its count limit, 10,000 unless configured);
    /// `totalCount` is that limit.
    AtLeast,
}

impl From<Count> for CountPrecision {
    fn from(count: Count) -> Self {
        if count.exact {
            Self::Exact
        } else {
            Self::AtLeast
        }
    }
}

/// A connection's count, run at most once however many of its fields ask for it
/// (`totalCount` and `totalCountPrecision` resolve concurrently).
#[derive(Default)]
pub struct CountOnce(tokio::sync::OnceCell<Count>);

impl CountOnce {
    pub async fn get(
        &self,
        count: impl Future<Output = async_graphql::Result<Count>>,
    ) -> async_graphql::Result<Count> {
        self.0.get_or_try_init(|| count).await.copied()
    }
}
