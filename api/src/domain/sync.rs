//! Keeping customers in step with other systems (an ERP, a CRM): `upsert` by external
//! id or email, and bulk updates and deletes with a result per row. Every change goes
//! through the admin's single-customer functions, so each row is audited and checked
//! exactly as if it had been sent alone.

use entity::customer;
use uuid::Uuid;

use super::customers::{self, CustomerChange, NewCustomer, ProfileChange};
use super::email::Email;
use super::fields::Change;
use crate::db::Db;
use crate::error::{DomainError, DomainResult};

/// Most rows one bulk call takes.
pub const MAX_BULK_ROWS: usize = 100;

/// A customer as the other system has it.
#[derive(Debug, Clone, Default)]
pub struct Upsert {
    /// Clientele's own id, matched before anything else when it names a live
    /// customer (a file exported from this database and edited).
    pub id: Option<Uuid>,
    /// Matched first, when given; a customer matched by email, or a new one, gets it.
    pub external_id: Option<String>,
    /// Matched when the external id matches nobody (a registered customer before a
    /// guest record); always written.
    pub email: String,
    pub first_name: Change<String>,
    pub last_name: Change<String>,
    pub phone: Change<String>,
    pub metadata: Change<serde_json::Value>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// No customer matched: this one was created (without an account).
    Created,
    Updated,
    /// The customer matched and already had every value asked for: nothing was
    /// written or recorded, so sending the same data again changes nothing.
    Unchanged,
}

/// How many times an upsert that lost a race (someone created the same customer
/// between its lookup and its insert) looks again.
const RACE_RETRIES: usize = 3;

/// Updates the customer `upsert` matches, or creates one (without an account).
/// Returns the customer and what was done. Of concurrent upserts of one new customer
/// the unique indexes let one create it; the others then update it.
pub async fn upsert(
    db: &Db,
    admin_id: Uuid,
    upsert: Upsert,
) -> DomainResult<(customer::Model, Upserted)> {
    let external_id = customers::external_id(upsert.external_id.clone(), "input.externalId")?;
    let email = Email::parse(&upsert.email, "input.email")?;
    let mut last_error = None;
    for _ in 0..RACE_RETRIES {
        let result = match matching(db, upsert.id, external_id.as_deref(), &email).await? {
            Some((current, link)) if unchanged(&current, &upsert, &email, &link) => {
                return Ok((current, Upserted::Unchanged));
            }
            Some((current, link)) => {
                let change = CustomerChange {
                    email: Some(email.as_str().to_owned()),
                    profile: ProfileChange {
                        first_name: upsert.first_name.clone(),
                        last_name: upsert.last_name.clone(),
                        phone: upsert.phone.clone(),
                        metadata: upsert.metadata.clone(),
                    },
                    group_ids: None,
                    external_id: link,
                };
                customers::update(db, admin_id, current.id, change)
                    .await
                    .map(|updated| (updated, Upserted::Updated))
            }
            None => {
                let new = NewCustomer {
                    email: email.as_str().to_owned(),
                    first_name: given(&upsert.first_name),
                    last_name: given(&upsert.last_name),
                    phone: given(&upsert.phone),
                    metadata: given(&upsert.metadata),
                    group_ids: Vec::new(),
                    external_id: external_id.clone(),
                };
                customers::create(db, admin_id, new)
                    .await
                    .map(|created| (created, Upserted::Created))
            }
        };
        match result {
            // Most likely created meanwhile by someone else: look again, and update
            // it. A conflict that stays (an email another customer holds) is the
            // answer after the last look.
            Err(
                error @ (DomainError::ExternalIdTakenBy { .. } | DomainError::EmailTakenBy { .. }),
            ) => {
                last_error = Some(error);
            }
            other => return other,
        }
    }
    Err(last_error.unwrap_or(DomainError::EmailTaken))
}

/// The live customer an upsert is about, and what becomes of its external id: by
/// external id first; else by email (a registered customer before a guest record),
/// which then gets the external id, unless it already has another one.
async fn matching(
    db: &Db,
    id: Option<Uuid>,
    external_id: Option<&str>,
    email: &Email,
) -> DomainResult<Option<(customer::Model, Change<String>)>> {
    if let Some(id) = id
        && let Ok(customer) = customers::get(db, id, false).await
    {
        let link = match (external_id, customer.external_id.as_deref()) {
            (None, _) => Change::Keep,
            (Some(given), Some(held)) if given == held => Change::Keep,
            (Some(given), _) => Change::Set(given.to_owned()),
        };
        return Ok(Some((customer, link)));
    }
    if let Some(id) = external_id
        && let Some(customer) = customers::with_external_id(db, id).await?
    {
        return Ok(Some((customer, Change::Keep)));
    }
    let by_email = match customers::live_with_email(db, email.as_str(), true).await? {
        Some(registered) => Some(registered),
        None => customers::live_with_email(db, email.as_str(), false).await?,
    };
    let Some(customer) = by_email else {
        return Ok(None);
    };
    match (external_id, customer.external_id.as_deref()) {
        (None, _) => Ok(Some((customer, Change::Keep))),
        // Created with this very id between the two lookups.
        (Some(id), Some(held)) if held == id => Ok(Some((customer, Change::Keep))),
        // Linked to the other system from now on.
        (Some(id), None) => Ok(Some((customer, Change::Set(id.to_owned())))),
        (Some(_), Some(_)) => Err(DomainError::bad_input(
            "input.externalId",
            format!(
                "customer {} has this email and another external id",
                customer.id
            ),
        )),
    }
}

/// Whether `current` already has everything `upsert` asks for (text compared as it
/// would be stored, trimmed).
fn unchanged(
    current: &customer::Model,
    upsert: &Upsert,
    email: &Email,
    link: &Change<String>,
) -> bool {
    let same_text = |change: &Change<String>, stored: &Option<String>| match change {
        Change::Keep => true,
        Change::Clear => stored.is_none(),
        Change::Set(value) => {
            let value = value.trim();
            if value.is_empty() {
                stored.is_none()
            } else {
                stored.as_deref() == Some(value)
            }
        }
    };
    // Metadata merges key by key: unchanged when the merge gives what is stored.
    let same_metadata = super::fields::apply_metadata(
        current.metadata.clone(),
        upsert.metadata.clone(),
        "metadata",
    )
    .is_ok_and(|merged| merged == current.metadata);
    link.is_keep()
        && current.email == email.as_str()
        && same_text(&upsert.first_name, &current.first_name)
        && same_text(&upsert.last_name, &current.last_name)
        && same_text(&upsert.phone, &current.phone)
        && same_metadata
}

/// The value a new customer starts with: what the other system set, nothing else.
fn given<T: Clone>(change: &Change<T>) -> Option<T> {
    match change {
        Change::Set(value) => Some(value.clone()),
        Change::Keep | Change::Clear => None,
    }
}

/// Each update on its own, in order: a row that fails leaves the others alone.
pub async fn update_each(
    db: &Db,
    admin_id: Uuid,
    rows: Vec<(Uuid, CustomerChange)>,
) -> DomainResult<Vec<(Uuid, DomainResult<customer::Model>)>> {
    check_size(rows.len(), "updates")?;
    let mut results = Vec::with_capacity(rows.len());
    for (id, change) in rows {
        results.push((id, customers::update(db, admin_id, id, change).await));
    }
    Ok(results)
}

/// Each soft delete on its own, in order.
pub async fn delete_each(
    db: &Db,
    admin_id: Uuid,
    ids: Vec<Uuid>,
) -> DomainResult<Vec<(Uuid, DomainResult<customer::Model>)>> {
    check_size(ids.len(), "ids")?;
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        results.push((id, customers::delete(db, admin_id, id).await));
    }
    Ok(results)
}

fn check_size(rows: usize, field: &str) -> DomainResult<()> {
    if rows > MAX_BULK_ROWS {
        return Err(DomainError::bad_input(
            field,
            format!("at most {MAX_BULK_ROWS} rows at a time"),
        ));
    }
    Ok(())
}
