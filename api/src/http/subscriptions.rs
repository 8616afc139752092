//! `GET /graphql` with `Upgrade: websocket`: GraphQL subscriptions over WebSocket,
//! in the `graphql-transport-ws` protocol (GraphiQL's and Apollo's; the older
//! `graphql-ws` too), for admins.
//!
//! The bearer token travels in the `connection_init` payload as
//! `{"Authorization": "Bearer clt_…"}` (browsers cannot set headers on a WebSocket),
//! or in the upgrade request's `Authorization` header. A connection whose token is
//! not an admin's is refused at `connection_init`; the subscriptions themselves check
//! the session again while they run (`graphql::live`).
//!
//! Sockets are bounded like requests: at most `--max-concurrent-requests` open at
//! once (then 503), and one that has not sent `connection_init` within
//! [`INIT_DEADLINE`] is closed, so idle sockets cannot pile up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::PeerAddress;
use super::graphql::{bearer, bearer_token, client_of};
use crate::app::App;
use crate::auth::{Caller, Principal};

/// How long a new socket may take to send `connection_init`.
pub const INIT_DEADLINE: Duration = Duration::from_secs(10);

/// Whether a request asks to become a WebSocket.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

/// Upgrades the request and serves subscriptions on the socket.
pub async fn upgrade(app: App, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(protocol) => protocol,
        Err(status) => return status.into_response(),
    };
    let socket = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(socket) => socket,
        Err(rejection) => return rejection.into_response(),
    };
    let Ok(permit) = app.edge().sockets.clone().try_acquire_owned() else {
        let mut response = StatusCode::SERVICE_UNAVAILABLE.into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let peer = parts.extensions.get::<PeerAddress>().copied();
    let client = client_of(&app, &parts.headers, peer);
    let header_token = bearer_token(&parts.headers).map(str::to_owned);
    let sessions = app.edge().sessions;
    let db = app.db().clone();
    let schema = app.schema().clone();
    socket
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let _permit = permit;
            let initialised = Arc::new(AtomicBool::new(false));
            let init_seen = initialised.clone();
            let serve = GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    init_seen.store(true, Ordering::Relaxed);
                    let token = token_in(&payload).or(header_token);
                    let caller = Arc::new(Caller::new(token, client, sessions));
                    match caller.principal(&db).await {
                        Ok(Principal::Admin { .. }) => {}
                        _ => {
                            return Err(async_graphql::Error::new(
                                "subscriptions are for admins: send an admin's token as \
                                 {\"Authorization\": \"Bearer …\"} in connection_init",
                            ));
                        }
                    }
                    let mut data = Data::default();
                    data.insert(caller);
                    Ok(data)
                })
                .serve();
            // Dropping the socket's future closes it.
            let deadline = async {
                tokio::time::sleep(INIT_DEADLINE).await;
                if initialised.load(Ordering::Relaxed) {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = serve => {}
                () = deadline => tracing::debug!("subscription socket closed: no connection_init in time"),
            }
        })
}

/// `Authorization` (any case) in the `connection_init` payload: `Bearer <token>`.
fn token_in(payload: &serde_json::Value) -> Option<String> {
    let fields = payload.as_object()?;
    let value = fields
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, value)| value.as_str())?;
    bearer(value).map(str::to_owned)
}
