//! Delivery of outbox messages: the background worker and the sinks it sends to.
//!
//! Infrastructure, apart from the domain: the rules (what is due, leases, retries,
//! removing secrets) are `domain::outbox`'s; this module runs them on a timer and
//! talks to the outside world. Delivery is at least once: a message is leased before
//! it is sent and marked after, so a crash in between sends it again, and the webhook's
//! `Idempotency-Key` lets the receiver drop the duplicate.
//!
//! Three kinds of message share the outbox: mail to customers (to the [`Sink`]),
//! event deliveries to merchant systems (to their [`Endpoint`], signed), and events
//! for the message broker ([`Broker`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use entity::outbox_message;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::watch;

use crate::broker::{Broker, BrokerError};
use crate::db::Db;
use crate::domain::events::{self, Recipient, Subscriber, Wants};
use crate::domain::outbox;
use crate::error::DomainResult;

/// Why one delivery attempt failed; recorded on the message and retried.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("webhook request failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("webhook answered {0}")]
    Refused(reqwest::StatusCode),
    #[error("no webhook endpoint is configured under the name {0:?}")]
    UnknownEndpoint(String),
    #[error("the message cannot be encoded: {0}")]
    Encoding(#[from] serde_json::Error),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("the message is for the broker, and no --nats-url is set")]
    NoBroker,
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
                accepted(&response)
            }
        }
    }
}

/// A merchant system's webhook endpoint: where its events go and the secret they are
/// signed with.
pub struct Endpoint {
    pub subscriber: Subscriber,
    url: reqwest::Url,
    secret: String,
}

/// The headers of a signed delivery (docs/events.md says how to verify one).
pub const SIGNATURE_HEADER: &str = "Clientele-Signature";
pub const TIMESTAMP_HEADER: &str = "Clientele-Timestamp";
pub const EVENT_ID_HEADER: &str = "Clientele-Event-Id";

/// The shortest secret an endpoint may have.
const MIN_SECRET_CHARS: usize = 24;

/// An endpoint as `CLIENTELE_WEBHOOK_ENDPOINTS` lists it.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointSetting {
    name: String,
    url: String,
    events: Vec<String>,
    secret: String,
}

/// The configured endpoints, by name.
#[derive(Clone, Default)]
pub struct Endpoints {
    by_name: Arc<HashMap<String, Endpoint>>,
    /// What the dispatcher needs of them, by name (fixed at start-up).
    subscribers: Arc<Vec<Subscriber>>,
    client: Option<reqwest::Client>,
}

impl Endpoints {
    /// Reads `CLIENTELE_WEBHOOK_ENDPOINTS`: a JSON array of `{ "name", "url", "events",
    /// "secret" }`. Anything wrong is an error naming the endpoint, so the server
    /// refuses to start rather than drop events.
    pub fn parse(setting: Option<&str>) -> Result<Self, String> {
        let Some(text) = setting.filter(|text| !text.trim().is_empty()) else {
            return Ok(Self::default());
        };
        let settings: Vec<EndpointSetting> = serde_json::from_str(text)
            .map_err(|error| format!("--webhook-endpoints is not a valid list: {error}"))?;
        let mut by_name = HashMap::new();
        for setting in settings {
            let name = setting.name;
            events::check_endpoint_name(&name).map_err(|error| error.to_string())?;
            let url = reqwest::Url::parse(&setting.url)
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https"))
                .ok_or_else(|| format!("webhook endpoint {name}: url is not an http(s) URL"))?;
            let wants = setting
                .events
                .iter()
                .map(|pattern| {
                    Wants::parse(pattern).ok_or_else(|| {
                        format!("webhook endpoint {name}: {pattern:?} is no event type")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if wants.is_empty() {
                return Err(format!("webhook endpoint {name}: events is empty"));
            }
            if setting.secret.chars().count() < MIN_SECRET_CHARS {
                return Err(format!(
                    "webhook endpoint {name}: the secret needs {MIN_SECRET_CHARS} characters or more"
                ));
            }
            let endpoint = Endpoint {
                subscriber: Subscriber::endpoint(&name, wants),
                url,
                secret: setting.secret,
            };
            if by_name.insert(name.clone(), endpoint).is_some() {
                return Err(format!("webhook endpoint {name} is listed twice"));
            }
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| error.to_string())?;
        let mut subscribers: Vec<Subscriber> = by_name
            .values()
            .map(|endpoint| endpoint.subscriber.clone())
            .collect();
        subscribers.sort_by(|a, b| a.recipient.cmp(&b.recipient));
        Ok(Self {
            by_name: Arc::new(by_name),
            subscribers: Arc::new(subscribers),
            client: Some(client),
        })
    }

    pub fn subscribers(&self) -> &[Subscriber] {
        &self.subscribers
    }

    /// POSTs the event to its endpoint, signed: `Clientele-Signature: v1=<hex>`, the
    /// HMAC-SHA256 with the endpoint's secret of `<timestamp>.<body>`, where the
    /// timestamp (Unix seconds of this attempt) is `Clientele-Timestamp`.
    async fn send(&self, name: &str, message: &outbox_message::Model) -> Result<(), DeliveryError> {
        let (Some(endpoint), Some(client)) = (self.by_name.get(name), &self.client) else {
            return Err(DeliveryError::UnknownEndpoint(name.to_owned()));
        };
        let body = serde_json::to_vec(&message.payload)?;
        let timestamp = crate::db::now().timestamp();
        let event_id = message.payload["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let response = client
            .post(endpoint.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_ID_HEADER, &event_id)
            .header("Idempotency-Key", &event_id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(
                SIGNATURE_HEADER,
                signature(&endpoint.secret, timestamp, &body),
            )
            .body(body)
            .send()
            .await?;
        accepted(&response)
    }
}

/// Any 2xx answer is a delivery.
fn accepted(response: &reqwest::Response) -> Result<(), DeliveryError> {
    if response.status().is_success() {
        Ok(())
    } else {
        Err(DeliveryError::Refused(response.status()))
    }
}

/// `v1=` and the hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("v1={hex}")
}

/// Delivers pending messages until shut down.
pub struct Worker {
    db: Db,
    sink: Sink,
    endpoints: Endpoints,
    broker: Option<Broker>,
    /// The endpoints, and the broker when there is one.
    subscribers: Vec<Subscriber>,
    poll_interval: Duration,
}

impl Worker {
    pub fn new(
        db: Db,
        sink: Sink,
        endpoints: Endpoints,
        broker: Option<Broker>,
        poll_interval: Duration,
    ) -> Self {
        let mut subscribers = endpoints.subscribers().to_vec();
        if broker.is_some() {
            subscribers.push(Subscriber::broker());
        }
        Self {
            db,
            sink,
            endpoints,
            broker,
            subscribers,
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

    /// One round: fans out new events to the endpoints, then takes up to a batch of
    /// due messages and tries each once. Returns how many messages it tried.
    pub async fn deliver_due(&self) -> DomainResult<usize> {
        let subscribers = &self.subscribers;
        // A burst of changes (a batch update) may leave many events: up to ten batches
        // a round, so delivery still gets its turn.
        for _ in 0..10 {
            if (events::dispatch(&self.db, subscribers).await? as u64) < events::DISPATCH_BATCH {
                break;
            }
        }
        let due = outbox::due(&self.db).await?;
        let count = due.len();
        for message in due {
            if outbox::lease(&self.db, &message).await? {
                let sent = match Recipient::of(&message.recipient) {
                    Recipient::Endpoint(name) => self.endpoints.send(name, &message).await,
                    Recipient::Broker => match &self.broker {
                        Some(broker) => broker.publish(&message).await.map_err(Into::into),
                        None => Err(DeliveryError::NoBroker),
                    },
                    Recipient::Customer => self.sink.send(&message).await,
                };
                let failure = sent.err().map(|e| e.to_string());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The value docs/events.md's Python `verify` computes for the same input
    /// (`hmac.new(secret, ts + b"." + body, hashlib.sha256).hexdigest()`).
    #[test]
    fn the_signature_is_what_the_documented_receiver_computes() {
        let body = br#"{"id":"e1","type":"order.placed"}"#;
        assert_eq!(
            signature("a secret of the crm, 32 chars...", 1_764_633_843, body),
            "v1=dc55327c7bffd76e1831e5692485deb94d9392472cac6fb8b28abca218728fac"
        );
    }
}
