//! Address books: the batch reads behind the relation loaders, and the customer's
//! own changes to their book.

use std::collections::HashMap;
use std::sync::Arc;

use entity::order::AddressSnapshot;
use entity::rows;
use entity::{address, customer};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use uuid::Uuid;

use super::audit::{self, ActionKind};
use super::country::CountryCode;
use super::events::{DomainEvent, EventType};
use super::fields::{self, Change, MAX_PHONE_CHARS, MAX_TEXT_CHARS};
use crate::db;
use crate::db::Db;
use crate::error::{DomainError, DomainResult};

/// Most addresses in one customer's book. It bounds `Customer.shippingAddresses`, so
/// the query cost of that list is known before it runs.
pub const MAX_ADDRESSES_PER_CUSTOMER: usize = 50;

/// Every address in each customer's book (the billing one included: a customer may
/// ship to it), oldest first.
pub async fn of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, Vec<Arc<address::Model>>>> {
    static BOOKS: db::PrebuiltByKeys = db::PrebuiltByKeys::new(|backend, ids| {
        address::Entity::find()
            .filter(address::Column::CustomerId.is_in(ids.iter().copied()))
            .order_by_asc(address::Column::CreatedAt)
            .order_by_asc(address::Column::Id)
            .build(backend)
    });
    let books = BOOKS.bind(db.get_database_backend(), customer_ids);
    let rows: Vec<address::Model> = rows::read(db, books).await?;
    let mut book: HashMap<Uuid, Vec<Arc<address::Model>>> =
        HashMap::with_capacity(customer_ids.len());
    for address in rows {
        book.entry(address.customer_id)
            .or_default()
            .push(Arc::new(address));
    }
    Ok(book)
}

// ---- The customer's own address book ----
//
// Every function takes the owner's id and matches addresses on (id, customer_id): an
// address of another customer is NOT_FOUND, exactly like one that does not exist, so
// ids cannot be probed.

/// A postal address as typed into a form.
#[derive(Debug, Clone, Default)]
pub struct AddressInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub address_1: Option<String>,
    pub address_2: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub postal_code: Option<String>,
    pub country_code: String,
    pub phone: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

/// Changes to an address; `Keep` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct AddressChange {
    pub first_name: Change<String>,
    pub last_name: Change<String>,
    pub company: Change<String>,
    pub address_1: Change<String>,
    pub address_2: Change<String>,
    pub city: Change<String>,
    pub province: Change<String>,
    pub postal_code: Change<String>,
    /// Required on an address, so it can be replaced but not cleared.
    pub country_code: Option<String>,
    pub phone: Change<String>,
    pub metadata: Change<serde_json::Value>,
}

/// Longest postal code, in characters.
const MAX_POSTAL_CODE_CHARS: usize = 20;

fn text(value: Option<String>, field: &str) -> DomainResult<Option<String>> {
    fields::optional_text(value, field, MAX_TEXT_CHARS)
}

impl AddressChange {
    /// Applies the change to `address`, validating every new value.
    fn apply_to(self, address: &address::Model) -> DomainResult<address::ActiveModel> {
        let mut update: address::ActiveModel = address.clone().into();
        let a = address.clone();
        update.first_name = Set(self
            .first_name
            .try_map(|v| text(v, "firstName"))?
            .apply(a.first_name));
        update.last_name = Set(self
            .last_name
            .try_map(|v| text(v, "lastName"))?
            .apply(a.last_name));
        update.company = Set(self
            .company
            .try_map(|v| text(v, "company"))?
            .apply(a.company));
        update.address_1 = Set(self
            .address_1
            .try_map(|v| text(v, "address1"))?
            .apply(a.address_1));
        update.address_2 = Set(self
            .address_2
            .try_map(|v| text(v, "address2"))?
            .apply(a.address_2));
        update.city = Set(self.city.try_map(|v| text(v, "city"))?.apply(a.city));
        update.province = Set(self
            .province
            .try_map(|v| text(v, "province"))?
            .apply(a.province));
        update.postal_code = Set(self
            .postal_code
            .try_map(|v| fields::optional_text(v, "postalCode", MAX_POSTAL_CODE_CHARS))?
            .apply(a.postal_code));
        if let Some(code) = self.country_code {
            update.country_code = Set(CountryCode::parse(&code, "countryCode")?.to_string());
        }
        update.phone = Set(self
            .phone
            .try_map(|v| fields::optional_text(v, "phone", MAX_PHONE_CHARS))?
            .apply(a.phone));
        update.metadata = Set(fields::apply_metadata(
            a.metadata,
            self.metadata,
            "metadata",
        )?);
        update.updated_at = Set(db::now());
        Ok(update)
    }
}

/// The two entries of the book that a customer's record points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookDefault {
    Billing,
    Shipping,
}

impl BookDefault {
    fn column(self) -> customer::Column {
        match self {
            BookDefault::Billing => customer::Column::BillingAddressId,
            BookDefault::Shipping => customer::Column::DefaultShippingAddressId,
        }
    }
}

/// Adds an address to the customer's book, and makes it each default in `use_as`, in
/// the same transaction.
pub async fn add(
    db: &Db,
    customer_id: Uuid,
    input: AddressInput,
    use_as: &[BookDefault],
) -> DomainResult<address::Model> {
    let metadata = fields::stored(fields::metadata(input.metadata.clone(), "metadata")?);
    let a = validated(input, None)?;
    let now = db::now();
    let new = address::ActiveModel {
        id: Set(Uuid::now_v7()),
        customer_id: Set(customer_id),
        first_name: Set(a.first_name),
        last_name: Set(a.last_name),
        company: Set(a.company),
        address_1: Set(a.address_1),
        address_2: Set(a.address_2),
        city: Set(a.city),
        province: Set(a.province),
        postal_code: Set(a.postal_code),
        country_code: Set(a.country_code),
        phone: Set(a.phone),
        metadata: Set(metadata),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let txn = db::begin_write(db).await?;
    // The customer's row lock serialises adds to one book on PostgreSQL (SQLite's
    // write transactions are serial already), so the count below cannot go stale
    // before the insert.
    customer::Entity::find_by_id(customer_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("customer"))?;
    let book = address::Entity::find()
        .filter(address::Column::CustomerId.eq(customer_id))
        .count(&txn)
        .await?;
    if book >= MAX_ADDRESSES_PER_CUSTOMER as u64 {
        return Err(DomainError::bad_input(
            "input",
            format!("an address book holds at most {MAX_ADDRESSES_PER_CUSTOMER} addresses"),
        ));
    }
    let address = new.insert(&txn).await?;
    happened(&txn, customer_id, ActionKind::AddressAdd, address.id).await?;
    for default in use_as {
        point_default_at(&txn, customer_id, address.id, *default).await?;
    }
    DomainEvent::customer(EventType::CustomerUpdated, customer_id)
        .publish(&txn)
        .await?;
    txn.commit().await?;
    Ok(address)
}

/// One address of the customer's book.
async fn owned(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    address_id: Uuid,
) -> DomainResult<address::Model> {
    address::Entity::find_by_id(address_id)
        .filter(address::Column::CustomerId.eq(customer_id))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("address"))
}

pub async fn update(
    db: &Db,
    customer_id: Uuid,
    address_id: Uuid,
    change: AddressChange,
) -> DomainResult<address::Model> {
    let txn = db::begin_write(db).await?;
    let address = owned(&txn, customer_id, address_id).await?;
    let updated = change.apply_to(&address)?.update(&txn).await?;
    happened(&txn, customer_id, ActionKind::AddressUpdate, address_id).await?;
    DomainEvent::customer(EventType::CustomerUpdated, customer_id)
        .publish(&txn)
        .await?;
    txn.commit().await?;
    Ok(updated)
}

/// The customer changed their book: an event on their timeline.
async fn happened(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    kind: ActionKind,
    address_id: Uuid,
) -> DomainResult<()> {
    let details = serde_json::json!({ "addressId": address_id });
    audit::customer_did(db, customer_id, kind, Some(details)).await
}

/// Removes an address from the book; if it was the billing or the default shipping
/// address, the customer then has none. Orders keep their own copies, so history is
/// untouched.
pub async fn delete(db: &Db, customer_id: Uuid, address_id: Uuid) -> DomainResult<()> {
    let txn = db::begin_write(db).await?;
    for default in [BookDefault::Billing, BookDefault::Shipping] {
        customer::Entity::update_many()
            .col_expr(default.column(), Expr::val(Option::<Uuid>::None))
            .filter(customer::Column::Id.eq(customer_id))
            .filter(default.column().eq(address_id))
            .exec(&txn)
            .await?;
    }
    let deleted = address::Entity::delete_many()
        .filter(address::Column::Id.eq(address_id))
        .filter(address::Column::CustomerId.eq(customer_id))
        .exec(&txn)
        .await?;
    if deleted.rows_affected == 0 {
        return Err(DomainError::NotFound("address"));
    }
    happened(&txn, customer_id, ActionKind::AddressDelete, address_id).await?;
    DomainEvent::customer(EventType::CustomerUpdated, customer_id)
        .publish(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Makes an address of the customer's own book their billing or default shipping
/// address.
pub async fn set_default(
    db: &Db,
    customer_id: Uuid,
    address_id: Uuid,
    default: BookDefault,
) -> DomainResult<()> {
    let txn = db::begin_write(db).await?;
    point_default_at(&txn, customer_id, address_id, default).await?;
    DomainEvent::customer(EventType::CustomerUpdated, customer_id)
        .publish(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// One statement: the EXISTS makes another customer's address (or a missing one)
/// NOT_FOUND; the composite foreign key (a trigger on SQLite for the shipping one)
/// backs this up in the schema.
async fn point_default_at(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    address_id: Uuid,
    default: BookDefault,
) -> DomainResult<()> {
    let own_address = Query::select()
        .expr(Expr::val(1))
        .from(address::Entity)
        .and_where(Expr::col((address::Entity, address::Column::Id)).eq(address_id))
        .and_where(Expr::col((address::Entity, address::Column::CustomerId)).eq(customer_id))
        .to_owned();
    let updated = customer::Entity::update_many()
        .col_expr(default.column(), Expr::val(address_id))
        .col_expr(customer::Column::UpdatedAt, Expr::val(db::now()))
        .filter(customer::Column::Id.eq(customer_id))
        .filter(Expr::exists(own_address))
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        return Err(DomainError::NotFound("address"));
    }
    let kind = match default {
        BookDefault::Billing => ActionKind::BillingAddressSet,
        BookDefault::Shipping => ActionKind::ShippingAddressSet,
    };
    happened(db, customer_id, kind, address_id).await
}

/// An address as copied onto an order: validated like a book entry, prefixed field
/// names (`shippingAddress.city`) in errors, metadata not kept.
pub fn snapshot(input: AddressInput, prefix: &str) -> DomainResult<AddressSnapshot> {
    validated(input, Some(prefix))
}

/// The postal fields of `input`, each checked; errors name `prefix.field`, or just
/// `field` without a prefix.
fn validated(input: AddressInput, prefix: Option<&str>) -> DomainResult<AddressSnapshot> {
    let field = |name: &str| match prefix {
        Some(prefix) => format!("{prefix}.{name}"),
        None => name.to_owned(),
    };
    let text = |value: Option<String>, name: &str| {
        fields::optional_text(value, &field(name), MAX_TEXT_CHARS)
    };
    Ok(AddressSnapshot {
        first_name: text(input.first_name, "firstName")?,
        last_name: text(input.last_name, "lastName")?,
        company: text(input.company, "company")?,
        address_1: text(input.address_1, "address1")?,
        address_2: text(input.address_2, "address2")?,
        city: text(input.city, "city")?,
        province: text(input.province, "province")?,
        postal_code: fields::optional_text(
            input.postal_code,
            &field("postalCode"),
            MAX_POSTAL_CODE_CHARS,
        )?,
        country_code: CountryCode::parse(&input.country_code, &field("countryCode"))?.to_string(),
        phone: fields::optional_text(input.phone, &field("phone"), MAX_PHONE_CHARS)?,
    })
}
