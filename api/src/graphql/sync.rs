//! Imports from other systems (admin only): `upsertCustomer`, and bulk
//! `updateCustomers` / `deleteCustomers` with a result per row.

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, Result, SimpleObject};

use super::context::{ContextExt, change_of, parse_id, to_id};
use super::customers::{Customer, UpdateCustomerInput};
use crate::domain::sync;
use crate::error::{Doing, DomainError, DomainResult, ErrorCode};

/// A customer as another system has it.
#[derive(InputObject)]
pub struct UpsertCustomerInput {
    /// Matched first; a customer matched by email, or a new one, gets it.
    external_id: Option<String>,
    /// Matched when the external id matches nobody (a registered customer before a
    /// guest record with the same email); always written.
    email: String,
    /// An omitted field is left alone, `null` clears it (as in `updateCustomer`).
    first_name: MaybeUndefined<String>,
    last_name: MaybeUndefined<String>,
    phone: MaybeUndefined<String>,
    /// Merged key by key, as in `updateCustomer`.
    metadata: MaybeUndefined<Json<serde_json::Value>>,
}

/// What `upsertCustomer` did.
#[derive(SimpleObject)]
pub struct CustomerUpsert {
    customer: Customer,
    /// `true` when no customer matched and this one was created (without an account).
    created: bool,
}

/// One row of a bulk change.
#[derive(InputObject)]
pub struct CustomerUpdate {
    id: ID,
    input: UpdateCustomerInput,
}

/// Why one row of a bulk change failed; the other rows are unaffected.
#[derive(SimpleObject)]
pub struct RowError {
    code: ErrorCode,
    message: String,
    /// The argument at fault, where there is one.
    field: Option<String>,
}

/// The outcome of one row of a bulk change: the customer as it now is, or the error.
#[derive(SimpleObject)]
pub struct CustomerRowResult {
    id: ID,
    customer: Option<Customer>,
    error: Option<RowError>,
}

impl CustomerRowResult {
    fn of(id: uuid::Uuid, outcome: DomainResult<entity::customer::Model>) -> Self {
        match outcome {
            Ok(customer) => Self {
                id: to_id(id),
                customer: Some(Customer(customer)),
                error: None,
            },
            Err(error) => Self {
                id: to_id(id),
                customer: None,
                error: Some(RowError::from(error)),
            },
        }
    }
}

impl From<DomainError> for RowError {
    fn from(error: DomainError) -> Self {
        let code = error.code();
        let field = match &error {
            DomainError::BadInput { field, .. } => Some(field.clone()),
            _ => None,
        };
        // The one conversion that logs internal errors and hides their details.
        let message = async_graphql::Error::from(error).message;
        Self {
            code,
            message,
            field,
        }
    }
}

#[derive(Default)]
pub struct SyncMutation;

#[Object]
impl SyncMutation {
    /// Creates or updates a customer from another system's record (admin only,
    /// audited as `CUSTOMER_CREATE` or `CUSTOMER_UPDATE`). Matches a live customer by
    /// `externalId`, else by email; creates a customer without an account when
    /// nothing matches. Concurrent upserts of one new customer create it once.
    async fn upsert_customer(
        &self,
        ctx: &Context<'_>,
        input: UpsertCustomerInput,
    ) -> Result<CustomerUpsert> {
        let caller = ctx.principal().await?.require_admin()?;
        let upsert = sync::Upsert {
            id: None,
            external_id: input.external_id,
            email: input.email,
            first_name: change_of(input.first_name),
            last_name: change_of(input.last_name),
            phone: change_of(input.phone),
            metadata: change_of(input.metadata.map_value(|Json(value)| value)),
        };
        let (customer, upserted) = sync::upsert(ctx.db(), caller.admin_id, upsert)
            .await
            .doing("upserting a customer")?;
        Ok(CustomerUpsert {
            customer: Customer(customer),
            created: upserted == sync::Upserted::Created,
        })
    }

    /// Changes up to 100 customers, each as `updateCustomer` would (each audited, each
    /// in its own transaction): one result per row, in order; a row that fails leaves
    /// the others alone.
    #[graphql(complexity = "updates.len() * child_complexity")]
    async fn update_customers(
        &self,
        ctx: &Context<'_>,
        updates: Vec<CustomerUpdate>,
    ) -> Result<Vec<CustomerRowResult>> {
        let caller = ctx.principal().await?.require_admin()?;
        let mut rows = Vec::with_capacity(updates.len());
        for (n, update) in updates.into_iter().enumerate() {
            let id = parse_id(&update.id, &format!("updates.{n}.id"))?;
            rows.push((id, update.input.into_change(&format!("updates.{n}.input"))?));
        }
        let results = sync::update_each(ctx.db(), caller.admin_id, rows)
            .await
            .doing("updating customers")?;
        Ok(results
            .into_iter()
            .map(|(id, outcome)| CustomerRowResult::of(id, outcome))
            .collect())
    }

    /// Soft-deletes up to 100 customers, each as `deleteCustomer` would: one result
    /// per row, in order.
    #[graphql(complexity = "ids.len() * child_complexity")]
    async fn delete_customers(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> Result<Vec<CustomerRowResult>> {
        let caller = ctx.principal().await?.require_admin()?;
        let ids = super::customers::parse_ids(&ids, "ids")?;
        let results = sync::delete_each(ctx.db(), caller.admin_id, ids)
            .await
            .doing("deleting customers")?;
        Ok(results
            .into_iter()
            .map(|(id, outcome)| CustomerRowResult::of(id, outcome))
            .collect())
    }
}
