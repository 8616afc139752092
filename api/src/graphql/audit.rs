//! The admin audit trail as admins read it: `customer.adminActions`,
//! `customerGroup.adminActions`.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, ID, Json, Object, Result};
use chrono::{DateTime, Utc};
use entity::admin_action;
use uuid::Uuid;

use super::admins::AdminUser;
use super::connection::{from_page, page_args};
use super::context::{ContextExt, to_id};
use crate::domain::audit::ActionKind;
use crate::domain::pagination::Page;
use crate::error::DomainError;

/// One change an admin made.
pub struct AdminAction(pub admin_action::Model);

/// What an admin did to a customer, a group or an order.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "crate::domain::audit::ActionKind")]
pub enum AdminActionKind {
    CustomerCreate,
    CustomerUpdate,
    CustomerDelete,
    CustomerRestore,
    /// Every session of the customer was ended (`revokeCustomerSessions`).
    CustomerSessionsRevoke,
    /// The account was disabled (`setCustomerActive(active: false)`); its sessions ended.
    CustomerDisable,
    /// The account was enabled again.
    CustomerEnable,
    /// A staff note was added (`details.noteId`; the trail never keeps the text).
    NoteAdd,
    /// A staff note was edited.
    NoteEdit,
    /// A staff note was deleted.
    NoteDelete,
    GroupCreate,
    GroupUpdate,
    GroupDelete,
    /// A customer was added to a group (in the trails of both).
    GroupAddCustomer,
    /// A customer was removed from a group (in the trails of both).
    GroupRemoveCustomer,
    /// An order was moved to another customer.
    OrderTransfer,
}

#[Object]
impl AdminAction {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// What was done.
    async fn action(&self) -> Result<AdminActionKind> {
        ActionKind::from_stored(&self.0.action)
            .map(AdminActionKind::from)
            .ok_or_else(|| DomainError::Unreadable { field: "action" }.into())
    }

    /// Who did it (null if that admin user no longer exists).
    async fn admin(&self, ctx: &Context<'_>) -> Result<Option<AdminUser>> {
        let admin = ctx
            .loaders()
            .admin_user
            .load_one(self.0.admin_user_id)
            .await?;
        Ok(admin.map(AdminUser::from))
    }

    async fn customer_id(&self) -> Option<ID> {
        self.0.customer_id.map(to_id)
    }

    async fn customer_group_id(&self) -> Option<ID> {
        self.0.customer_group_id.map(to_id)
    }

    /// What the admin asked for, where the action has details.
    async fn details(&self) -> Option<Json<serde_json::Value>> {
        self.0.details.clone().map(Json)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub type AdminActionConnection = Connection<String, AdminAction, EmptyFields>;

/// Whose trail to read.
pub enum TrailOf {
    Customer(Uuid),
    Group(Uuid),
}

/// A page of a customer's or group's trail, newest first (admin only).
pub async fn trail(
    ctx: &Context<'_>,
    of: TrailOf,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<AdminActionConnection> {
    ctx.principal().await?.require_admin()?;
    let request = page_args(first, after, last, before).validate()?;
    let page = match of {
        TrailOf::Customer(id) => {
            ctx.loaders()
                .actions_of_customer
                .load_one((id, request))
                .await?
        }
        TrailOf::Group(id) => {
            ctx.loaders()
                .actions_of_group
                .load_one((id, request))
                .await?
        }
    };
    Ok(from_page(
        page.unwrap_or_else(Page::empty),
        EmptyFields,
        AdminAction,
    ))
}
