//! The `Address` type: an entry in a customer's address book.

use async_graphql::{Context, ID, Json, Object, Result};
use chrono::{DateTime, Utc};
use entity::address;

use super::context::{ContextExt, to_id};
use super::customers::Customer;
use crate::error::DomainError;

pub struct Address(pub address::Model);

#[Object]
impl Address {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn first_name(&self) -> Option<&str> {
        self.0.first_name.as_deref()
    }

    async fn last_name(&self) -> Option<&str> {
        self.0.last_name.as_deref()
    }

    async fn company(&self) -> Option<&str> {
        self.0.company.as_deref()
    }

    async fn address1(&self) -> Option<&str> {
        self.0.address_1.as_deref()
    }

    async fn address2(&self) -> Option<&str> {
        self.0.address_2.as_deref()
    }

    async fn city(&self) -> Option<&str> {
        self.0.city.as_deref()
    }

    async fn province(&self) -> Option<&str> {
        self.0.province.as_deref()
    }

    async fn postal_code(&self) -> Option<&str> {
        self.0.postal_code.as_deref()
    }

    /// ISO 3166-1 alpha-2, upper-case.
    async fn country_code(&self) -> &str {
        &self.0.country_code
    }

    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }

    async fn metadata(&self) -> Option<Json<serde_json::Value>> {
        self.0.metadata.clone().map(Json)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The customer whose address book this is.
    async fn customer(&self, ctx: &Context<'_>) -> Result<Customer> {
        let customer = ctx.loaders().customer.load_one(self.0.customer_id).await?;
        Ok(Customer(customer.ok_or(DomainError::NotFound("customer"))?))
    }
}
