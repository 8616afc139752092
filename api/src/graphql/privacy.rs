//! The person's rights over their data: a subject-access export (the customer's own,
//! or any customer's for an admin) and erasure (admins).

use async_graphql::{Context, ID, Json, Object, Result};

use super::context::{ContextExt, parse_id};
use super::customers::Customer;
use crate::domain::privacy::{self, Reader};
use crate::error::Doing;

#[derive(Default)]
pub struct PrivacyQuery;

#[Object]
impl PrivacyQuery {
    /// Everything the store holds about the logged-in customer, as one JSON document
    /// (`format: "clientele.subject-access.v1"`): profile, spend, addresses, groups,
    /// orders with lines and address copies, claims, transfers, timeline, sessions and
    /// tokens (without their secrets), and the messages sent to them. Staff notes
    /// are not in it.
    async fn export_my_data(&self, ctx: &Context<'_>) -> Result<Json<serde_json::Value>> {
        let caller = ctx.principal().await?.require_customer()?;
        Ok(Json(
            privacy::export(ctx.db(), caller.customer_id, Reader::Customer)
                .await
                .doing("exporting a customer's data")?,
        ))
    }

    /// Everything the store holds about one customer record, deleted or erased
    /// included, with staff notes and the admins who acted (admin only). The same
    /// document as `exportMyData`, which the customer can fetch themselves.
    async fn export_customer_data(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Json<serde_json::Value>> {
        ctx.principal().await?.require_admin()?;
        let id = parse_id(&id, "id")?;
        Ok(Json(
            privacy::export(ctx.db(), id, Reader::Staff)
                .await
                .doing("exporting a customer's data")?,
        ))
    }
}

#[derive(Default)]
pub struct PrivacyMutation;

#[Object]
impl PrivacyMutation {
    /// Erases a customer, irreversibly: email (replaced by one that receives no
    /// mail, so the real one is free again), names, phone, metadata, external id,
    /// password, every address of the book and every address copied onto an order,
    /// staff notes, tokens, sessions, the details of their timeline and the messages
    /// to them are gone. Orders keep their amounts, lines, dates, currency and
    /// address countries; the record is soft-deleted and `restoreCustomer` refuses
    /// it (CUSTOMER_ERASED). Recorded in the customer's `adminActions`. Erasing an
    /// erased customer returns it unchanged.
    async fn erase_customer(&self, ctx: &Context<'_>, id: ID) -> Result<Customer> {
        let caller = ctx.principal().await?.require_admin()?;
        let id = parse_id(&id, "id")?;
        Ok(Customer(
            privacy::erase(ctx.db(), caller.admin_id, id)
                .await
                .doing("erasing a customer")?,
        ))
    }
}
