//! Marketing consents: the customer's own choice, or an admin recording it on the
//! customer's word; `customer.consents` shows the current state.

use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::customer_consent;

use super::context::{ContextExt, parse_id};
use super::customers::Customer;
use crate::domain::consents::{self, RecordedBy};
use crate::domain::customers;
use crate::error::Doing;

/// What a customer may consent to.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "entity::customer_consent::ConsentPurpose")]
pub enum ConsentPurpose {
    /// Marketing email (newsletters, offers).
    EmailMarketing,
    /// Marketing text messages.
    SmsMarketing,
}

/// Who recorded a consent.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "entity::customer_consent::ConsentSource")]
pub enum ConsentSource {
    /// The customer, logged in (`setMyConsent`).
    Customer,
    /// An admin, on the customer's word (`setCustomerConsent`).
    Admin,
}

/// The current consent to one purpose: the latest the store was told.
pub struct Consent(pub customer_consent::Model);

#[Object]
impl Consent {
    async fn purpose(&self) -> ConsentPurpose {
        self.0.purpose.into()
    }

    async fn granted(&self) -> bool {
        self.0.granted
    }

    /// When the store was told.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }

    async fn source(&self) -> ConsentSource {
        self.0.source.into()
    }
}

#[derive(Default)]
pub struct ConsentMutation;

#[Object]
impl ConsentMutation {
    /// Gives (`granted: true`) or withdraws the logged-in customer's consent to a
    /// purpose. Recorded with the time, on their timeline (`CONSENT_CHANGE`); stating
    /// the current choice again records nothing.
    async fn set_my_consent(
        &self,
        ctx: &Context<'_>,
        purpose: ConsentPurpose,
        granted: bool,
    ) -> Result<Customer> {
        let caller = ctx.principal().await?.require_customer()?;
        consents::set(
            ctx.db(),
            RecordedBy::Customer,
            caller.customer_id,
            purpose.into(),
            granted,
        )
        .await
        .doing("recording a consent")?;
        Ok(Customer(
            customers::get(ctx.db(), caller.customer_id, false).await?,
        ))
    }

    /// Records a customer's consent as they gave it to the staff (admin only; in the
    /// customer's `adminActions`, with source ADMIN).
    async fn set_customer_consent(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        purpose: ConsentPurpose,
        granted: bool,
    ) -> Result<Customer> {
        let caller = ctx.principal().await?.require_admin()?;
        let id = parse_id(&customer_id, "customerId")?;
        consents::set(
            ctx.db(),
            RecordedBy::Admin(caller.admin_id),
            id,
            purpose.into(),
            granted,
        )
        .await
        .doing("recording a consent")?;
        Ok(Customer(customers::get(ctx.db(), id, false).await?))
    }
}
