//! The HTTP edge: the router, the server loop, and what wraps every request.
//!
//! Every request gets an id (`x-request-id`, and on the span that every log line of the
//! request carries), one structured log line when it ends (method, path, status,
//! duration, and for GraphQL the operation name, the error codes and the kind of
//! caller; never variables), and a panic in a handler answers INTERNAL with that id
//! instead of dropping the connection.

mod cors;
mod graphiql;
mod graphql;
mod subscriptions;

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use futures_util::FutureExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tracing::Instrument;
use uuid::Uuid;

use crate::app::App;
use crate::error::ErrorCode;

pub use graphql::error_body;

/// The request id, sent back as `x-request-id` and on INTERNAL errors.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being handled, in the request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct RequestId(pub Uuid);

/// What the GraphQL handler reports for the request's log line.
#[derive(Debug, Clone, Default)]
pub struct GraphqlOutcome {
    pub operation: Option<String>,
    pub codes: Vec<&'static str>,
    pub principal: &'static str,
}

/// The routes, with the limits and the per-request layer.
pub fn router(app: &App) -> Router {
    let edge = app.edge();
    let graphql = axum::routing::post(graphql::execute).get(get_graphql);
    let mut router = Router::new();
    if edge.graphiql {
        router = router.route("/graphql/assets/{name}", get(graphiql::asset));
    }
    if !edge.metrics_apart {
        router = router.route("/metrics", get(metrics));
    }
    router = router
        .route("/graphql", graphql)
        .route("/health", get(health))
        // The handler reads the body through this limit; nothing larger is buffered.
        .layer(DefaultBodyLimit::max(edge.max_body_bytes));
    if let Some(cors) = cors::layer(&edge.cors) {
        router = router.layer(cors);
    }
    router
        .layer(middleware::from_fn(each_request))
        .with_state(app.clone())
}

/// `GET /graphql`: a WebSocket for subscriptions when the request asks to upgrade,
/// else GraphiQL (when it is on).
async fn get_graphql(State(app): State<App>, request: Request) -> Response {
    if subscriptions::is_upgrade(request.headers()) {
        return subscriptions::upgrade(app, request).await;
    }
    if app.edge().graphiql {
        let query = request.uri().query().map(str::to_owned);
        return graphiql::page(axum::extract::RawQuery(query)).await;
    }
    let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
    response
        .headers_mut()
        .insert(axum::http::header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// `/metrics` alone, for `--metrics-bind`.
fn metrics_router(app: &App) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(app.clone())
}

/// Runs one instance: its background work, and HTTP on `listener` (and `/metrics` on
/// `metrics_listener` when given) until `shutdown` completes; then in-flight requests
/// finish and the background work stops.
pub async fn serve_app(
    app: App,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let background = app.start_background().await?;
    // Scrapes are short and stateless: that server simply stops with this one.
    let metrics = metrics_listener.map(|listener| {
        let router = metrics_router(&app);
        tokio::spawn(async move { axum::serve(listener, router).await })
    });
    let header_read_timeout = app.edge().header_read_timeout;
    // A second past the request deadline: every accepted request can finish.
    let drain_deadline = app.edge().request_timeout + Duration::from_secs(1);
    serve(
        listener,
        router(&app),
        header_read_timeout,
        drain_deadline,
        shutdown,
    )
    .await;
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    background.stop().await;
    Ok(())
}

/// Serves HTTP/1.1 on `listener` until `shutdown` completes, then lets the open
/// connections finish their requests. A client gets `header_read_timeout` to send a
/// request's headers; a slower one is disconnected.
async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    drain_deadline: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Each connection holds a sender; once shutdown is announced and every
    // connection has finished, the receiver sees the channel close. (hyper-util's
    // GracefulShutdown does not take the upgradeable connections WebSockets need.)
    let (draining, drain_signal) = tokio::sync::watch::channel(false);
    let (alive, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors, most likely: wait instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // Responses are written whole; waiting to coalesce them only adds latency.
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "TCP_NODELAY not set");
                }
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_read_timeout)
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(with_peer(router.clone(), peer)))
                    // A subscription's WebSocket takes the connection over.
                    .with_upgrades();
                let alive = alive.clone();
                let mut drain_signal = drain_signal.clone();
                tokio::spawn(async move {
                    let _alive = alive;
                    let mut connection = std::pin::pin!(connection);
                    let finished = tokio::select! {
                        ended = connection.as_mut() => Some(ended),
                        _ = drain_signal.wait_for(|draining| *draining) => None,
                    };
                    let ended = match finished {
                        Some(ended) => ended,
                        None => {
                            // Finish the request in progress, then close.
                            connection.as_mut().graceful_shutdown();
                            connection.await
                        }
                    };
                    if let Err(error) = ended {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    // New connections are refused from here on; open ones finish the request they
    // are serving (idle keep-alive connections close at once). A request never runs
    // past its deadline, so draining takes at most that long; the bound only guards
    // against a client that stops reading its response.
    drop(listener);
    draining.send_replace(true);
    drop(alive);
    if tokio::time::timeout(drain_deadline, all_closed.recv())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain deadline; closing them");
    }
}

/// The TCP peer of a request's connection (behind a proxy, the proxy).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddress(pub SocketAddr);

/// The router for one connection: every request carries the connection's peer.
fn with_peer(
    router: Router,
    peer: SocketAddr,
) -> impl tower::Service<
    axum::http::Request<hyper::body::Incoming>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<Response, std::convert::Infallible>> + Send,
> + Clone {
    use tower::ServiceExt;
    router.map_request(
        move |mut request: axum::http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(PeerAddress(peer));
            request
        },
    )
}

/// Request id, span, panic catching and the log line, around every request.
async fn each_request(mut request: Request, next: Next) -> Response {
    let id = Uuid::now_v7();
    request.extensions_mut().insert(RequestId(id));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %id);
    let handled = AssertUnwindSafe(next.run(request).instrument(span.clone()))
        .catch_unwind()
        .await;
    let mut response = match handled {
        Ok(response) => response,
        Err(_) => {
            span.in_scope(|| tracing::error!("handler panicked"));
            error_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "internal error",
                Some(id),
            )
        }
    };
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let outcome = response
        .extensions()
        .get::<GraphqlOutcome>()
        .cloned()
        .unwrap_or_default();
    span.in_scope(|| {
        tracing::info!(
            %method,
            path,
            status = response.status().as_u16(),
            duration_ms = %format_args!("{:.3}", started.elapsed().as_secs_f64() * 1000.0),
            operation = outcome.operation.as_deref().unwrap_or(""),
            codes = outcome.codes.join(","),
            principal = outcome.principal,
            "request"
        );
    });
    response
}

/// Liveness and readiness: the process answers and the database does too.
async fn health(State(app): State<App>) -> Response {
    match app.db().ping().await {
        Ok(()) if app.standbys().configured() => {
            // Standbys out of rotation leave the instance serving (the primary
            // answers their reads), so they never fail the probe.
            let standbys: Vec<_> = app
                .standbys()
                .reports()
                .into_iter()
                .map(|standby| {
                    serde_json::json!({
                        "name": standby.name,
                        "state": standby.state.as_str(),
                        "lagMs": standby.lag.map(|lag| lag.as_millis() as u64),
                    })
                })
                .collect();
            Json(serde_json::json!({ "status": "ok", "standbys": standbys })).into_response()
        }
        Ok(()) => Json(serde_json::json!({ "status": "ok" })).into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable" })),
            )
                .into_response()
        }
    }
}

/// The Prometheus scrape: this app's requests and pool, the process's counters, and
/// the outbox backlog (one statement, on the request pool).
async fn metrics(State(app): State<App>) -> Response {
    let edge = app.edge();
    let backlog = match crate::domain::outbox::backlog(app.db()).await {
        Ok(backlog) => Some(backlog),
        Err(error) => {
            tracing::warn!(%error, "metrics: outbox backlog unreadable");
            None
        }
    };
    let pool = crate::db::pool_state(app.db());
    let gauges = crate::metrics::Gauges {
        requests_in_progress: edge.max_concurrent_requests - edge.in_flight.available_permits(),
        pool_max: pool.max,
        pool_open: pool.open,
        pool_idle: pool.idle,
        sql_statements: app.statements().get(),
        outbox: backlog,
        standbys: app
            .standbys()
            .reports()
            .into_iter()
            .map(|standby| crate::metrics::StandbyGauge {
                in_rotation: standby.state == crate::standbys::StandbyState::Healthy,
                name: standby.name,
                lag: standby.lag,
                reads: standby.reads,
                statements: standby.statements,
            })
            .collect(),
        primary_reads: app.standbys().primary_reads(),
    };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        crate::metrics::render(&edge.requests, &gauges),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn boom() -> &'static str {
        panic!("a bug")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_internal_with_the_request_id() {
        let router = Router::new()
            .route("/boom", get(boom))
            .layer(middleware::from_fn(each_request));
        let request = Request::get("/boom").body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let id = response.headers()[REQUEST_ID_HEADER]
            .to_str()
            .unwrap()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "INTERNAL");
        assert_eq!(body["errors"][0]["extensions"]["requestId"], id.as_str());
        assert!(
            !body.to_string().contains("a bug"),
            "the panic message leaked: {body}"
        );
    }
}
