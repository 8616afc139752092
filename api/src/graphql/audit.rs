//! The event log as clients read it: the admin audit trail (`customer.adminActions`,
//! `customerGroup.adminActions`) and the customer's timeline (`customer.events`).

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, ID, Json, Object, Result};
use chrono::{DateTime, Utc};
use entity::admin_action;
use uuid::Uuid;

use super::admins::AdminUser;
use super::connection::{from_page, page_args};
use super::context::{ContextExt, to_id};
use crate::auth::Principal;
use crate::domain::audit::{ActionKind, TrailSubject};
use crate::domain::pagination::{Cursor, Page};
use crate::error::DomainError;

/// One change an admin made.
pub struct AdminAction(pub admin_action::Model);

/// What happened to a customer, a group or an order: what an admin did (the audit
/// trail shows those only) or, on a customer's timeline, what the customer did too.
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
    /// An order was moved to another customer (on the timelines of both).
    OrderTransfer,
    /// The customer registered (`registerCustomer`).
    Registered,
    /// The customer verified their email.
    EmailVerified,
    /// The customer changed their profile (`updateMe`; `details` lists the fields).
    ProfileChange,
    /// The login email changed (a confirmed `requestEmailChange`).
    EmailChange,
    /// The customer changed their password.
    PasswordChange,
    /// The password was reset with a mailed token.
    PasswordReset,
    /// An address was added to the book.
    AddressAdd,
    /// An address of the book was changed.
    AddressUpdate,
    /// An address was removed from the book.
    AddressDelete,
    /// The billing address was set.
    BillingAddressSet,
    /// The default shipping address was set.
    ShippingAddressSet,
    /// An order was placed (`details.orderId`, `displayId`).
    OrderPlace,
    /// Orders moved by a claim (on the claiming account and on the guest record they left).
    OrderClaim,
    /// The customer deleted their own account.
    SelfDelete,
    /// The customer was erased (`eraseCustomer`, or by the store's guest retention
    /// rule: then the actor is HOUSEKEEPING); `details` counts what was kept and removed.
    CustomerErase,
    /// One customer was merged into another (`mergeCustomers`, or a claim that merged
    /// the guest record): on both timelines, `details` says what moved.
    CustomerMerge,
    /// A consent was given or withdrawn (`details.purpose`, `details.granted`), by the
    /// customer or by an admin on their word.
    ConsentChange,
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
        AdminUser::by_id(ctx, self.0.admin_user_id).await
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

pub type AdminActionConnection = Connection<Cursor, AdminAction, EmptyFields>;

/// Who made a change on a customer's timeline.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum EventActor {
    /// An admin (the event is also in the customer's `adminActions`).
    Admin,
    /// The customer themselves.
    Customer,
    /// An anonymous checkout with the customer's email.
    Guest,
    /// The store's own rules, run by the server (the guest retention rule).
    Housekeeping,
}

/// One event on a customer's timeline.
pub struct CustomerEvent {
    model: admin_action::Model,
    /// Admins see who acted and the details of admins' changes; the customer does not.
    for_staff: bool,
}

impl CustomerEvent {
    fn by_admin(&self) -> bool {
        self.model.admin_user_id.is_some()
    }
}

#[Object]
impl CustomerEvent {
    async fn id(&self) -> ID {
        to_id(self.model.id)
    }

    async fn kind(&self) -> Result<AdminActionKind> {
        ActionKind::from_stored(&self.model.action)
            .map(AdminActionKind::from)
            .ok_or_else(|| DomainError::Unreadable { field: "kind" }.into())
    }

    async fn actor(&self) -> EventActor {
        match self.model.actor.as_str() {
            "customer" => EventActor::Customer,
            "guest" => EventActor::Guest,
            "housekeeping" => EventActor::Housekeeping,
            _ => EventActor::Admin,
        }
    }

    /// The admin who acted; null for the customer's own events, and always null
    /// when the customer reads their timeline.
    async fn admin(&self, ctx: &Context<'_>) -> Result<Option<AdminUser>> {
        if !self.for_staff {
            return Ok(None);
        }
        AdminUser::by_id(ctx, self.model.admin_user_id).await
    }

    /// What changed. The customer sees the details of their own events only.
    async fn details(&self) -> Option<Json<serde_json::Value>> {
        if !self.for_staff && self.by_admin() {
            return None;
        }
        self.model.details.clone().map(Json)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
}

pub type CustomerEventConnection = Connection<Cursor, CustomerEvent, EmptyFields>;

/// A page of a customer's timeline, newest first: every event for admins; for the
/// customer, their own timeline without staff notes and without admins' identities.
pub async fn timeline(
    ctx: &Context<'_>,
    customer_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<CustomerEventConnection> {
    let principal = ctx.principal().await?;
    let (of, for_staff) = match principal {
        Principal::Admin { .. } => (TrailSubject::Timelines, true),
        Principal::Customer {
            customer_id: caller,
            ..
        } if caller == customer_id => (TrailSubject::OwnTimelines, false),
        _ => return Err(principal.refuse("a customer's timeline").into()),
    };
    let request = page_args(first, after, last, before).validate()?;
    let page = ctx
        .loaders()
        .events_of_customer()
        .load_one((customer_id, (request, of)))
        .await?;
    Ok(from_page(
        page.unwrap_or_else(Page::empty),
        EmptyFields,
        |model| CustomerEvent { model, for_staff },
    ))
}

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
                .actions_of_customer()
                .load_one((id, request))
                .await?
        }
        TrailOf::Group(id) => {
            ctx.loaders()
                .actions_of_group()
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
