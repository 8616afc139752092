//! `POST /graphql`: GraphQL over HTTP.
//!
//! The handler follows the GraphQL over HTTP specification: the body must be
//! `application/json` (415 otherwise: a browser can send `text/plain` or form bodies
//! cross-site without a preflight), at most the configured size (413), and a single
//! request object (400 otherwise). The answer is `application/graphql-response+json`
//! when the client accepts it, with 400 for a document that cannot run; otherwise
//! `application/json`, always 200 once the request was understood. Every failure,
//! transport ones included, is a GraphQL error response with `extensions.code`.

use std::sync::Arc;

use async_graphql::{ErrorExtensionValues, ServerError, Value};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::{GraphqlOutcome, PeerAddress, RequestId};
use crate::app::App;
use crate::auth::{Caller, Client, Principal};
use crate::error::ErrorCode;
use crate::graphql::context::Primary;
use crate::graphql::documents::Checked;
use crate::graphql::gate::Gate;
use crate::graphql::json::{self, WrittenResponse};
use crate::graphql::limits::Prepared;
use crate::graphql::loaders::Loaders;
use crate::standbys::{Lsn, Standby};

/// The consistency token's header, in requests and responses (docs/scaling.md).
pub const CONSISTENCY_HEADER: &str = "clientele-consistency";
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// Answers one request and records it for `/metrics`, by operation and outcome.
pub async fn execute(
    State(app): State<App>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    peer: Option<Extension<PeerAddress>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = std::time::Instant::now();
    app.edge().requests.received();
    let response = answer(&app, request_id, peer, &headers, body).await;
    let outcome = response.extensions().get::<GraphqlOutcome>();
    app.edge().requests.finished(
        outcome.and_then(|outcome| outcome.operation.as_deref()),
        outcome.map_or(&[][..], |outcome| &outcome.codes),
        started.elapsed(),
    );
    response
}

async fn answer(
    app: &App,
    request_id: Uuid,
    peer: Option<Extension<PeerAddress>>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let media = ResponseMedia::from_accept(headers);
    // Shed load at once rather than queue without end; the permit is held until the
    // response is built.
    let Some(_permit) = app.edge().in_flight.clone().try_acquire_owned().ok() else {
        let mut response = error_body(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Overloaded,
            "the server is at capacity; retry shortly",
            None,
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let mut request = match read_request(app, headers, body) {
        Ok(request) => request,
        Err((status, why)) => return error_body(status, ErrorCode::BadRequest, &why, None),
    };
    let mut outcome = GraphqlOutcome {
        operation: request.operation_name.clone(),
        codes: Vec::new(),
        principal: "anonymous",
    };
    let client = client_of(app, headers, peer.map(|Extension(peer)| peer));
    let caller = Arc::new(Caller::new(
        bearer_token(headers).map(str::to_owned),
        client,
        app.edge().sessions,
    ));
    let seen = match consistency_token(headers) {
        Ok(seen) => seen,
        Err(why) => return error_body(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, why, None),
    };
    let deadline = tokio::time::Instant::now() + app.edge().request_timeout;
    let mut checked = None;
    let mut token = None;
    let (mut response, refused) = match app.limits().prepare(&mut request) {
        Err(error) => (async_graphql::Response::from_errors(vec![error]), true),
        Ok(document) => {
            if outcome.operation.is_none() {
                outcome.operation = document.prepared.only_operation().map(str::to_owned);
            }
            let (response, refused, next) =
                run_routed(app, request, &document, &caller, seen, deadline).await;
            token = next;
            checked = Some(document);
            (response, refused)
        }
    };
    let no_document = Prepared::default();
    let prepared = checked.as_ref().map_or(&no_document, |c| &c.prepared);
    // A token that no field needed was never looked up.
    let unresolved = if caller.has_token() {
        "unchecked"
    } else {
        "anonymous"
    };
    outcome.principal = caller.resolved().map_or(unresolved, principal_kind);
    if let Some(token) = token {
        response.extensions.insert(
            "consistencyToken".to_owned(),
            Value::from(token.to_string()),
        );
    }
    for error in &mut response.errors {
        let code = classify(error, prepared, request_id);
        outcome.codes.push(code.name());
    }
    let status = if refused && media == ResponseMedia::GraphqlResponseJson {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    // Written straight to bytes: going through `serde_json::Value` first cost 6 % of
    // the CPU of a page of 50 customers (profiled), for a tree built and dropped.
    // A document that never ran has no `data` entry at all (GraphQL over HTTP).
    let mut body = Vec::with_capacity(checked.as_ref().map_or(0, |c| c.response_capacity()));
    let written = if refused {
        serde_json::to_writer(&mut body, &serde_json::json!({ "errors": response.errors }))
    } else {
        json::write_response(&mut body, &response)
    };
    if let Some(checked) = &checked {
        checked.record_response_bytes(body.len());
    }
    let body = match written {
        Ok(()) => body,
        Err(error) => {
            tracing::error!(%error, "response not serialisable");
            let internal = ErrorCode::Internal;
            return error_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                internal,
                "internal error",
                Some(request_id),
            );
        }
    };
    let mut http = (status, body).into_response();
    http.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.as_str()),
    );
    for (name, value) in response.http_headers.iter() {
        http.headers_mut().insert(name.clone(), value.clone());
    }
    if let Some(token) = token.and_then(|t| HeaderValue::from_str(&t.to_string()).ok()) {
        http.headers_mut().insert(CONSISTENCY_HEADER, token);
    }
    http.extensions_mut().insert(outcome);
    http
}

/// Runs a prepared request where it belongs: a query on a standby that has replayed
/// up to the client's token (and again on the primary if that standby fails under
/// it), anything else on the primary. Returns the response, whether the document was
/// refused before it ran, and the client's next consistency token.
async fn run_routed(
    app: &App,
    request: async_graphql::Request,
    checked: &Arc<Checked>,
    caller: &Arc<Caller>,
    seen: Option<Lsn>,
    deadline: tokio::time::Instant,
) -> (async_graphql::Response, bool, Option<Lsn>) {
    let reads_only = checked
        .prepared
        .reads_only(request.operation_name.as_deref());
    let standbys = app.standbys();
    let standby = match reads_only && standbys.configured() {
        true => standbys.pick(seen).await,
        false => None,
    };
    let (response, answered_by) = match standby {
        None => (
            run(app, request, checked, caller, None, deadline).await,
            None,
        ),
        Some(standby) => {
            let mut again = copy_of(&request);
            let response = run(app, request, checked, caller, Some(&standby), deadline).await;
            // A read is safe to run twice: the primary answers it whatever went
            // wrong on the standby.
            if has_code(&response, ErrorCode::Unavailable) {
                // Boxed: the pool's ping is a future of about 14 KB, which would
                // make every request's future that large (and copied when axum
                // boxes it) for a path taken only when a standby fails.
                if Box::pin(standby.db().ping()).await.is_err() {
                    standby.mark_down();
                }
                let _ = app.limits().prepare(&mut again);
                (run(app, again, checked, caller, None, deadline).await, None)
            } else {
                (response, Some(standby))
            }
        }
    };
    let refused = response.data == Value::Null
        && response.errors.iter().all(|e| e.path.is_empty())
        && !has_code(&response, ErrorCode::Timeout);
    // A refused document ran nothing and costs no SQL, and without standbys a token
    // would buy nothing: neither gets one.
    let token = match standbys.configured() && !refused {
        true => {
            standbys
                .token_after(app.db(), answered_by, reads_only, seen)
                .await
        }
        false => None,
    };
    (response, refused, token)
}

/// Executes a prepared request on the primary, or on the standby answering a query,
/// before `deadline`.
async fn run(
    app: &App,
    request: async_graphql::Request,
    checked: &Arc<Checked>,
    caller: &Arc<Caller>,
    standby: Option<&Standby>,
    deadline: tokio::time::Instant,
) -> async_graphql::Response {
    // One connection for the request's statements (`Db::for_request`); on the
    // primary the session lookup shares it.
    let db = standby.map_or(app.db(), Standby::db).for_request();
    let gate = Gate::default();
    let mut request = request
        .data(caller.clone())
        .data(db.clone())
        .data(Loaders::new(
            &db,
            app.edge().sessions,
            app.edge().count_limit,
            &gate,
        ))
        .data(WrittenResponse);
    if standby.is_none() {
        request = request.data(Primary(db.clone()));
    }
    // Dropping the execution at the deadline cancels it: its statements are
    // abandoned and an open transaction rolls back.
    let execution = gate.request(app.engine().execute(request, checked));
    match tokio::time::timeout_at(deadline, execution).await {
        Ok(response) => {
            db.end_request().await;
            response
        }
        Err(_) => {
            // A batch may still be waiting on a statement: the connection goes back
            // when it is done, and the client has its TIMEOUT now.
            tokio::spawn(async move { db.end_request().await });
            timed_out()
        }
    }
}

/// The request again, to run a second time: what the client sent, without the data
/// a run attaches.
fn copy_of(request: &async_graphql::Request) -> async_graphql::Request {
    let mut copy =
        async_graphql::Request::new(request.query.clone()).variables(request.variables.clone());
    copy.operation_name = request.operation_name.clone();
    copy.extensions = request.extensions.clone();
    copy
}

/// Whether any error of the response carries `code`. A response that failed for want
/// of its database is UNAVAILABLE (the error policy makes every connection failure
/// that), which on a standby the primary may answer instead.
fn has_code(response: &async_graphql::Response, code: ErrorCode) -> bool {
    response.errors.iter().any(|error| {
        let found = error.extensions.as_ref().and_then(|e| e.get("code"));
        found.is_some_and(|found| code_of(found) == code)
    })
}

/// The client's consistency token (`Clientele-Consistency`), when it sent one: the
/// newest position it has seen. Anything else in the header is refused.
fn consistency_token(headers: &HeaderMap) -> Result<Option<Lsn>, &'static str> {
    match headers.get(CONSISTENCY_HEADER) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(Lsn::parse)
            .map(Some)
            .ok_or("the Clientele-Consistency header is not a token this server gave"),
    }
}

fn principal_kind(principal: Principal) -> &'static str {
    match principal {
        Principal::Anonymous => "anonymous",
        Principal::Admin { .. } => "admin",
        Principal::Customer { .. } => "customer",
    }
}

fn timed_out() -> async_graphql::Response {
    let error: async_graphql::Error = crate::error::DomainError::Timeout.into();
    async_graphql::Response::from_errors(vec![error.into_server_error(Default::default())])
}

/// The transport rules: a JSON body within the size limit holding one request object
/// with a query. Anything else is refused here, before GraphQL sees it, with the
/// status to answer and why; every refusal is BAD_REQUEST.
fn read_request(
    app: &App,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<async_graphql::Request, (StatusCode, String)> {
    if !is_json(headers) {
        let why = "the request body must be application/json";
        return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, why.to_owned()));
    }
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        let why = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!(
                "the request body is larger than {} bytes",
                app.edge().max_body_bytes
            )
        } else {
            "the request body could not be read".to_owned()
        };
        (status, why)
    })?;
    let request: async_graphql::Request = serde_json::from_slice(&body).map_err(|error| {
        let why = format!("the body is not a GraphQL request object: {error}");
        (StatusCode::BAD_REQUEST, why)
    })?;
    if request.query.trim().is_empty() {
        return Err((
            StatusCode::BAD_REQUEST,
            "the request has no query".to_owned(),
        ));
    }
    Ok(request)
}

/// Gives every error a code, by where it came from: domain errors and the document
/// limits set theirs. Of the engine's own errors, those with a path come from a field
/// whose argument values failed to parse when it ran (the client's input); those
/// without one come from validation, and are the client's input when they are about
/// an argument whose value came from variables, else its document. INTERNAL errors get
/// the request id, which the log lines carry too.
fn classify(error: &mut ServerError, prepared: &Prepared, request_id: Uuid) -> ErrorCode {
    let from_variables = error
        .path
        .is_empty()
        .then(|| prepared.variable_argument(&error.locations))
        .flatten()
        .map(str::to_owned);
    let path_is_empty = error.path.is_empty();
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    let code = match extensions.get("code") {
        Some(value) => code_of(value),
        None => {
            let code = match from_variables {
                Some(argument) => {
                    extensions.set("field", argument);
                    ErrorCode::BadUserInput
                }
                None if path_is_empty => ErrorCode::InvalidQuery,
                None => ErrorCode::BadUserInput,
            };
            extensions.set("code", code.to_value());
            code
        }
    };
    if code == ErrorCode::Internal {
        extensions.set("requestId", request_id.to_string());
    }
    code
}

fn code_of(value: &Value) -> ErrorCode {
    use async_graphql::resolver_utils::EnumType;
    ErrorCode::items()
        .iter()
        .find(|item| item.value.to_value() == *value)
        .map_or(ErrorCode::Internal, |item| item.value)
}

/// A response that is only an error, for requests refused before GraphQL runs.
pub fn error_body(
    status: StatusCode,
    code: ErrorCode,
    message: &str,
    request_id: Option<Uuid>,
) -> Response {
    let mut extensions = serde_json::json!({ "code": code.name() });
    if let Some(id) = request_id {
        extensions["requestId"] = serde_json::Value::String(id.to_string());
    }
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": extensions }] });
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(APPLICATION_JSON),
    );
    // For the log line and the metrics: the code, though no operation ran.
    response.extensions_mut().insert(GraphqlOutcome {
        operation: None,
        codes: vec![code.name()],
        principal: "anonymous",
    });
    response
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(APPLICATION_JSON))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseMedia {
    GraphqlResponseJson,
    ApplicationJson,
}

impl ResponseMedia {
    /// The specification's media type when the client lists it before (or without)
    /// `application/json`; `application/json` for everyone else, legacy clients and
    /// `*/*` included.
    fn from_accept(headers: &HeaderMap) -> Self {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        for media in accept.split(',') {
            let mut parts = media.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| matches!(p.replace(' ', "").as_str(), "q=0" | "q=0.0"));
            if refused {
                continue;
            }
            match name.as_str() {
                GRAPHQL_RESPONSE_JSON => return Self::GraphqlResponseJson,
                APPLICATION_JSON | "*/*" | "application/*" => return Self::ApplicationJson,
                _ => {}
            }
        }
        Self::ApplicationJson
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
            Self::ApplicationJson => APPLICATION_JSON,
        }
    }
}

pub(super) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    bearer(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// The token of an `Authorization` value: `Bearer <token>`, the scheme in any case.
pub(super) fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Where the request came from: the last entry of the trusted proxy header when one
/// is configured and present (the entry that proxy added; earlier ones are whatever
/// the client sent), else the connection's peer.
pub(super) fn client_of(app: &App, headers: &HeaderMap, peer: Option<PeerAddress>) -> Client {
    let from_proxy = app
        .edge()
        .trusted_proxy_header
        .as_ref()
        .and_then(|name| headers.get_all(name).iter().next_back())
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .map(str::trim)
        .filter(|address| !address.is_empty());
    let address = match (from_proxy, peer) {
        (Some(address), _) => address.to_owned(),
        (None, Some(PeerAddress(peer))) => peer.ip().to_string(),
        (None, None) => "unknown".to_owned(),
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    Client {
        address,
        user_agent,
    }
}
