//! Staff notes on a customer (admin only): the `CustomerNote` type, `customer.notes`
//! and the mutations that write them.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::customer_note;

use super::admins::AdminUser;
use super::connection::{from_page, page_args};
use super::context::{ContextExt, parse_id, to_id};
use crate::domain::notes;
use crate::domain::pagination::{Cursor, Page};
use crate::error::Doing;

/// What the store's staff noted about a customer. Admins only.
pub struct CustomerNote(pub customer_note::Model);

#[Object]
impl CustomerNote {
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// Plain text, line breaks kept; 1 to 5,000 characters.
    async fn body(&self) -> &str {
        &self.0.body
    }

    /// Who wrote it (null if that admin user no longer exists).
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<AdminUser>> {
        AdminUser::by_id(ctx, Some(self.0.author_admin_id)).await
    }

    /// Who changed it last; null if nobody edited it (or that admin no longer exists).
    async fn last_edited_by(&self, ctx: &Context<'_>) -> Result<Option<AdminUser>> {
        AdminUser::by_id(ctx, self.0.edited_by_admin_id).await
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

pub type CustomerNoteConnection = Connection<Cursor, CustomerNote, EmptyFields>;

/// A page of a customer's notes, newest first (admin only), through the loader.
pub async fn of_customer(
    ctx: &Context<'_>,
    customer_id: uuid::Uuid,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> Result<CustomerNoteConnection> {
    ctx.principal().await?.require_admin()?;
    let request = page_args(first, after, last, before).validate()?;
    let page = ctx
        .loaders()
        .notes_of_customer()
        .load_one((customer_id, request))
        .await?;
    Ok(from_page(
        page.unwrap_or_else(Page::empty),
        EmptyFields,
        CustomerNote,
    ))
}

#[derive(Default)]
pub struct NoteMutation;

#[Object]
impl NoteMutation {
    /// Adds a staff note to a live customer (admin only; recorded in `adminActions`,
    /// without the text).
    async fn add_customer_note(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        body: String,
    ) -> Result<CustomerNote> {
        let caller = ctx.principal().await?.require_admin()?;
        let id = parse_id(&customer_id, "customerId")?;
        let note = notes::add(ctx.db(), caller.admin_id, id, &body)
            .await
            .doing("adding a note")?;
        Ok(CustomerNote(note))
    }

    /// Replaces a note's text; `lastEditedBy` then names the caller.
    async fn update_customer_note(
        &self,
        ctx: &Context<'_>,
        id: ID,
        body: String,
    ) -> Result<CustomerNote> {
        let caller = ctx.principal().await?.require_admin()?;
        let id = parse_id(&id, "id")?;
        let note = notes::edit(ctx.db(), caller.admin_id, id, &body)
            .await
            .doing("editing a note")?;
        Ok(CustomerNote(note))
    }

    /// Deletes a note for good.
    async fn delete_customer_note(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let caller = ctx.principal().await?.require_admin()?;
        let id = parse_id(&id, "id")?;
        notes::delete(ctx.db(), caller.admin_id, id)
            .await
            .doing("deleting a note")?;
        Ok(true)
    }
}
