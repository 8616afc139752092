//! The notification outbox: everything sent to a customer.
//!
//! [`enqueue`] writes a message in the caller's transaction, so a message exists
//! exactly when the change that causes it committed. The [`Worker`] delivers pending
//! messages to the configured [`Sink`] at least once: it leases a message before
//! sending (so two workers do not both send it), marks it delivered after, and retries
//! failures with exponential backoff. Once delivered, the secrets in a message's
//! payload are removed from the table.
//!
//! Tokens never reach the logs: the log sink writes what was sent and to whom, not
//! the payload's secrets.

use std::time::Duration;

use chrono::TimeDelta;
use entity::outbox_message;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use super::email::Email;
use crate::db;
use crate::error::{DomainError, DomainResult};

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
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PasswordReset => "password_reset",
            Kind::EmailChangeConfirmation => "email_change_confirmation",
            Kind::EmailChanged => "email_changed",
            Kind::OrderClaim => "order_claim",
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

/// Where messages go.
#[derive(Clone)]
pub enum Sink {
    /// Write a line per message to the log (without its secrets). For development.
    Log,
    /// POST each message as JSON; any 2xx answer counts as delivered. The
    /// `Idempotency-Key` header carries the message id, so a receiver can drop the
    /// duplicates at-least-once delivery may produce.
    Webhook {
        url: String,
        client: reqwest::Client,
    },
}

impl Sink {
    pub fn webhook(url: String) -> DomainResult<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(DomainError::internal)?;
        Ok(Sink::Webhook { url, client })
    }

    async fn send(&self, message: &outbox_message::Model) -> Result<(), String> {
        match self {
            Sink::Log => {
                tracing::info!(
                    message_id = %message.id,
                    kind = %message.kind,
                    recipient = %message.recipient,
                    payload = %redacted(message.payload.clone()),
                    "outbox message (log sink; secrets are not logged)"
                );
                Ok(())
            }
            Sink::Webhook { url, client } => {
                let body = json!({
                    "id": message.id,
                    "kind": message.kind,
                    "recipient": message.recipient,
                    "payload": message.payload,
                    "createdAt": message.created_at,
                    "attempt": message.attempts + 1,
                });
                let response = client
                    .post(url)
                    .header("Idempotency-Key", message.id.to_string())
                    .json(&body)
                    .send()
                    .await
                    .map_err(|error| format!("request failed: {error}"))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("webhook answered {}", response.status()))
                }
            }
        }
    }
}

/// The payload with its secret replaced.
fn redacted(mut payload: Value) -> Value {
    if let Some(secret) = payload.get_mut(SECRET_KEY) {
        *secret = Value::from(REDACTED);
    }
    payload
}

/// Delivers pending messages until shut down.
pub struct Worker {
    db: DatabaseConnection,
    sink: Sink,
    poll_interval: Duration,
}

impl Worker {
    pub fn new(db: DatabaseConnection, sink: Sink, poll_interval: Duration) -> Self {
        Self {
            db,
            sink,
            poll_interval,
        }
    }

    /// Delivers what is due, then sleeps for the poll interval; returns when
    /// `shutdown` turns true. A message being sent when shutdown comes is finished.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            match self.deliver_due().await {
                // A full batch: more may be waiting.
                Ok(sent) if sent as u64 == BATCH => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "outbox: could not read pending messages"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.poll_interval) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// One round: takes up to a batch of due messages and tries each once. Returns how
    /// many it tried.
    pub async fn deliver_due(&self) -> DomainResult<usize> {
        let now = db::now();
        let due = outbox_message::Entity::find()
            .filter(outbox_message::Column::DeliveredAt.is_null())
            .filter(outbox_message::Column::NextAttemptAt.lte(now))
            .order_by_asc(outbox_message::Column::NextAttemptAt)
            .order_by_asc(outbox_message::Column::Id)
            .limit(BATCH)
            .all(&self.db)
            .await?;
        let count = due.len();
        for message in due {
            if self.lease(&message).await? {
                self.deliver(message).await?;
            }
        }
        Ok(count)
    }

    /// Takes the message for [`LEASE`]: only the worker whose update matches the
    /// `next_attempt_at` it read gets it.
    async fn lease(&self, message: &outbox_message::Model) -> DomainResult<bool> {
        let leased = outbox_message::Entity::update_many()
            .col_expr(
                outbox_message::Column::NextAttemptAt,
                Expr::val(db::now() + LEASE),
            )
            .filter(outbox_message::Column::Id.eq(message.id))
            .filter(outbox_message::Column::NextAttemptAt.eq(message.next_attempt_at))
            .filter(outbox_message::Column::DeliveredAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(leased.rows_affected == 1)
    }

    async fn deliver(&self, message: outbox_message::Model) -> DomainResult<()> {
        let attempts = message.attempts + 1;
        let outcome = self.sink.send(&message).await;
        let mut update = outbox_message::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(message.id),
            attempts: Set(attempts),
            ..Default::default()
        };
        match outcome {
            Ok(()) => {
                update.delivered_at = Set(Some(db::now()));
                update.payload = Set(redacted(message.payload));
                update.last_error = Set(None);
            }
            Err(error) => {
                let wait = backoff(attempts);
                tracing::warn!(
                    message_id = %message.id,
                    kind = %message.kind,
                    attempts,
                    retry_in_seconds = wait.num_seconds(),
                    %error,
                    "outbox: delivery failed"
                );
                update.next_attempt_at = Set(db::now() + wait);
                update.last_error = Set(Some(error.chars().take(500).collect()));
            }
        }
        update.update(&self.db).await?;
        Ok(())
    }
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
        let payload = json!({ "token": "clr_secret", "expiresAt": "soon" });
        assert_eq!(
            redacted(payload),
            json!({ "token": REDACTED, "expiresAt": "soon" })
        );
    }
}
