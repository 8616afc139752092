//! Events to NATS JetStream, beside the webhooks.
//!
//! The outbox carries one message per event for the broker (recipient
//! [`crate::domain::events::BROKER_RECIPIENT`]), written when the event is fanned out,
//! so an event is published only once it has committed and is published again until
//! JetStream acknowledges it. Each publish carries the outbox message's id as
//! `Nats-Msg-Id`: when the server dies after JetStream stored an event but before the
//! outbox marked it sent, the second publish falls in the stream's duplicate window
//! and JetStream drops it. Subscribers see each event once.
//!
//! Infrastructure, like `delivery`: the client and its typed error, no rules.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use entity::outbox_message;

/// How long JetStream remembers a message id to drop a second publish of it. Longer
/// than a restart takes; a message that waits longer (a broker down for minutes)
/// is still published once more at most once per attempt, and its event id lets a
/// consumer drop it.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Why a publish failed; recorded on the outbox message and retried.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("publishing to NATS failed: {0}")]
    Publish(#[from] jetstream::context::PublishError),
    #[error("the event cannot be encoded: {0}")]
    Encoding(#[from] serde_json::Error),
}

/// A JetStream context and the stream the events go to.
#[derive(Clone)]
pub struct Broker {
    jetstream: jetstream::Context,
    /// `<stream in lower case>`: subjects are `<prefix>.<event type>`.
    prefix: String,
}

impl Broker {
    /// Connects to `url` and makes sure the stream exists: created when missing if
    /// `create`, else start-up fails, rather than publish into nothing.
    pub async fn connect(url: &str, stream_name: &str, create: bool) -> Result<Self, String> {
        let valid = !stream_name.is_empty()
            && stream_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(format!(
                "--nats-stream: {stream_name:?} is not a stream name (letters, digits, - and _)"
            ));
        }
        let client = async_nats::ConnectOptions::new()
            .name("clientele")
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|error| format!("--nats-url: cannot connect to NATS: {error}"))?;
        let jetstream = jetstream::new(client);
        let prefix = stream_name.to_ascii_lowercase();
        if create {
            jetstream
                .get_or_create_stream(stream::Config {
                    name: stream_name.to_owned(),
                    subjects: vec![format!("{prefix}.>")],
                    duplicate_window: DUPLICATE_WINDOW,
                    ..Default::default()
                })
                .await
                .map_err(|error| format!("NATS stream {stream_name}: cannot create it: {error}"))?;
        } else {
            jetstream.get_stream(stream_name).await.map_err(|error| {
                format!("NATS stream {stream_name} is missing ({error}); create it or set --nats-create-stream")
            })?;
        }
        Ok(Self { jetstream, prefix })
    }

    /// The subject an event type is published on: `clientele.customer.created`.
    pub fn subject(&self, event_type: &str) -> String {
        format!("{}.{event_type}", self.prefix)
    }

    /// Publishes the event the message carries and waits for JetStream to store it
    /// (or to say it is a duplicate, which is as good).
    pub async fn publish(&self, message: &outbox_message::Model) -> Result<(), BrokerError> {
        let body = serde_json::to_vec(&message.payload)?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, message.id.to_string());
        let ack = self
            .jetstream
            .publish_with_headers(self.subject(&message.kind), headers, body.into())
            .await?
            .await?;
        if ack.duplicate {
            tracing::info!(message_id = %message.id, "NATS dropped a second publish of an event");
        }
        Ok(())
    }
}
