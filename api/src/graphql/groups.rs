//! The `CustomerGroup` type and the admin's group queries.

use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use entity::customer_group;

use super::audit::{self, AdminActionConnection, TrailOf};
use super::connection::{CountOnce, CountPrecision};
use super::connection::{from_page, page_args, page_cost};
use super::context::{ContextExt, change_of, parse_id, to_id};
use super::customers::{Customer, CustomerConnection, CustomerConnectionFields, parse_ids};
use super::plain::{Column, Plain, PlainFields};
use crate::domain::counts::Count;
use crate::domain::groups::{self, GroupFilter};
use crate::domain::pagination::{Cursor, Page};
use crate::domain::search::SearchText;
use crate::error::Doing;

/// A set of customers the merchant treats alike (pricing, discounts, marketing).
///
/// Shared (`Arc`): a page of customers lists the same few groups again and again, and a
/// dataloader hands each parent a copy of its batch's value.
pub struct CustomerGroup(pub Arc<customer_group::Model>);

impl CustomerGroup {
    pub fn new(model: customer_group::Model) -> Self {
        Self(Arc::new(model))
    }
}

#[Object]
impl CustomerGroup {
    /// Unique across every type: `node(id:)` finds it.
    pub async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Unique among live groups.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The merchant's own data (admin only).
    async fn metadata(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        ctx.principal().await?.require_admin()?;
        Ok(super::metadata_of(&self.0.metadata)?)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deleted_at
    }

    /// What admins changed on this group (memberships included), newest first
    /// (admin only).
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn admin_actions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<AdminActionConnection> {
        audit::trail(ctx, TrailOf::Group(self.0.id), first, after, last, before).await
    }

    /// The group's live members, newest customer first (admin only: a customer sees
    /// their groups, never who else is in them).
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<CustomerConnection> {
        ctx.principal().await?.require_admin()?;
        let request = page_args(first, after, last, before).validate()?;
        let page = ctx
            .loaders()
            .members_of_group()
            .load_one((self.0.id, request))
            .await?
            .unwrap_or_else(Page::empty);
        Ok(from_page(
            page,
            CustomerConnectionFields::members_of(self.0.id),
            |customer| Plain(Customer(customer)),
        ))
    }
}

impl PlainFields for CustomerGroup {
    fn plain_field(&self, name: &str) -> Option<Column<'_>> {
        let group = &self.0;
        Some(match name {
            "id" => Column::Id(group.id),
            "name" => Column::str(&group.name),
            "createdAt" => Column::Time(group.created_at),
            "updatedAt" => Column::Time(group.updated_at),
            "deletedAt" => Column::time(group.deleted_at),
            _ => return None,
        })
    }
}

#[derive(Default)]
pub struct GroupAdminMutation;

#[Object]
impl GroupAdminMutation {
    /// NAME_TAKEN if a live group has the name, in any letter case.
    async fn create_customer_group(
        &self,
        ctx: &Context<'_>,
        name: String,
        metadata: Option<Json<serde_json::Value>>,
    ) -> Result<CustomerGroup> {
        let caller = ctx.principal().await?.require_admin()?;
        let metadata = metadata.map(|Json(value)| value);
        Ok(CustomerGroup::new(
            groups::create(ctx.db(), caller.admin_id, &name, metadata).await?,
        ))
    }

    /// Renames a group (NAME_TAKEN onto a live group's name) and merges its metadata
    /// key by key (`null` keys removed; `null` for the whole field clears it).
    async fn update_customer_group(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: Option<String>,
        metadata: MaybeUndefined<Json<serde_json::Value>>,
    ) -> Result<CustomerGroup> {
        let caller = ctx.principal().await?.require_admin()?;
        let id = parse_id(&id, "id")?;
        let metadata = change_of(metadata.map_value(|Json(value)| value));
        Ok(CustomerGroup::new(
            groups::update(ctx.db(), caller.admin_id, id, name.as_deref(), metadata).await?,
        ))
    }

    /// Soft-deletes a group: its memberships stop counting and its name is free.
    /// Deleting it again is NOT_FOUND.
    async fn delete_customer_group(&self, ctx: &Context<'_>, id: ID) -> Result<CustomerGroup> {
        let caller = ctx.principal().await?.require_admin()?;
        let id = parse_id(&id, "id")?;
        Ok(CustomerGroup::new(
            groups::delete(ctx.db(), caller.admin_id, id).await?,
        ))
    }

    /// Adds up to 1,000 customers to a group. Members stay members (no error, no
    /// duplicate). If any id is not a live customer, nothing changes and NOT_FOUND
    /// lists the missing ids in `extensions.ids`.
    async fn add_customers_to_group(
        &self,
        ctx: &Context<'_>,
        group_id: ID,
        customer_ids: Vec<ID>,
    ) -> Result<CustomerGroup> {
        let caller = ctx.principal().await?.require_admin()?;
        let group_id = parse_id(&group_id, "groupId")?;
        let ids = parse_ids(&customer_ids, "customerIds")?;
        Ok(CustomerGroup::new(
            groups::add_customers(ctx.db(), caller.admin_id, group_id, &ids)
                .await
                .doing("adding customers to a group")?,
        ))
    }

    /// Removes customers from a group; non-members are fine. Unknown ids: as for
    /// `addCustomersToGroup`.
    async fn remove_customers_from_group(
        &self,
        ctx: &Context<'_>,
        group_id: ID,
        customer_ids: Vec<ID>,
    ) -> Result<CustomerGroup> {
        let caller = ctx.principal().await?.require_admin()?;
        let group_id = parse_id(&group_id, "groupId")?;
        let ids = parse_ids(&customer_ids, "customerIds")?;
        Ok(CustomerGroup::new(
            groups::remove_customers(ctx.db(), caller.admin_id, group_id, &ids)
                .await
                .doing("removing customers from a group")?,
        ))
    }
}

/// Fields of a group connection beyond edges and page info.
pub struct CustomerGroupConnectionFields(GroupFilter, CountOnce);

impl CustomerGroupConnectionFields {
    async fn count(&self, ctx: &Context<'_>) -> Result<Count> {
        self.1
            .get(async { Ok(groups::count(ctx.db(), &self.0, ctx.count_limit()).await?) })
            .await
    }
}

#[Object]
impl CustomerGroupConnectionFields {
    /// How many groups match, across all pages: exact up to the server's count
    /// limit (10,000 unless configured), and that limit when more match (then
    /// `totalCountPrecision` is `AT_LEAST`). Counted only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(self.count(ctx).await?.value)
    }

    /// Whether `totalCount` is exact.
    async fn total_count_precision(&self, ctx: &Context<'_>) -> Result<CountPrecision> {
        Ok(self.count(ctx).await?.into())
    }
}

pub type CustomerGroupConnection = Connection<Cursor, CustomerGroup, CustomerGroupConnectionFields>;

#[derive(InputObject, Default)]
pub struct CustomerGroupFilterInput {
    /// Case-insensitive part of the name.
    search: Option<String>,
    /// Only the groups this customer belongs to.
    customer_id: Option<ID>,
    /// Include soft-deleted groups.
    #[graphql(default)]
    include_deleted: bool,
}

#[derive(Default)]
pub struct GroupQuery;

#[Object]
impl GroupQuery {
    /// One customer group (admin only).
    async fn customer_group(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default)] include_deleted: bool,
    ) -> Result<Option<CustomerGroup>> {
        ctx.principal().await?.require_admin()?;
        let id = parse_id(&id, "id")?;
        Ok(Some(CustomerGroup::new(
            groups::get(ctx.db(), id, include_deleted).await?,
        )))
    }

    /// Customer groups (admin only), by name.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn customer_groups(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<CustomerGroupFilterInput>,
    ) -> Result<CustomerGroupConnection> {
        ctx.principal().await?.require_admin()?;
        let request = page_args(first, after, last, before).validate()?;
        let input = filter.unwrap_or_default();
        let filter = GroupFilter {
            search: SearchText::parse(input.search.as_deref(), "filter.search")?,
            customer_id: input
                .customer_id
                .map(|id| parse_id(&id, "filter.customerId"))
                .transpose()?,
            include_deleted: input.include_deleted,
        };
        let page = groups::list(ctx.db(), &filter, &request).await?;
        Ok(from_page(
            page,
            CustomerGroupConnectionFields(filter, CountOnce::default()),
            CustomerGroup::new,
        ))
    }
}
