//! `clientele export customers` and `clientele export orders`: the live customers,
//! or every order with its lines, as CSV on stdout, read in keyset pages (by id, so
//! a page costs the same at the end of the table as at its start) and written out
//! page by page.

use std::collections::HashMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use entity::{customer, line_item, order};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use crate::error::{DomainError, DomainResult};

/// Rows read per statement.
const PAGE: u64 = 1_000;

/// The customers' columns: those an import reads (see `import.rs`) and those it reads
/// past.
pub(super) const CUSTOMER_COLUMNS: [&str; 14] = [
    "id",
    "email",
    "external_id",
    "first_name",
    "last_name",
    "phone",
    "metadata",
    "has_account",
    "created_at",
    "updated_at",
    "email_verified_at",
    "disabled_at",
    "order_count",
    "last_order_at",
];

const ORDER_COLUMNS: [&str; 13] = [
    "id",
    "display_id",
    "customer_id",
    "email",
    "status",
    "currency_code",
    "subtotal",
    "total",
    "created_at",
    "updated_at",
    "shipping_country",
    "billing_country",
    "line_items",
];

fn csv_error(error: csv::Error) -> DomainError {
    DomainError::internal(error)
}

fn time(value: Option<DateTime<Utc>>) -> String {
    value.map(|t| t.to_rfc3339()).unwrap_or_default()
}

/// Writes every live customer, oldest first. Returns how many.
pub async fn export_customers(db: &impl ConnectionTrait, out: impl Write) -> DomainResult<u64> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(CUSTOMER_COLUMNS).map_err(csv_error)?;
    let mut after: Option<Uuid> = None;
    let mut written = 0;
    loop {
        let mut page = customer::Entity::find()
            .filter(customer::Column::DeletedAt.is_null())
            .order_by_asc(customer::Column::Id)
            .limit(PAGE);
        if let Some(last) = after {
            page = page.filter(customer::Column::Id.gt(last));
        }
        let rows = page.all(db).await?;
        for c in &rows {
            let metadata = c
                .metadata
                .as_ref()
                .and_then(|m| m.readable())
                .map(ToString::to_string)
                .unwrap_or_default();
            writer
                .write_record([
                    c.id.to_string(),
                    c.email.clone(),
                    c.external_id.clone().unwrap_or_default(),
                    c.first_name.clone().unwrap_or_default(),
                    c.last_name.clone().unwrap_or_default(),
                    c.phone.clone().unwrap_or_default(),
                    metadata,
                    c.has_account.to_string(),
                    time(Some(c.created_at)),
                    time(Some(c.updated_at)),
                    time(c.email_verified_at),
                    time(c.disabled_at),
                    c.order_count.to_string(),
                    time(c.last_order_at),
                ])
                .map_err(csv_error)?;
        }
        writer.flush().map_err(DomainError::internal)?;
        written += rows.len() as u64;
        match rows.last() {
            Some(last) if rows.len() as u64 == PAGE => after = Some(last.id),
            _ => return Ok(written),
        }
    }
}

/// Writes every order, deleted customers' included (the accounts want them all),
/// oldest first, its lines as a JSON array in `line_items`. Returns how many.
pub async fn export_orders(db: &impl ConnectionTrait, out: impl Write) -> DomainResult<u64> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(ORDER_COLUMNS).map_err(csv_error)?;
    let mut after: Option<Uuid> = None;
    let mut written = 0;
    loop {
        let mut page = order::Entity::find()
            .order_by_asc(order::Column::Id)
            .limit(PAGE);
        if let Some(last) = after {
            page = page.filter(order::Column::Id.gt(last));
        }
        let orders = page.all(db).await?;
        let mut lines: HashMap<Uuid, Vec<line_item::Model>> = HashMap::new();
        if !orders.is_empty() {
            for line in line_item::Entity::find()
                .filter(line_item::Column::OrderId.is_in(orders.iter().map(|o| o.id)))
                .order_by_asc(line_item::Column::Position)
                .all(db)
                .await?
            {
                lines.entry(line.order_id).or_default().push(line);
            }
        }
        for o in &orders {
            let items: Vec<_> = lines
                .remove(&o.id)
                .unwrap_or_default()
                .into_iter()
                .map(|line| {
                    json!({ "title": line.title, "sku": line.sku, "quantity": line.quantity,
                            "unitPrice": line.unit_price, "total": line.total })
                })
                .collect();
            let country = |snapshot: &Option<order::AddressSnapshot>| {
                snapshot
                    .as_ref()
                    .map(|s| s.country_code.clone())
                    .unwrap_or_default()
            };
            writer
                .write_record([
                    o.id.to_string(),
                    o.display_id.to_string(),
                    o.customer_id.to_string(),
                    o.email.clone(),
                    o.status.to_value(),
                    o.currency_code.clone(),
                    o.subtotal.to_string(),
                    o.total.to_string(),
                    time(Some(o.created_at)),
                    time(Some(o.updated_at)),
                    country(&o.shipping_address),
                    country(&o.billing_address),
                    serde_json::Value::from(items).to_string(),
                ])
                .map_err(csv_error)?;
        }
        writer.flush().map_err(DomainError::internal)?;
        written += orders.len() as u64;
        match orders.last() {
            Some(last) if orders.len() as u64 == PAGE => after = Some(last.id),
            _ => return Ok(written),
        }
    }
}
