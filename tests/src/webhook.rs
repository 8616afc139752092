//! A webhook receiver on 127.0.0.1: records every message the outbox posts, and can
//! refuse the first few to exercise retries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use tokio::net::TcpListener;

#[derive(Clone, Default)]
struct Inbox {
    received: Arc<Mutex<Vec<Received>>>,
    refuse_first: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

/// One POST the receiver accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Value,
    /// The body as sent, byte for byte (what a signature covers).
    pub raw: String,
    pub headers: HeaderMap,
    pub idempotency_key: Option<String>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

pub struct Webhook {
    pub url: String,
    inbox: Inbox,
}

impl Webhook {
    /// Starts a receiver that answers 500 to its first `refuse_first` calls.
    pub async fn start(refuse_first: usize) -> Self {
        let inbox = Inbox {
            refuse_first: Arc::new(AtomicUsize::new(refuse_first)),
            ..Inbox::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let router = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(inbox.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, inbox }
    }

    /// Every call so far, refused ones included.
    pub fn calls(&self) -> usize {
        self.inbox.calls.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inbox.received.lock().unwrap().clone()
    }

    /// Delivers what is due through `app` (no waiting) and returns the message of
    /// `kind` for `recipient`.
    pub async fn delivered(&self, app: &crate::TestApp, kind: &str, recipient: &str) -> Received {
        app.deliver_outbox().await;
        self.received()
            .into_iter()
            .find(|r| r.body["kind"] == kind && r.body["recipient"] == recipient)
            .unwrap_or_else(|| {
                panic!(
                    "no {kind} message for {recipient}; got {:?}",
                    self.received()
                )
            })
    }
}

async fn receive(State(inbox): State<Inbox>, headers: HeaderMap, raw: String) -> StatusCode {
    let Ok(body) = serde_json::from_str::<Value>(&raw) else {
        return StatusCode::BAD_REQUEST;
    };
    inbox.calls.fetch_add(1, Ordering::SeqCst);
    let refused = inbox
        .refuse_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if refused {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    inbox.received.lock().unwrap().push(Received {
        body,
        raw,
        headers,
        idempotency_key,
    });
    StatusCode::NO_CONTENT
}
