//! The events of customers and groups: who changed what, how, and when, written in
//! the transaction of the change they describe. One table, two views: the rows an
//! admin made ([`record`]) are the audit trail (`adminActions`); every row of a
//! customer, theirs ([`record_by`]: the customer's own changes, a guest checkout)
//! and admins' alike, is the customer's timeline (`events`).

use std::collections::HashMap;

use entity::admin_action;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult,
    Iterable, QueryFilter, QuerySelect, QueryTrait,
};
use serde_json::Value;
use uuid::Uuid;

use super::pagination::{
    Keyset, PARTITION_COLUMN, Page, PageRequest, pages_by_parent, per_parent_pages_queries,
};
use crate::db;
use crate::error::DomainResult;

/// What an action was done to.
#[derive(Debug, Clone, Copy)]
pub enum Subject {
    Customer(Uuid),
    Group(Uuid),
    /// A membership change shows in the trails of both.
    Membership {
        group: Uuid,
        customer: Uuid,
    },
}

/// What an admin did. Stored as its dotted name (`customer.create`), which stays the
/// same when variants are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    CustomerCreate,
    CustomerUpdate,
    CustomerDelete,
    CustomerRestore,
    CustomerSessionsRevoke,
    CustomerDisable,
    CustomerEnable,
    NoteAdd,
    NoteEdit,
    NoteDelete,
    GroupCreate,
    GroupUpdate,
    GroupDelete,
    GroupAddCustomer,
    GroupRemoveCustomer,
    OrderTransfer,
    Registered,
    EmailVerified,
    ProfileChange,
    EmailChange,
    PasswordChange,
    PasswordReset,
    AddressAdd,
    AddressUpdate,
    AddressDelete,
    BillingAddressSet,
    ShippingAddressSet,
    OrderPlace,
    OrderClaim,
    SelfDelete,
    CustomerErase,
    CustomerMerge,
    ConsentChange,
}

impl ActionKind {
    const ALL: [ActionKind; 33] = [
        Self::CustomerCreate,
        Self::CustomerUpdate,
        Self::CustomerDelete,
        Self::CustomerRestore,
        Self::CustomerSessionsRevoke,
        Self::CustomerDisable,
        Self::CustomerEnable,
        Self::NoteAdd,
        Self::NoteEdit,
        Self::NoteDelete,
        Self::GroupCreate,
        Self::GroupUpdate,
        Self::GroupDelete,
        Self::GroupAddCustomer,
        Self::GroupRemoveCustomer,
        Self::OrderTransfer,
        Self::Registered,
        Self::EmailVerified,
        Self::ProfileChange,
        Self::EmailChange,
        Self::PasswordChange,
        Self::PasswordReset,
        Self::AddressAdd,
        Self::AddressUpdate,
        Self::AddressDelete,
        Self::BillingAddressSet,
        Self::ShippingAddressSet,
        Self::OrderPlace,
        Self::OrderClaim,
        Self::SelfDelete,
        Self::CustomerErase,
        Self::CustomerMerge,
        Self::ConsentChange,
    ];

    pub fn stored(self) -> &'static str {
        match self {
            Self::CustomerCreate => "customer.create",
            Self::CustomerUpdate => "customer.update",
            Self::CustomerDelete => "customer.delete",
            Self::CustomerRestore => "customer.restore",
            Self::CustomerSessionsRevoke => "customer.sessions_revoke",
            Self::CustomerDisable => "customer.disable",
            Self::CustomerEnable => "customer.enable",
            Self::NoteAdd => "customer.note_add",
            Self::NoteEdit => "customer.note_edit",
            Self::NoteDelete => "customer.note_delete",
            Self::GroupCreate => "group.create",
            Self::GroupUpdate => "group.update",
            Self::GroupDelete => "group.delete",
            Self::GroupAddCustomer => "group.add_customer",
            Self::GroupRemoveCustomer => "group.remove_customer",
            Self::OrderTransfer => "order.transfer",
            Self::Registered => "customer.register",
            Self::EmailVerified => "customer.verify_email",
            Self::ProfileChange => "customer.profile_change",
            Self::EmailChange => "customer.email_change",
            Self::PasswordChange => "customer.password_change",
            Self::PasswordReset => "customer.password_reset",
            Self::AddressAdd => "customer.address_add",
            Self::AddressUpdate => "customer.address_update",
            Self::AddressDelete => "customer.address_delete",
            Self::BillingAddressSet => "customer.billing_address_set",
            Self::ShippingAddressSet => "customer.shipping_address_set",
            Self::OrderPlace => "order.place",
            Self::OrderClaim => "order.claim",
            Self::SelfDelete => "customer.self_delete",
            Self::CustomerErase => "customer.erase",
            Self::CustomerMerge => "customer.merge",
            Self::ConsentChange => "customer.consent_change",
        }
    }

    /// The kind a stored name stands for; `None` for a name this release does not know.
    pub fn from_stored(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.stored() == name)
    }
}

/// Who made a change that was not an admin's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The customer, logged in (or through a token mailed to them).
    Customer,
    /// An anonymous checkout (a guest order).
    Guest,
    /// The store's own rules, run by the housekeeping task (guest retention).
    Housekeeping,
}

impl Actor {
    fn stored(self) -> &'static str {
        match self {
            Actor::Customer => "customer",
            Actor::Guest => "guest",
            Actor::Housekeeping => "housekeeping",
        }
    }
}

/// Which rows a batch read is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrailSubject {
    /// The admins' changes to each customer: their audit trail.
    Customers,
    /// The admins' changes to each group.
    Groups,
    /// Every event of each customer, whoever acted: their timeline as admins see it.
    Timelines,
    /// The timeline as the customer sees it: without staff notes.
    OwnTimelines,
}

/// Events that are the staff's business, never shown to the customer.
pub(crate) const STAFF_ONLY: [ActionKind; 3] = [
    ActionKind::NoteAdd,
    ActionKind::NoteEdit,
    ActionKind::NoteDelete,
];

/// One action to record.
pub struct Action {
    pub admin_id: Uuid,
    pub kind: ActionKind,
    pub subject: Subject,
    pub details: Option<Value>,
}

/// An event of one customer that no admin made.
pub struct Event {
    pub actor: Actor,
    pub kind: ActionKind,
    pub customer_id: Uuid,
    pub details: Option<Value>,
}

/// Records `event` on the customer's timeline, in the caller's transaction.
pub async fn record_by(db: &impl ConnectionTrait, event: Event) -> DomainResult<()> {
    admin_action::ActiveModel {
        id: Set(Uuid::now_v7()),
        admin_user_id: Set(None),
        actor: Set(event.actor.stored().to_owned()),
        action: Set(event.kind.stored().to_owned()),
        customer_id: Set(Some(event.customer_id)),
        customer_group_id: Set(None),
        details: Set(event.details),
        created_at: Set(db::now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Records a change the customer made themselves on their timeline.
pub async fn customer_did(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    kind: ActionKind,
    details: Option<Value>,
) -> DomainResult<()> {
    record_by(
        db,
        Event {
            actor: Actor::Customer,
            kind,
            customer_id,
            details,
        },
    )
    .await
}

fn active(action: Action, now: chrono::DateTime<chrono::Utc>) -> admin_action::ActiveModel {
    let (customer, group) = match action.subject {
        Subject::Customer(id) => (Some(id), None),
        Subject::Group(id) => (None, Some(id)),
        Subject::Membership { group, customer } => (Some(customer), Some(group)),
    };
    admin_action::ActiveModel {
        id: Set(Uuid::now_v7()),
        admin_user_id: Set(Some(action.admin_id)),
        actor: Set("admin".to_owned()),
        action: Set(action.kind.stored().to_owned()),
        customer_id: Set(customer),
        customer_group_id: Set(group),
        details: Set(action.details),
        created_at: Set(now),
    }
}

pub async fn record(db: &impl ConnectionTrait, action: Action) -> DomainResult<()> {
    active(action, db::now()).insert(db).await?;
    Ok(())
}

/// Records many actions in one statement per 1,000 (a batch membership change).
pub async fn record_all(db: &impl ConnectionTrait, actions: Vec<Action>) -> DomainResult<()> {
    let now = db::now();
    let rows: Vec<_> = actions.into_iter().map(|a| active(a, now)).collect();
    for chunk in rows.chunks(1_000) {
        admin_action::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Newest first: action ids are time-ordered.
fn keyset() -> Keyset {
    Keyset {
        name: "admin_action.id",
        key: None,
        id: Expr::col((admin_action::Entity, admin_action::Column::Id)),
        descending: true,
    }
}

/// The trail of each customer or group, one page per subject.
pub async fn pages(
    db: &impl ConnectionTrait,
    subjects: &[Uuid],
    of: TrailSubject,
    request: &PageRequest,
) -> DomainResult<HashMap<Uuid, Page<admin_action::Model>>> {
    let keyset = keyset();
    let column = match of {
        TrailSubject::Groups => admin_action::Column::CustomerGroupId,
        _ => admin_action::Column::CustomerId,
    };
    let branch = |subject: Uuid| {
        let mut select = admin_action::Entity::find()
            .select_only()
            .columns(admin_action::Column::iter())
            .expr_as(Expr::val(subject), PARTITION_COLUMN)
            .filter(Expr::col((admin_action::Entity, column)).eq(subject));
        match of {
            TrailSubject::Customers => {
                select = select.filter(admin_action::Column::AdminUserId.is_not_null());
            }
            TrailSubject::OwnTimelines => {
                let hidden = STAFF_ONLY.map(ActionKind::stored);
                select = select.filter(admin_action::Column::Action.is_not_in(hidden));
            }
            TrailSubject::Groups | TrailSubject::Timelines => {}
        }
        select.into_query()
    };
    let mut rows = Vec::new();
    for query in per_parent_pages_queries(subjects, branch, &keyset, request)? {
        for row in db.query_all(&query).await? {
            let subject: Uuid = row.try_get("", PARTITION_COLUMN)?;
            rows.push((subject, admin_action::Model::from_query_result(&row, "")?));
        }
    }
    Ok(pages_by_parent(subjects, rows, request, |a| {
        keyset.cursor(String::new(), a.id)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_stored_name() {
        for kind in ActionKind::ALL {
            assert_eq!(ActionKind::from_stored(kind.stored()), Some(kind));
        }
        assert_eq!(ActionKind::from_stored("customer.vanish"), None);
    }
}
