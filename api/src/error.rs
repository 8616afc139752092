//! The error policy: which error type each layer uses, and how it becomes a response.
//!
//! - `domain/` functions return [`DomainResult`]. A database error becomes a domain
//!   error in [`From<DbErr>`](DomainError#impl-From<DbErr>-for-DomainError): a unique
//!   rule the domain names (see [`crate::db::UniqueKey`]) is mapped by the function that
//!   wrote the row, a database that cannot be reached is [`DomainError::Unavailable`],
//!   a statement cancelled by `statement_timeout` is [`DomainError::Timeout`], and
//!   anything else is [`DomainError::Internal`].
//! - Resolvers return `async_graphql::Result`; the one `From<DomainError>` at the end of
//!   this file sets `extensions.code` (and `field`) and logs internal errors.
//! - Errors raised by the GraphQL engine itself (syntax, validation, variable values,
//!   limits) get their code from the phase that raised them, in
//!   [`crate::graphql::limits`]; the HTTP edge ([`crate::http`]) adds the request id to
//!   INTERNAL errors and answers transport errors (body too large, wrong content type,
//!   malformed JSON) as GraphQL error responses.

use std::sync::Arc;

use async_graphql::{Enum, ErrorExtensionValues};

/// Machine-readable error codes, sent as `extensions.code` on every error.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The operation needs a logged-in caller and the request had no valid token.
    Unauthenticated,
    /// The caller is logged in but may not do this.
    Forbidden,
    /// No such record, or not one the caller may see.
    NotFound,
    /// An argument is invalid; `extensions.field` names it.
    BadUserInput,
    /// Email or password is wrong.
    InvalidCredentials,
    /// The email and password are right, but an admin disabled the account. Only a
    /// caller who knows the password learns this.
    AccountDisabled,
    /// The email and password are right, but the store requires a verified email and
    /// this one is not verified yet (`resendVerification` sends a new link). Orders
    /// cannot be claimed until it is.
    EmailNotVerified,
    /// A live record of the same kind already uses this email.
    EmailTaken,
    /// A live record already uses this name.
    NameTaken,
    /// A live customer already has this `externalId`; `extensions.conflictingCustomerId`
    /// names them.
    ExternalIdTaken,
    /// A token sent by email is unknown, expired, already used, cancelled, or not the
    /// caller's; `extensions.reason` says which of `invalid`, `expired`, `used`.
    InvalidToken,
    /// The orders of a claim have changed owner since it was requested.
    AlreadyClaimed,
    /// The customer was erased (`eraseCustomer`, or the guest retention rule): the
    /// person's data is gone, so the record cannot be restored or changed.
    CustomerErased,
    /// Too many attempts of this kind (logins, registrations, guest orders) from this
    /// client or for this account; retry after `extensions.retryAfter` seconds.
    RateLimited,
    /// The document could not be parsed or validated, or exceeds one of the document
    /// limits; `extensions.limit` names the limit.
    InvalidQuery,
    /// The HTTP request itself is malformed (not JSON, not UTF-8, `variables` not an
    /// object, body too large, wrong content type).
    BadRequest,
    /// The request did not finish within the server's deadline; nothing was committed
    /// unless the mutation's own result says so.
    Timeout,
    /// The server is at its limit of concurrent requests; retry after `Retry-After`.
    Overloaded,
    /// The database cannot be reached right now; retry later.
    Unavailable,
    /// A stored value cannot be decoded. The rest of the record still answers; an
    /// admin can overwrite or clear the field.
    DataUnreadable,
    /// Something failed on the server; `extensions.requestId` identifies it in the logs.
    Internal,
}

impl ErrorCode {
    /// The code as a GraphQL value: the enum's name in the schema, e.g. `NOT_FOUND`.
    pub fn to_value(self) -> async_graphql::Value {
        async_graphql::InputType::to_value(&self)
    }

    /// The code's name in the schema, e.g. `NOT_FOUND`.
    pub fn name(self) -> &'static str {
        use async_graphql::resolver_utils::EnumType;
        Self::items()
            .iter()
            .find(|item| item.value == self)
            .map_or("INTERNAL", |item| item.name)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DomainError {
    #[error("authentication required")]
    Unauthenticated,
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Some ids of a batch do not exist; nothing was changed. `field` names the
    /// argument, `ids` the missing ones.
    #[error("no {what} with these ids: nothing was changed")]
    NotFoundIds {
        what: &'static str,
        field: String,
        ids: Vec<uuid::Uuid>,
    },
    #[error("{message}")]
    BadInput { field: String, message: String },
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("this account is disabled; contact the store")]
    AccountDisabled,
    #[error("verify your email address first: follow the link we sent you")]
    EmailNotVerified,
    #[error("this email is already in use")]
    EmailTaken,
    /// EMAIL_TAKEN where the caller may know who holds the email (an admin).
    #[error("customer {holder} already uses this email")]
    EmailTakenBy { holder: uuid::Uuid },
    #[error("this name is already in use")]
    NameTaken,
    #[error("customer {holder} already has this external id")]
    ExternalIdTakenBy { holder: uuid::Uuid },
    #[error("{}", .reason.message())]
    InvalidToken { reason: TokenProblem },
    #[error("these orders have changed owner since the claim was requested")]
    AlreadyClaimed,
    #[error("this customer was erased; their data is gone and the record cannot be restored")]
    Erased,
    /// A throttle refused the attempt; it may be retried after `retry_after_secs`.
    #[error("too many attempts; retry in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// A stored value of `field` cannot be decoded.
    #[error("the stored {field} cannot be read; an admin can overwrite or clear it")]
    Unreadable { field: &'static str },
    /// The database cannot be reached (pool exhausted or connection refused or lost);
    /// the cause is logged.
    #[error("the database is unavailable; try again shortly")]
    Unavailable(Arc<dyn std::error::Error + Send + Sync>),
    /// A statement ran past its deadline and was cancelled.
    #[error("the request took too long and was cancelled")]
    Timeout,
    /// Never shown to clients: logged with what was being done and the whole cause
    /// chain, then reported as INTERNAL.
    #[error("internal error while {doing}: {source}")]
    Internal {
        doing: &'static str,
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
}

impl DomainError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal {
            doing: GENERIC_DOING,
            source: Arc::new(error),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::NotFound(_) | Self::NotFoundIds { .. } => ErrorCode::NotFound,
            Self::BadInput { .. } => ErrorCode::BadUserInput,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::AccountDisabled => ErrorCode::AccountDisabled,
            Self::EmailNotVerified => ErrorCode::EmailNotVerified,
            Self::EmailTaken | Self::EmailTakenBy { .. } => ErrorCode::EmailTaken,
            Self::NameTaken => ErrorCode::NameTaken,
            Self::ExternalIdTakenBy { .. } => ErrorCode::ExternalIdTaken,
            Self::InvalidToken { .. } => ErrorCode::InvalidToken,
            Self::AlreadyClaimed => ErrorCode::AlreadyClaimed,
            Self::Erased => ErrorCode::CustomerErased,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unreadable { .. } => ErrorCode::DataUnreadable,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Timeout => ErrorCode::Timeout,
            Self::Internal { .. } => ErrorCode::Internal,
        }
    }
}

/// Names what was being done when an internal error happened, for the log:
/// `orders::place(..).await.doing("placing an order")`. Other errors pass unchanged, and
/// the innermost description wins.
pub trait Doing<T> {
    fn doing(self, what: &'static str) -> DomainResult<T>;
}

impl<T> Doing<T> for DomainResult<T> {
    fn doing(self, what: &'static str) -> DomainResult<T> {
        self.map_err(|error| match error {
            DomainError::Internal { doing, source } if doing == GENERIC_DOING => {
                DomainError::Internal {
                    doing: what,
                    source,
                }
            }
            other => other,
        })
    }
}

const GENERIC_DOING: &str = "answering the request";

impl From<sea_orm::DbErr> for DomainError {
    fn from(error: sea_orm::DbErr) -> Self {
        match failure_kind(&error) {
            Failure::Unreachable => Self::Unavailable(Arc::new(error)),
            Failure::Cancelled => Self::Timeout,
            Failure::Other => Self::internal(error),
        }
    }
}

impl From<tokio::task::JoinError> for DomainError {
    fn from(error: tokio::task::JoinError) -> Self {
        Self::internal(error)
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

/// What kind of failure a database error is, for the error policy in `error.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The database cannot be reached: no free connection in time, connection
    /// refused, reset or closed, the server shutting down.
    Unreachable,
    /// The statement was cancelled by `statement_timeout`.
    Cancelled,
    /// Anything else: a bug, a broken schema, a constraint nobody mapped.
    Other,
}

/// Classifies `error` by its type and SQLSTATE, never by its message.
fn failure_kind(error: &sea_orm::DbErr) -> Failure {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{ConnAcquireErr, RuntimeErr};
    let sqlx = match error {
        sea_orm::DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => {
            crate::metrics::PROCESS
                .acquire_timeouts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Failure::Unreachable;
        }
        sea_orm::DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed) => {
            return Failure::Unreachable;
        }
        sea_orm::DbErr::Conn(RuntimeErr::SqlxError(sqlx))
        | sea_orm::DbErr::Exec(RuntimeErr::SqlxError(sqlx))
        | sea_orm::DbErr::Query(RuntimeErr::SqlxError(sqlx)) => sqlx,
        sea_orm::DbErr::Conn(_) => return Failure::Unreachable,
        _ => return Failure::Other,
    };
    match sqlx.as_ref() {
        Sqlx::Io(_)
        | Sqlx::Tls(_)
        | Sqlx::PoolTimedOut
        | Sqlx::PoolClosed
        | Sqlx::WorkerCrashed => Failure::Unreachable,
        Sqlx::Database(database) => match database.code().as_deref() {
            // query_canceled: statement_timeout fired.
            Some("57014") => Failure::Cancelled,
            // Class 08 is "connection exception"; 57P01..57P03 are the server
            // shutting down, crashing or not yet accepting connections.
            Some(code) if code.starts_with("08") || code.starts_with("57P") => Failure::Unreachable,
            _ => Failure::Other,
        },
        _ => Failure::Other,
    }
}

/// Why a token was refused. Unknown tokens and tokens of another customer look the
/// same (`Invalid`), so a token says nothing about who it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Invalid,
    Expired,
    Used,
}

impl TokenProblem {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenProblem::Invalid => "invalid",
            TokenProblem::Expired => "expired",
            TokenProblem::Used => "used",
        }
    }

    fn message(self) -> &'static str {
        match self {
            TokenProblem::Invalid => "this token is not valid",
            TokenProblem::Expired => "this token has expired",
            TokenProblem::Used => "this token has already been used or cancelled",
        }
    }
}

/// An error and each of its sources, `: `-separated.
fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// The one place a domain error becomes a GraphQL error. Internal details are logged
/// (inside the request's span, which carries its id) and replaced by a generic message.
impl From<DomainError> for async_graphql::Error {
    fn from(error: DomainError) -> Self {
        let message = match &error {
            DomainError::Internal { doing, source } => {
                tracing::error!(doing, error = %cause_chain(source.as_ref()), "internal error");
                "internal error".to_owned()
            }
            DomainError::Unavailable(inner) => {
                tracing::warn!(error = %inner, "database unavailable");
                error.to_string()
            }
            other => other.to_string(),
        };
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", error.code().to_value());
        match &error {
            DomainError::BadInput { field, .. } => extensions.set("field", field.as_str()),
            DomainError::NotFoundIds { field, ids, .. } => {
                extensions.set("field", field.as_str());
                let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
                extensions.set("ids", ids);
            }
            DomainError::InvalidToken { reason } => {
                extensions.set("field", "token");
                extensions.set("reason", reason.as_str());
            }
            DomainError::Unreadable { field } => extensions.set("field", *field),
            DomainError::RateLimited { retry_after_secs } => {
                extensions.set("retryAfter", *retry_after_secs);
            }
            DomainError::EmailTakenBy { holder } | DomainError::ExternalIdTakenBy { holder } => {
                extensions.set("conflictingCustomerId", holder.to_string());
            }
            _ => {}
        }
        async_graphql::Error {
            message,
            source: None,
            extensions: Some(extensions),
        }
    }
}
