//! Graceful shutdown under load: what SIGTERM does (the `serve` sub-command turns
//! SIGTERM and Ctrl-C into the same shutdown signal the test sends here).

use std::time::{Duration, Instant};

use serde_json::json;
use tests::webhook::Webhook;
use tests::{PASSWORD, TestApp};

const REGISTER: &str = "mutation($email: String!, $password: String!) {
    registerCustomer(email: $email, password: $password) { token } }";

#[tokio::test]
async fn shutting_down_finishes_accepted_requests_and_refuses_new_connections() {
    let webhook = Webhook::start(0).await;
    let url = webhook.url.clone();
    let mut app = TestApp::spawn_with(|s| {
        s.outbox_webhook_url = Some(url);
        s.outbox_worker = true;
        s.outbox_poll_interval_ms = 50;
    })
    .await;
    app.register("ada@example.com").await;
    app.data(
        None,
        "mutation { requestPasswordReset(email: \"ada@example.com\") }",
        json!({}),
    )
    .await;

    // Twelve registrations on their own connections: each waits its turn for an
    // argon2 hash (at most one per core), so most are still running when the signal
    // comes.
    let base = app.base_url.clone();
    let in_flight: Vec<_> = (0..12)
        .map(|i| {
            let base = base.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                client
                    .post(format!("{base}/graphql"))
                    .json(&json!({ "query": REGISTER,
                        "variables": { "email": format!("new{i}@example.com"), "password": PASSWORD } }))
                    .send()
                    .await?
                    .json::<serde_json::Value>()
                    .await
                    .map(|answer| (answer, Instant::now()))
            })
        })
        .collect();
    // Signal once the server holds all twelve (or after two seconds of waiting).
    for _ in 0..200 {
        if app.requests_in_progress() == 12 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let served = app.shut_down();
    let signalled = Instant::now();

    // Every accepted request gets its whole answer.
    let mut finished_after_signal = 0;
    for request in in_flight {
        let (answer, finished) = request
            .await
            .unwrap()
            .expect("an accepted request completes");
        assert!(
            answer["data"]["registerCustomer"]["token"].is_string(),
            "{answer:#}"
        );
        finished_after_signal += usize::from(finished > signalled);
    }
    // Otherwise the test proved nothing: some requests were still running.
    assert!(
        finished_after_signal > 0,
        "every request ended before the signal"
    );
    eprintln!("shutdown: {finished_after_signal} of 12 requests finished after the signal");
    // The server task ends (the outbox worker stopped too), in bounded time.
    tokio::time::timeout(Duration::from_secs(30), served)
        .await
        .expect("shutdown finishes")
        .unwrap()
        .expect("serve ends cleanly");
    // New connections are refused.
    let address = base.trim_start_matches("http://");
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "the listener is closed"
    );
    // The message the worker had is either delivered or still in the outbox, never
    // lost: deliver what is left and find it.
    webhook
        .delivered(&app, "password_reset", "ada@example.com")
        .await;
}
