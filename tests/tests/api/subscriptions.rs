//! Subscriptions over WebSocket (`graphql-transport-ws`): admins only, committed
//! events only, across instances, and a revoked session ends them.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tests::TestApp;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::orders::{order_input, place};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for a message that should come.
const WAIT: Duration = Duration::from_secs(10);

const CUSTOMER_EVENTS: &str = "subscription($id: ID!) {
    customerEvents(customerId: $id) { id type customerId data occurredAt } }";
const ORDER_PLACED: &str = "subscription { orderPlaced { type data } }";
const UPDATE: &str = "mutation($id: ID!, $first: String!) {
    updateCustomer(id: $id, input: { firstName: $first }) { id } }";

/// Opens a socket and sends `connection_init` with `token`; returns the socket and
/// the server's answer (`connection_ack`, or the close frame).
pub(crate) async fn connect(app: &TestApp, token: &str) -> (Socket, Value) {
    let url = app.base_url.replace("http://", "ws://") + "/graphql";
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    send(
        &mut socket,
        json!({ "type": "connection_init",
                "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    let answer = next(&mut socket).await;
    (socket, answer)
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next protocol message; a close frame as `{"close": code, "reason": ...}`.
pub(crate) async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .unwrap();
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ping" {
                    send(socket, json!({ "type": "pong" })).await;
                    continue;
                }
                return value;
            }
            Message::Close(frame) => {
                return match frame {
                    Some(frame) => json!({ "close": u16::from(frame.code),
                                           "reason": frame.reason.to_string() }),
                    None => json!({ "close": null }),
                };
            }
            _ => continue,
        }
    }
}

pub(crate) async fn subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    send(
        socket,
        json!({ "id": id, "type": "subscribe",
                "payload": { "query": query, "variables": variables } }),
    )
    .await;
}

#[tokio::test]
async fn an_admin_hears_of_committed_changes_as_they_happen() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, ada) = app.register("ada@example.com").await;
    let (_, bob) = app.register("bob@example.com").await;
    // The feed reads SQLite's new events four times a second: let it pass the
    // registrations, so the subscriptions start after them.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (mut socket, ack) = connect(&app, &admin).await;
    assert_eq!(ack["type"], "connection_ack");
    subscribe(&mut socket, "ada", CUSTOMER_EVENTS, json!({ "id": ada })).await;
    subscribe(&mut socket, "orders", ORDER_PLACED, json!({})).await;
    // Let both subscriptions start before the changes.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Bob's change is not Ada's; a refused change publishes nothing; Ada's update is.
    app.data(Some(&admin), UPDATE, json!({ "id": bob, "first": "Bob" }))
        .await;
    let refused = app
        .gql(
            Some(&admin),
            "mutation($id: ID!) { updateCustomer(id: $id, input: { email: \"bob@example.com\" }) { id } }",
            json!({ "id": ada }),
        )
        .await;
    assert_eq!(tests::error_code(&refused), "EMAIL_TAKEN");
    app.data(Some(&admin), UPDATE, json!({ "id": ada, "first": "Ada" }))
        .await;
    let heard = next(&mut socket).await;
    assert_eq!(heard["type"], "next");
    assert_eq!(heard["id"], "ada");
    let event = &heard["payload"]["data"]["customerEvents"];
    assert_eq!(event["type"], "customer.updated");
    assert_eq!(event["customerId"], ada);
    assert_eq!(event["data"], json!({ "customerId": ada }));

    // A guest order: the order subscription hears it.
    let order = place(&app, None, order_input(Some("guest@example.com"))).await;
    let heard = next(&mut socket).await;
    assert_eq!(heard["id"], "orders");
    let placed = &heard["payload"]["data"]["orderPlaced"];
    assert_eq!(placed["type"], "order.placed");
    assert_eq!(placed["data"]["orderId"], order["id"]);
}

#[tokio::test]
async fn only_admins_may_subscribe() {
    let app = TestApp::spawn().await;
    let (customer, _) = app.register("cat@example.com").await;
    // The connection is refused at `connection_init`: closed, with the reason (the
    // code is async-graphql's, 1002).
    for token in [customer.as_str(), "clt_not-a-session"] {
        let (_, answer) = connect(&app, token).await;
        assert_eq!(answer["close"], 1002, "{token}: {answer}");
        assert!(
            answer["reason"].as_str().unwrap().contains("for admins"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_revoked_session_ends_its_subscriptions() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (mut socket, ack) = connect(&app, &admin).await;
    assert_eq!(ack["type"], "connection_ack");
    subscribe(&mut socket, "orders", ORDER_PLACED, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.data(Some(&admin), "mutation { adminLogout }", json!({}))
        .await;
    // Within a recheck (2 s): an UNAUTHENTICATED error, then the subscription completes.
    let error = next(&mut socket).await;
    assert_eq!(error["id"], "orders");
    assert_eq!(
        error["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{error}"
    );
    let complete = next(&mut socket).await;
    assert_eq!(complete, json!({ "id": "orders", "type": "complete" }));
}

#[tokio::test]
async fn a_subscription_hears_changes_made_on_another_instance() {
    let one = TestApp::spawn().await;
    let two = one.spawn_beside(|_| {}).await;
    let admin = one.admin_token().await;
    let (mut socket, ack) = connect(&two, &admin).await;
    assert_eq!(ack["type"], "connection_ack");
    subscribe(&mut socket, "orders", ORDER_PLACED, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let order = place(&one, None, order_input(Some("far@example.com"))).await;
    let heard = next(&mut socket).await;
    assert_eq!(
        heard["payload"]["data"]["orderPlaced"]["data"]["orderId"],
        order["id"]
    );
}

/// Starts `query` as `token`'s subscription and checks that it runs: no error and no
/// completion within a moment (for the documentation's examples). Returns the
/// answer of `connection_init` when the connection was refused.
pub(crate) async fn runs(
    app: &TestApp,
    token: &str,
    query: &str,
    variables: Value,
) -> Result<(), Value> {
    let (mut socket, ack) = connect(app, token).await;
    if ack["type"] != "connection_ack" {
        return Err(ack);
    }
    subscribe(&mut socket, "doc", query, variables).await;
    match tokio::time::timeout(Duration::from_millis(500), next(&mut socket)).await {
        // Quiet: it is waiting for events.
        Err(_) => Ok(()),
        Ok(message) if message["type"] == "next" && message["payload"].get("errors").is_none() => {
            Ok(())
        }
        Ok(message) => Err(message),
    }
}

#[tokio::test]
async fn idle_and_excess_sockets_are_refused() {
    let app = TestApp::spawn_with(|settings| settings.max_concurrent_requests = 1).await;
    let url = app.base_url.replace("http://", "ws://") + "/graphql";
    let request = || {
        let mut request = url.clone().into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        request
    };
    // One socket holds the only permit: a second is refused with 503.
    let (mut idle, _) = tokio_tungstenite::connect_async(request()).await.unwrap();
    match tokio_tungstenite::connect_async(request()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!("a second socket was let in: {other:?}"),
    }
    // The first never sends connection_init: it is closed after the deadline.
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match idle.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "an idle socket stayed open");
    // Its permit is back.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio_tungstenite::connect_async(request()).await.is_ok());
}
