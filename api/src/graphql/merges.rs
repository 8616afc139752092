//! Duplicate customers, for admins: the likely duplicates of a customer, and merging
//! one record into another.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};

use super::context::{ContextExt, parse_id};
use super::customers::Customer;
use crate::domain::merges;
use crate::error::Doing;

/// Why a customer looks like a duplicate.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "crate::domain::merges::MatchReason")]
pub enum MergeReason {
    /// The same email: typically the guest record and the account of one person.
    SameEmail,
    /// The same phone number.
    SamePhone,
    /// The same first and last name (ignoring case) and a postcode in common in their
    /// address books (ignoring case and spaces).
    SameNameAndPostcode,
}

/// A likely duplicate of a customer.
pub struct MergeCandidate(merges::Candidate);

#[Object]
impl MergeCandidate {
    async fn customer(&self) -> Customer {
        Customer(self.0.customer.clone())
    }

    /// Every reason it matched.
    async fn reasons(&self) -> Vec<MergeReason> {
        self.0
            .reasons
            .iter()
            .copied()
            .map(MergeReason::from)
            .collect()
    }
}

/// What a merge moved, or with `preview: true` would move.
#[derive(SimpleObject)]
pub struct CustomerMerge {
    /// The customer everything moved into, as it is after the merge.
    customer: Customer,
    /// The customer merged away: soft-deleted after the merge.
    source: Customer,
    /// True when nothing was changed (`preview: true`).
    preview: bool,
    orders_moved: u64,
    addresses_moved: u64,
    /// Groups the customer joined (those of the source it was not in yet).
    groups_joined: u64,
    notes_moved: u64,
    /// Timeline events moved over from the source.
    events_moved: u64,
}

#[derive(Default)]
pub struct MergeQuery;

#[Object]
impl MergeQuery {
    /// Live customers that look like duplicates of this one (admin only), oldest
    /// first, each with the reasons; at most 20 per reason.
    async fn customer_merge_candidates(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Vec<MergeCandidate>> {
        ctx.principal().await?.require_admin()?;
        let id = parse_id(&id, "id")?;
        Ok(merges::candidates(ctx.db(), id)
            .await?
            .into_iter()
            .map(MergeCandidate)
            .collect())
    }
}

#[derive(Default)]
pub struct MergeMutation;

#[Object]
impl MergeMutation {
    /// Merges `from` into `into` (admin only), in one transaction: orders (each
    /// recorded in `order.transfers` as MERGE), addresses, group memberships, staff
    /// notes and timeline move; `into` keeps its own profile and takes the source's
    /// names, phone, metadata, external id and default addresses only where it has
    /// none; `from` is soft-deleted. Recorded on both timelines. An account is never
    /// merged into a guest record (BAD_USER_INPUT). `preview: true` runs the same
    /// merge and rolls it back: the counts are exactly what the merge would move.
    async fn merge_customers(
        &self,
        ctx: &Context<'_>,
        into: ID,
        from: ID,
        #[graphql(default)] preview: bool,
    ) -> Result<CustomerMerge> {
        let caller = ctx.principal().await?.require_admin()?;
        let into = parse_id(&into, "into")?;
        let from = parse_id(&from, "from")?;
        let merged = merges::merge(ctx.db(), caller.admin_id, into, from, preview)
            .await
            .doing("merging customers")?;
        Ok(CustomerMerge {
            customer: Customer(merged.into),
            source: Customer(merged.from),
            preview: merged.previewed,
            orders_moved: merged.orders_moved,
            addresses_moved: merged.addresses_moved,
            groups_joined: merged.groups_joined,
            notes_moved: merged.notes_moved,
            events_moved: merged.events_moved,
        })
    }
}
