//! The notification outbox: everything sent to a customer.
//!
//! [`enqueue`] writes a message in the caller's transaction, so a message exists
//! exactly when the change that causes it committed. The rules of delivery live here
//! too: which messages are [`due`], the [`lease`] that keeps two workers from sending
//! one message, and [`record_attempt`], which marks it delivered (removing its secret
//! from the table) or schedules a retry with exponential backoff. The worker that runs
//! them and the clients that send are infrastructure, in `crate::delivery`.
//!
//! Tokens never reach the logs: the log sink writes what was sent and to whom, not
//! the payload's secrets.

use chrono::TimeDelta;
use entity::outbox_message;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use super::email::Email;
use crate::db;
use crate::error::DomainResult;

/// The payload key that holds a message's secret (a token); removed on delivery.
pub const SECRET_KEY: &str = "token";
/// What replaces the secret once the message is delivered.
const REDACTED: &str = "[delivered]";
/// Messages a worker takes per round.
const BATCH: u64 = 20;
/// How long a worker owns a message it is sending before another may retry it.
const LEASE: TimeDelta = TimeDelta::seconds(60);
/// Longest wait between two attempts.
const MAX_BACKOFF_SECONDS: i64 = 3600;

/// What a message is about; the `kind` receivers switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    PasswordReset,
    EmailChangeConfirmation,
    /// To the old address after an email change; carries no secret.
    EmailChanged,
    OrderClaim,
    /// To the customer after their password was changed or reset; carries no secret.
    PasswordChanged,
    /// At registration and on request: proves the customer receives mail there.
    VerifyEmail,
    /// Confirms a deletion the customer asked for.
    AccountDeletionConfirmation,
    /// After the account was deleted; carries no secret.
    AccountDeleted,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PasswordReset => "password_reset",
            Kind::EmailChangeConfirmation => "email_change_confirmation",
            Kind::EmailChanged => "email_changed",
            Kind::OrderClaim => "order_claim",
            Kind::PasswordChanged => "password_changed",
            Kind::VerifyEmail => "verify_email",
            Kind::AccountDeletionConfirmation => "account_deletion_confirmation",
            Kind::AccountDeleted => "account_deleted",
        }
    }
}

/// Writes a message for `recipient` in the caller's transaction.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    recipient: &Email,
    kind: Kind,
    payload: Value,
) -> DomainResult<()> {
    let now = db::now();
    outbox_message::ActiveModel {
        id: Set(Uuid::now_v7()),
        recipient: Set(recipient.as_str().to_owned()),
        kind: Set(kind.as_str().to_owned()),
        payload: Set(payload),
        created_at: Set(now),
        attempts: Set(0),
        next_attempt_at: Set(now),
        delivered_at: Set(None),
        last_error: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The payload with its secret replaced.
pub fn redacted(mut payload: Value) -> Value {
    if let Some(secret) = payload.get_mut(SECRET_KEY) {
        *secret = Value::from(REDACTED);
    }
    payload
}

/// Up to a batch of messages whose next attempt is due, oldest first.
pub async fn due(db: &impl ConnectionTrait) -> DomainResult<Vec<outbox_message::Model>> {
    Ok(outbox_message::Entity::find()
        .filter(outbox_message::Column::DeliveredAt.is_null())
        .filter(outbox_message::Column::NextAttemptAt.lte(db::now()))
        .order_by_asc(outbox_message::Column::NextAttemptAt)
        .order_by_asc(outbox_message::Column::Id)
        .limit(BATCH)
        .all(db)
        .await?)
}

/// Messages not delivered yet, and how many of them failed their last attempt: one
/// statement, for `/metrics`.
pub async fn backlog(db: &impl ConnectionTrait) -> DomainResult<crate::metrics::OutboxBacklog> {
    use sea_orm::sea_query::{Expr, Func};
    use sea_orm::{FromQueryResult, QuerySelect};
    #[derive(FromQueryResult)]
    struct Row {
        pending: i64,
        failing: i64,
    }
    let row = outbox_message::Entity::find()
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "pending")
        .column_as(
            Expr::expr(Func::count(Expr::col(outbox_message::Column::LastError))),
            "failing",
        )
        .filter(outbox_message::Column::DeliveredAt.is_null())
        .into_model::<Row>()
        .one(db)
        .await?;
    let (pending, failing) = row.map_or((0, 0), |row| (row.pending, row.failing));
    Ok(crate::metrics::OutboxBacklog {
        pending: u64::try_from(pending).unwrap_or(0),
        failing: u64::try_from(failing).unwrap_or(0),
    })
}

/// Whether `count` due messages filled a batch, so that more may be waiting.
pub fn batch_was_full(count: usize) -> bool {
    count as u64 == BATCH
}

/// Takes the message for [`LEASE`]: only the worker whose update matches the
/// `next_attempt_at` it read gets it, so two workers never both send it.
pub async fn lease(
    db: &impl ConnectionTrait,
    message: &outbox_message::Model,
) -> DomainResult<bool> {
    let leased = outbox_message::Entity::update_many()
        .col_expr(
            outbox_message::Column::NextAttemptAt,
            Expr::val(db::now() + LEASE),
        )
        .filter(outbox_message::Column::Id.eq(message.id))
        .filter(outbox_message::Column::NextAttemptAt.eq(message.next_attempt_at))
        .filter(outbox_message::Column::DeliveredAt.is_null())
        .exec(db)
        .await?;
    Ok(leased.rows_affected == 1)
}

/// Records one attempt: delivered (the secret is then removed from the table), or
/// failed with `error` and retried after [`backoff`].
pub async fn record_attempt(
    db: &impl ConnectionTrait,
    message: outbox_message::Model,
    failure: Option<String>,
) -> DomainResult<()> {
    let attempts = message.attempts + 1;
    let mut update = outbox_message::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(message.id),
        attempts: Set(attempts),
        ..Default::default()
    };
    match failure {
        None => {
            update.delivered_at = Set(Some(db::now()));
            update.payload = Set(redacted(message.payload));
            update.last_error = Set(None);
        }
        Some(error) => {
            let wait = backoff(attempts);
            tracing::warn!(
                message_id = %message.id,
                kind = %message.kind,
                // A webhook endpoint's name or the broker; never a customer's address.
                endpoint = match super::events::Recipient::of(&message.recipient) {
                    super::events::Recipient::Endpoint(name) => name,
                    super::events::Recipient::Broker => super::events::BROKER_RECIPIENT,
                    super::events::Recipient::Customer => "-",
                },
                attempts,
                retry_in_seconds = wait.num_seconds(),
                %error,
                "outbox: delivery failed"
            );
            update.next_attempt_at = Set(db::now() + wait);
            update.last_error = Set(Some(error.chars().take(500).collect()));
        }
    }
    update.update(db).await?;
    Ok(())
}

/// 1 s after the first failure, doubling each time, at most an hour.
fn backoff(attempts: i32) -> TimeDelta {
    let exponent = attempts.saturating_sub(1).clamp(0, 12).unsigned_abs();
    TimeDelta::seconds((1_i64 << exponent).min(MAX_BACKOFF_SECONDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let waits: Vec<i64> = (1..=14).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(&waits[..5], &[1, 2, 4, 8, 16]);
        assert_eq!(*waits.last().unwrap(), MAX_BACKOFF_SECONDS);
    }

    #[test]
    fn redaction_removes_only_the_secret() {
        use serde_json::json;
        let payload = json!({ "token": "clr_secret", "expiresAt": "soon" });
        assert_eq!(
            redacted(payload),
            json!({ "token": REDACTED, "expiresAt": "soon" })
        );
    }
}
