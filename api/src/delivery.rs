//! Delivery of outbox messages: the background worker and the sinks it sends to.
//!
//! Infrastructure, apart from the domain: the rules (what is due, leases, retries,
//! removing secrets) are `domain::outbox`'s; this module runs them on a timer and
//! talks to the outside world. Delivery is at least once: a message is leased before
//! it is sent and marked after, so a crash in between sends it again, and the webhook's
//! `Idempotency-Key` lets the receiver drop the duplicate.

use std::time::Duration;

use entity::outbox_message;
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::sync::watch;

use crate::domain::outbox;
use crate::error::DomainResult;

/// Why one delivery attempt failed; recorded on the message and retried.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("webhook request failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("webhook answered {0}")]
    Refused(reqwest::StatusCode),
}

/// Where messages go.
#[derive(Clone)]
pub enum Sink {
    /// Write a line per message to the log (without its secrets). For development.
    Log,
    /// POST each message as JSON; any 2xx answer counts as delivered. The
    /// `Idempotency-Key` header carries the message id.
    Webhook {
        url: String,
        client: reqwest::Client,
    },
}

impl Sink {
    pub fn webhook(url: String) -> Result<Self, DeliveryError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Sink::Webhook { url, client })
    }

    async fn send(&self, message: &outbox_message::Model) -> Result<(), DeliveryError> {
        match self {
            Sink::Log => {
                tracing::info!(
                    message_id = %message.id,
                    kind = %message.kind,
                    recipient = %message.recipient,
                    payload = %outbox::redacted(message.payload.clone()),
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
                    .await?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(DeliveryError::Refused(response.status()))
                }
            }
        }
    }
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
                Ok(sent) if outbox::batch_was_full(sent) => continue,
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
        let due = outbox::due(&self.db).await?;
        let count = due.len();
        for message in due {
            if outbox::lease(&self.db, &message).await? {
                let failure = self.sink.send(&message).await.err().map(|e| e.to_string());
                if failure.is_some() {
                    crate::metrics::PROCESS
                        .delivery_failures
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                outbox::record_attempt(&self.db, message, failure).await?;
            }
        }
        Ok(count)
    }
}
