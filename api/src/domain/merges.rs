//! Duplicate customers: finding the likely ones, and merging one record into another.
//!
//! A person often exists twice: the guest record of their first orders and the
//! account they registered later (the seeds' own story), or two records an admin typed
//! in. [`candidates`] lists the likely duplicates of a customer with the reason;
//! [`merge`] moves everything of one record into the other in one transaction and
//! soft-deletes the source. A preview runs the same merge and rolls it back, so what it
//! reports is exactly what the merge would do.

use std::collections::BTreeMap;

use entity::order_transfer::TransferKind;
use entity::{
    address, admin_action, customer, customer_consent, customer_group_customer, customer_note,
    order,
};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, RelationTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::addresses::MAX_ADDRESSES_PER_CUSTOMER;
use super::audit::{self, Action, ActionKind, Actor, Event, Subject};
use super::events::DomainEvent;
use crate::db;
use crate::db::Db;
use crate::error::{DomainError, DomainResult};

/// Candidates listed per reason at most.
const MAX_CANDIDATES: u64 = 20;

/// Why a record looks like a duplicate of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchReason {
    /// The same (normalised) email: a guest record and an account, typically.
    SameEmail,
    /// The same phone number, as stored (trimmed).
    SamePhone,
    /// The same first and last name (ignoring case) and a postcode in common in the
    /// address books (ignoring case and spaces).
    SameNameAndPostcode,
}

/// A likely duplicate and every reason it matched.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub customer: customer::Model,
    pub reasons: Vec<MatchReason>,
}

/// The live customers that look like duplicates of `id`, oldest first.
pub async fn candidates(db: &impl ConnectionTrait, id: Uuid) -> DomainResult<Vec<Candidate>> {
    let target = super::customers::get(db, id, false).await?;
    let others = || {
        customer::Entity::find()
            .filter(customer::Column::Id.ne(id))
            .filter(customer::Column::DeletedAt.is_null())
            .limit(MAX_CANDIDATES)
    };
    let mut found: BTreeMap<Uuid, Candidate> = BTreeMap::new();
    let mut note = |rows: Vec<customer::Model>, reason: MatchReason| {
        for row in rows {
            found
                .entry(row.id)
                .or_insert_with(|| Candidate {
                    customer: row,
                    reasons: Vec::new(),
                })
                .reasons
                .push(reason);
        }
    };
    let same_email = others()
        .filter(customer::Column::Email.eq(target.email.as_str()))
        .all(db)
        .await?;
    note(same_email, MatchReason::SameEmail);
    if let Some(phone) = target.phone.as_deref() {
        let same_phone = others()
            .filter(customer::Column::Phone.eq(phone))
            .all(db)
            .await?;
        note(same_phone, MatchReason::SamePhone);
    }
    if let (Some(first), Some(last)) = (&target.first_name, &target.last_name) {
        let postcodes: Vec<String> = address::Entity::find()
            .filter(address::Column::CustomerId.eq(id))
            .all(db)
            .await?
            .into_iter()
            .filter_map(|a| a.postal_code.map(|code| normalised_postcode(&code)))
            .filter(|code| !code.is_empty())
            .collect();
        if !postcodes.is_empty() {
            let lower =
                |column: customer::Column| Func::lower(Expr::col((customer::Entity, column)));
            let postcode = Func::upper(Func::cust("REPLACE").args([
                Expr::col((address::Entity, address::Column::PostalCode)),
                Expr::val(" "),
                Expr::val(""),
            ]));
            let same_name = others()
                .join(JoinType::InnerJoin, customer::Relation::Addresses.def())
                .filter(Expr::expr(lower(customer::Column::FirstName)).eq(first.to_lowercase()))
                .filter(Expr::expr(lower(customer::Column::LastName)).eq(last.to_lowercase()))
                .filter(Expr::expr(postcode).is_in(postcodes))
                .distinct()
                .all(db)
                .await?;
            note(same_name, MatchReason::SameNameAndPostcode);
        }
    }
    let mut candidates: Vec<Candidate> = found.into_values().collect();
    candidates.sort_by_key(|c| c.customer.id);
    Ok(candidates)
}

fn normalised_postcode(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

/// Who merges: an admin, or the customer themselves (their own guest record, whose
/// email a claim token proved).
#[derive(Debug, Clone, Copy)]
pub enum Merger {
    Admin(Uuid),
    Customer,
}

/// What a merge moved (or, previewed, would move).
#[derive(Debug, Clone)]
pub struct Merged {
    /// The record everything moved into, as it is afterwards.
    pub into: customer::Model,
    /// The source, soft-deleted afterwards.
    pub from: customer::Model,
    pub orders_moved: u64,
    pub addresses_moved: u64,
    pub groups_joined: u64,
    pub notes_moved: u64,
    pub events_moved: u64,
    pub previewed: bool,
}

/// Merges `from` into `into` (an admin action), or previews it: the same work in a
/// transaction that is rolled back.
pub async fn merge(
    db: &Db,
    admin_id: Uuid,
    into: Uuid,
    from: Uuid,
    preview: bool,
) -> DomainResult<Merged> {
    let txn = db::begin_write(db).await?;
    let merged = merge_in(&txn, Merger::Admin(admin_id), into, from, preview).await?;
    if preview {
        txn.rollback().await?;
    } else {
        txn.commit().await?;
    }
    Ok(merged)
}

/// The merge in the caller's transaction. Both records must be live and different,
/// and an account is never merged into a guest record (its login would vanish).
pub(crate) async fn merge_in(
    txn: &DatabaseTransaction,
    by: Merger,
    into: Uuid,
    from: Uuid,
    previewed: bool,
) -> DomainResult<Merged> {
    if into == from {
        return Err(DomainError::bad_input(
            "from",
            "a customer cannot be merged into itself",
        ));
    }
    // The orders' numbers change on both: lock first (see `stats`).
    let locked = super::stats::lock(txn, &[into, from]).await?;
    let target = live(txn, into, "into").await?;
    let source = live(txn, from, "from").await?;
    if source.has_account && !target.has_account {
        return Err(DomainError::bad_input(
            "from",
            "an account cannot be merged into a guest record: merge the guest into the account",
        ));
    }
    let book = |id: Uuid| {
        address::Entity::find()
            .filter(address::Column::CustomerId.eq(id))
            .count(txn)
    };
    let addresses_moved = book(from).await?;
    if book(into).await? + addresses_moved > MAX_ADDRESSES_PER_CUSTOMER as u64 {
        return Err(DomainError::bad_input(
            "from",
            format!("together the address books exceed {MAX_ADDRESSES_PER_CUSTOMER} addresses"),
        ));
    }
    let now = db::now();

    // Orders, each with its history row.
    let orders = order::Entity::find()
        .filter(order::Column::CustomerId.eq(from))
        .order_by_asc(order::Column::Id)
        .all(txn)
        .await?;
    let order_ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    if !orders.is_empty() {
        order::Entity::update_many()
            .col_expr(order::Column::CustomerId, Expr::val(into))
            .col_expr(order::Column::UpdatedAt, Expr::val(now))
            .filter(order::Column::CustomerId.eq(from))
            .exec(txn)
            .await?;
        let admin_id = match by {
            Merger::Admin(admin) => Some(admin),
            Merger::Customer => None,
        };
        super::orders::record_transfers(txn, &orders, into, TransferKind::Merge, None, admin_id)
            .await?;
    }
    super::stats::refresh(txn, locked).await?;

    // The address book; the source's defaults fill the target's gaps.
    address::Entity::update_many()
        .col_expr(address::Column::CustomerId, Expr::val(into))
        .filter(address::Column::CustomerId.eq(from))
        .exec(txn)
        .await?;

    // Group memberships: the target joins the source's groups.
    let groups: Vec<Uuid> = customer_group_customer::Entity::find()
        .select_only()
        .column(customer_group_customer::Column::CustomerGroupId)
        .filter(customer_group_customer::Column::CustomerId.eq(from))
        .into_tuple()
        .all(txn)
        .await?;
    let groups_joined = if groups.is_empty() {
        0
    } else {
        let before = memberships(txn, into).await?;
        let rows = groups
            .iter()
            .map(|group| customer_group_customer::ActiveModel {
                customer_group_id: Set(*group),
                customer_id: Set(into),
                created_at: Set(now),
            });
        customer_group_customer::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([
                customer_group_customer::Column::CustomerGroupId,
                customer_group_customer::Column::CustomerId,
            ])
            .exec_without_returning(txn)
            .await?;
        customer_group_customer::Entity::delete_many()
            .filter(customer_group_customer::Column::CustomerId.eq(from))
            .exec(txn)
            .await?;
        memberships(txn, into).await? - before
    };

    // The consent logs join: the latest record of each purpose, from either, stands.
    customer_consent::Entity::update_many()
        .col_expr(customer_consent::Column::CustomerId, Expr::val(into))
        .filter(customer_consent::Column::CustomerId.eq(from))
        .exec(txn)
        .await?;
    let notes_moved = customer_note::Entity::update_many()
        .col_expr(customer_note::Column::CustomerId, Expr::val(into))
        .filter(customer_note::Column::CustomerId.eq(from))
        .exec(txn)
        .await?
        .rows_affected;
    let events_moved = admin_action::Entity::update_many()
        .col_expr(admin_action::Column::CustomerId, Expr::val(into))
        .filter(admin_action::Column::CustomerId.eq(from))
        .exec(txn)
        .await?
        .rows_affected;

    // The source leaves (its sessions end, its email and external id are free), and
    // the target keeps its own profile, taking the source's values where it has none.
    super::customers::soft_delete(txn, from).await?;
    let gap = |mine: &Option<String>, theirs: &Option<String>| mine.clone().or(theirs.clone());
    customer::Entity::update_many()
        .col_expr(
            customer::Column::FirstName,
            Expr::val(gap(&target.first_name, &source.first_name)),
        )
        .col_expr(
            customer::Column::LastName,
            Expr::val(gap(&target.last_name, &source.last_name)),
        )
        .col_expr(
            customer::Column::Phone,
            Expr::val(gap(&target.phone, &source.phone)),
        )
        .col_expr(
            customer::Column::ExternalId,
            Expr::val(gap(&target.external_id, &source.external_id)),
        )
        .col_expr(
            customer::Column::Metadata,
            Expr::val(target.metadata.clone().or(source.metadata.clone())),
        )
        .col_expr(
            customer::Column::BillingAddressId,
            Expr::val(target.billing_address_id.or(source.billing_address_id)),
        )
        .col_expr(
            customer::Column::DefaultShippingAddressId,
            Expr::val(
                target
                    .default_shipping_address_id
                    .or(source.default_shipping_address_id),
            ),
        )
        .col_expr(customer::Column::UpdatedAt, Expr::val(now))
        .filter(customer::Column::Id.eq(into))
        .exec(txn)
        .await?;

    let details = json!({
        "intoCustomerId": into,
        "fromCustomerId": from,
        "orderIds": order_ids,
        "addressesMoved": addresses_moved,
        "groupsJoined": groups_joined,
        "notesMoved": notes_moved,
        "eventsMoved": events_moved,
    });
    for subject in [into, from] {
        match by {
            Merger::Admin(admin_id) => {
                audit::record(
                    txn,
                    Action {
                        admin_id,
                        kind: ActionKind::CustomerMerge,
                        subject: Subject::Customer(subject),
                        details: Some(details.clone()),
                    },
                )
                .await?
            }
            Merger::Customer => {
                audit::record_by(
                    txn,
                    Event {
                        actor: Actor::Customer,
                        kind: ActionKind::CustomerMerge,
                        customer_id: subject,
                        details: Some(details.clone()),
                    },
                )
                .await?
            }
        }
    }
    DomainEvent::customers_merged(into, from, &order_ids)
        .publish(txn)
        .await?;
    Ok(Merged {
        into: super::customers::get(txn, into, false).await?,
        from: super::customers::get(txn, from, true).await?,
        orders_moved: orders.len() as u64,
        addresses_moved,
        groups_joined,
        notes_moved,
        events_moved,
        previewed,
    })
}

async fn live(txn: &DatabaseTransaction, id: Uuid, field: &str) -> DomainResult<customer::Model> {
    super::customers::get(txn, id, false)
        .await
        .map_err(|_| DomainError::NotFoundIds {
            what: "customer",
            field: field.into(),
            ids: vec![id],
        })
}

async fn memberships(txn: &DatabaseTransaction, id: Uuid) -> DomainResult<u64> {
    Ok(customer_group_customer::Entity::find()
        .filter(customer_group_customer::Column::CustomerId.eq(id))
        .count(txn)
        .await?)
}
