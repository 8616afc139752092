//! Relay's object identification: the `Node` interface, `node(id:)` and `nodes(ids:)`,
//! which normalised caches (Relay, Apollo Client, urql) use to refetch any object.
//! Ids are the objects' own: UUIDs unique across every type (see `domain::nodes`).

use async_graphql::{Context, ID, Interface, Object, Result};

use super::addresses::Address;
use super::context::{ContextExt, parse_id};
use super::customers::Customer;
use super::groups::CustomerGroup;
use super::orders::Order;
use crate::domain::nodes::Found;
use crate::error::DomainError;

/// Most ids one `nodes` call takes.
pub const MAX_NODE_IDS: usize = 100;

/// An object with a globally unique id, refetchable with `node(id:)`.
// At most 100 live at once (one per id of a `nodes` call): not worth boxing the order.
#[allow(clippy::large_enum_variant)]
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Customer(Customer),
    CustomerGroup(CustomerGroup),
    Order(Order),
    Address(Address),
}

impl From<Found> for Node {
    fn from(found: Found) -> Self {
        match found {
            Found::Customer(model) => Node::Customer(Customer(model)),
            Found::CustomerGroup(model) => Node::CustomerGroup(CustomerGroup::new(model)),
            Found::Order(model) => Node::Order(Order::of_owner(model)),
            Found::Address(model) => Node::Address(Address::new(model)),
        }
    }
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// The object with this id, if the caller may see it through the type's own
    /// lookup (`customer`, `customerGroup`, `order`, `me`); null otherwise, exactly as
    /// for an id that does not exist.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        let id = parse_id(&id, "id")?;
        let principal = ctx.principal().await?;
        let found = ctx.loaders().node().load_one(id).await?;
        Ok(found
            .filter(|found| found.visible_to(&principal))
            .map(Node::from))
    }

    /// The objects with these ids, in the same order; null where `node` would be.
    /// At most 100 ids.
    #[graphql(complexity = "ids.len() * child_complexity")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Node>>> {
        if ids.len() > MAX_NODE_IDS {
            let why = format!("at most {MAX_NODE_IDS} ids");
            return Err(DomainError::bad_input("ids", &why).into());
        }
        let ids = ids
            .iter()
            .map(|id| parse_id(id, "ids"))
            .collect::<Result<Vec<_>, _>>()?;
        let principal = ctx.principal().await?;
        let mut found = ctx.loaders().node().load_many(ids.iter().copied()).await?;
        Ok(ids
            .iter()
            .map(|id| {
                found
                    .remove(id)
                    .filter(|found| found.visible_to(&principal))
                    .map(Node::from)
            })
            .collect())
    }
}
