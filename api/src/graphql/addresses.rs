//! The `Address` type: an entry in a customer's address book.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use entity::address;

use super::context::{ContextExt, change_of, parse_id, to_id};
use super::customers::Customer;
use super::plain::{Column, PlainFields};
use crate::domain::addresses::BookDefault;
use crate::domain::{accounts, addresses};
use crate::error::DomainError;

/// Shared (`Arc`): a dataloader hands each parent a copy of its batch's value, and a
/// customer's billing address is also in their address book.
pub struct Address(pub Arc<address::Model>);

impl Address {
    pub fn new(model: address::Model) -> Self {
        Self(Arc::new(model))
    }
}

#[Object]
impl Address {
    /// Unique across every type: `node(id:)` finds it.
    pub async fn id(&self) -> ID {
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

    async fn metadata(&self) -> Result<Option<Json<serde_json::Value>>> {
        Ok(super::metadata_of(&self.0.metadata)?)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The customer whose address book this is.
    async fn customer(&self, ctx: &Context<'_>) -> Result<Customer> {
        let customer = ctx
            .loaders()
            .customer()
            .load_one(self.0.customer_id)
            .await?;
        Ok(Customer(customer.ok_or(DomainError::NotFound("customer"))?))
    }
}

impl PlainFields for Address {
    fn plain_field(&self, name: &str) -> Option<Column<'_>> {
        let address = &self.0;
        Some(match name {
            "id" => Column::Id(address.id),
            "firstName" => Column::text(address.first_name.as_deref()),
            "lastName" => Column::text(address.last_name.as_deref()),
            "company" => Column::text(address.company.as_deref()),
            "address1" => Column::text(address.address_1.as_deref()),
            "address2" => Column::text(address.address_2.as_deref()),
            "city" => Column::text(address.city.as_deref()),
            "province" => Column::text(address.province.as_deref()),
            "postalCode" => Column::text(address.postal_code.as_deref()),
            "countryCode" => Column::str(&address.country_code),
            "phone" => Column::text(address.phone.as_deref()),
            "createdAt" => Column::Time(address.created_at),
            "updatedAt" => Column::Time(address.updated_at),
            _ => return None,
        })
    }
}

/// A postal address as typed into a form.
#[derive(InputObject)]
pub struct AddressInput {
    first_name: Option<String>,
    last_name: Option<String>,
    company: Option<String>,
    address_1: Option<String>,
    address_2: Option<String>,
    city: Option<String>,
    province: Option<String>,
    postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, any case (`de`, `GB`).
    country_code: String,
    phone: Option<String>,
    /// A JSON object.
    metadata: Option<Json<serde_json::Value>>,
}

impl From<AddressInput> for addresses::AddressInput {
    fn from(input: AddressInput) -> Self {
        Self {
            first_name: input.first_name,
            last_name: input.last_name,
            company: input.company,
            address_1: input.address_1,
            address_2: input.address_2,
            city: input.city,
            province: input.province,
            postal_code: input.postal_code,
            country_code: input.country_code,
            phone: input.phone,
            metadata: input.metadata.map(|Json(value)| value),
        }
    }
}

/// Changes to an address: an omitted field is left alone, `null` clears it.
#[derive(InputObject)]
pub struct UpdateAddressInput {
    first_name: MaybeUndefined<String>,
    last_name: MaybeUndefined<String>,
    company: MaybeUndefined<String>,
    address_1: MaybeUndefined<String>,
    address_2: MaybeUndefined<String>,
    city: MaybeUndefined<String>,
    province: MaybeUndefined<String>,
    postal_code: MaybeUndefined<String>,
    /// Required on every address: it can be replaced, not cleared.
    country_code: Option<String>,
    phone: MaybeUndefined<String>,
    metadata: MaybeUndefined<Json<serde_json::Value>>,
}

impl From<UpdateAddressInput> for addresses::AddressChange {
    fn from(input: UpdateAddressInput) -> Self {
        Self {
            first_name: change_of(input.first_name),
            last_name: change_of(input.last_name),
            company: change_of(input.company),
            address_1: change_of(input.address_1),
            address_2: change_of(input.address_2),
            city: change_of(input.city),
            province: change_of(input.province),
            postal_code: change_of(input.postal_code),
            country_code: input.country_code,
            phone: change_of(input.phone),
            metadata: change_of(input.metadata.map_value(|Json(value)| value)),
        }
    }
}

/// The logged-in customer's address book. An id from another customer's book is
/// NOT_FOUND, the same as an id that does not exist.
#[derive(Default)]
pub struct AddressBookMutation;

#[Object]
impl AddressBookMutation {
    /// Adds an address to the book; `useAsBilling` also makes it the billing address,
    /// `useAsDefaultShipping` the default shipping address (in the same transaction).
    async fn add_shipping_address(
        &self,
        ctx: &Context<'_>,
        input: AddressInput,
        #[graphql(default)] use_as_billing: bool,
        #[graphql(default)] use_as_default_shipping: bool,
    ) -> Result<Address> {
        let caller = ctx.principal().await?.require_customer()?;
        let use_as: Vec<BookDefault> = [
            (use_as_billing, BookDefault::Billing),
            (use_as_default_shipping, BookDefault::Shipping),
        ]
        .into_iter()
        .filter_map(|(wanted, default)| wanted.then_some(default))
        .collect();
        let address = addresses::add(ctx.db(), caller.customer_id, input.into(), &use_as).await?;
        Ok(Address::new(address))
    }

    async fn update_address(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateAddressInput,
    ) -> Result<Address> {
        let caller = ctx.principal().await?.require_customer()?;
        let id = parse_id(&id, "id")?;
        let address = addresses::update(ctx.db(), caller.customer_id, id, input.into()).await?;
        Ok(Address::new(address))
    }

    /// Removes an address; if it was the billing or the default shipping address,
    /// there is then none. Orders keep their own copy of the addresses they were sent to.
    async fn delete_address(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let caller = ctx.principal().await?.require_customer()?;
        let id = parse_id(&id, "id")?;
        addresses::delete(ctx.db(), caller.customer_id, id).await?;
        Ok(true)
    }

    /// Makes an address of the book the billing address.
    async fn set_billing_address(&self, ctx: &Context<'_>, id: ID) -> Result<Customer> {
        let caller = ctx.principal().await?.require_customer()?;
        let id = parse_id(&id, "id")?;
        addresses::set_default(ctx.db(), caller.customer_id, id, BookDefault::Billing).await?;
        Ok(Customer(accounts::me(ctx.db(), caller.customer_id).await?))
    }

    /// Makes an address of the book the default shipping address.
    async fn set_default_shipping_address(&self, ctx: &Context<'_>, id: ID) -> Result<Customer> {
        let caller = ctx.principal().await?.require_customer()?;
        let id = parse_id(&id, "id")?;
        addresses::set_default(ctx.db(), caller.customer_id, id, BookDefault::Shipping).await?;
        Ok(Customer(accounts::me(ctx.db(), caller.customer_id).await?))
    }
}
