//! Staff notes on customers: admins write, edit and delete them; every change is in
//! the audit trail, in the same transaction. A note stays with a soft-deleted
//! customer (the record's history), but only live customers get new ones.

use std::collections::HashMap;

use entity::customer_note;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult,
    Iterable, QueryFilter, QuerySelect, QueryTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Action, ActionKind, Subject};
use super::pagination::{
    Keyset, PARTITION_COLUMN, Page, PageRequest, pages_by_parent, per_parent_pages_queries,
};
use crate::db;
use crate::db::Db;
use crate::error::{DomainError, DomainResult};

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 5_000;

/// A note's text: trimmed, 1 to [`MAX_NOTE_CHARS`] characters; line breaks and tabs
/// are kept, other control characters refused.
fn body(text: &str) -> DomainResult<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DomainError::bad_input("body", "must not be empty"));
    }
    if trimmed.chars().count() > MAX_NOTE_CHARS {
        return Err(DomainError::bad_input(
            "body",
            format!("must be at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(DomainError::bad_input(
            "body",
            "must not contain control characters other than line breaks and tabs",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Adds a note to a live customer.
pub async fn add(
    db: &Db,
    admin_id: Uuid,
    customer_id: Uuid,
    text: &str,
) -> DomainResult<customer_note::Model> {
    let text = body(text)?;
    let txn = db::begin_write(db).await?;
    super::customers::get(&txn, customer_id, false).await?;
    let now = db::now();
    let note = customer_note::ActiveModel {
        id: Set(Uuid::now_v7()),
        customer_id: Set(customer_id),
        body: Set(text),
        author_admin_id: Set(admin_id),
        edited_by_admin_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, action(admin_id, ActionKind::NoteAdd, &note)).await?;
    txn.commit().await?;
    Ok(note)
}

/// Replaces a note's text and records who changed it.
pub async fn edit(
    db: &Db,
    admin_id: Uuid,
    note_id: Uuid,
    text: &str,
) -> DomainResult<customer_note::Model> {
    let text = body(text)?;
    let txn = db::begin_write(db).await?;
    let note = found(&txn, note_id).await?;
    let note = customer_note::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(note.id),
        body: Set(text),
        edited_by_admin_id: Set(Some(admin_id)),
        updated_at: Set(db::now()),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    audit::record(&txn, action(admin_id, ActionKind::NoteEdit, &note)).await?;
    txn.commit().await?;
    Ok(note)
}

/// Deletes a note for good (the audit trail keeps that it existed, not its text).
pub async fn delete(db: &Db, admin_id: Uuid, note_id: Uuid) -> DomainResult<()> {
    let txn = db::begin_write(db).await?;
    let note = found(&txn, note_id).await?;
    customer_note::Entity::delete_by_id(note.id)
        .exec(&txn)
        .await?;
    audit::record(&txn, action(admin_id, ActionKind::NoteDelete, &note)).await?;
    txn.commit().await?;
    Ok(())
}

async fn found(db: &impl ConnectionTrait, note_id: Uuid) -> DomainResult<customer_note::Model> {
    customer_note::Entity::find_by_id(note_id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("note"))
}

/// The trail names the note, never its text: notes may be edited or deleted for what
/// they said, and the trail is kept for good.
fn action(admin_id: Uuid, kind: ActionKind, note: &customer_note::Model) -> Action {
    Action {
        admin_id,
        kind,
        subject: Subject::Customer(note.customer_id),
        details: Some(json!({ "noteId": note.id })),
    }
}

/// Newest first: note ids are time-ordered.
fn keyset() -> Keyset {
    Keyset {
        name: "customer_note.id",
        key: None,
        id: Expr::col((customer_note::Entity, customer_note::Column::Id)),
        descending: true,
    }
}

/// The notes of each customer, one page per customer, newest first.
pub async fn pages_of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[Uuid],
    request: &PageRequest,
) -> DomainResult<HashMap<Uuid, Page<customer_note::Model>>> {
    let keyset = keyset();
    let branch = |customer_id: Uuid| {
        customer_note::Entity::find()
            .select_only()
            .columns(customer_note::Column::iter())
            .expr_as(Expr::val(customer_id), PARTITION_COLUMN)
            .filter(customer_note::Column::CustomerId.eq(customer_id))
            .into_query()
    };
    let mut rows = Vec::new();
    for query in per_parent_pages_queries(customer_ids, branch, &keyset, request)? {
        for row in db.query_all(&query).await? {
            let note = customer_note::Model::from_query_result(&row, "")?;
            rows.push((note.customer_id, note));
        }
    }
    Ok(pages_by_parent(customer_ids, rows, request, |note| {
        keyset.cursor(String::new(), note.id)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_keeps_its_lines_and_refuses_other_control_characters() {
        assert_eq!(
            body("  prefers calls\n\tafter 5pm  ").unwrap(),
            "prefers calls\n\tafter 5pm"
        );
        assert!(body("   ").is_err());
        assert!(body("bell\u{7}").is_err());
        assert!(body(&"x".repeat(MAX_NOTE_CHARS + 1)).is_err());
        assert!(body(&"é".repeat(MAX_NOTE_CHARS)).is_ok());
    }
}
