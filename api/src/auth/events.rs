//! Security events: one structured log line each, under the `security` target, so an
//! operator can alert on them apart from the request log.
//!
//! Each line carries `event` (a fixed name), the principal's kind and ids, and sits in
//! the request's span, so it also carries the request id. Nothing here ever takes a
//! password, a token or an email: ids are enough to investigate, and the log is not
//! a place for secrets or for a list of who tried which address.

use uuid::Uuid;

use super::Principal;

/// Whose account an authentication event is about.
#[derive(Debug, Clone, Copy)]
pub enum Account {
    Customer(Uuid),
    Admin(Uuid),
    /// No account has the email (or it is a guest's): the attempt is still an event.
    Unknown,
}

impl Account {
    fn kind(self) -> &'static str {
        match self {
            Self::Customer(_) => "customer",
            Self::Admin(_) => "admin",
            Self::Unknown => "unknown",
        }
    }

    fn id(self) -> Option<Uuid> {
        match self {
            Self::Customer(id) | Self::Admin(id) => Some(id),
            Self::Unknown => None,
        }
    }
}

fn ids(principal: &Principal) -> (&'static str, Option<Uuid>, Option<Uuid>) {
    match *principal {
        Principal::Anonymous => ("anonymous", None, None),
        Principal::Admin {
            admin_id,
            session_id,
        } => ("admin", Some(admin_id), Some(session_id)),
        Principal::Customer {
            customer_id,
            session_id,
        } => ("customer", Some(customer_id), Some(session_id)),
    }
}

/// A caller asked for something its principal may not have. An anonymous caller
/// asking for `me` is a storefront checking whether anyone is logged in, so that is
/// `info`; a logged-in caller reaching past its rights is `warn`.
pub fn denied(principal: &Principal, what: &'static str) {
    let (kind, id, session) = ids(principal);
    let id = id.map(tracing::field::display);
    let session = session.map(tracing::field::display);
    if matches!(principal, Principal::Anonymous) {
        tracing::info!(target: "security", event = "authorization_denied", principal = kind, what);
    } else {
        tracing::warn!(
            target: "security",
            event = "authorization_denied",
            principal = kind,
            principal_id = id,
            session_id = session,
            what,
        );
    }
}

pub fn login_succeeded(account: Account) {
    tracing::info!(
        target: "security",
        event = "login_succeeded",
        account = account.kind(),
        account_id = account.id().map(tracing::field::display),
    );
}

pub fn login_failed(account: Account) {
    tracing::warn!(
        target: "security",
        event = "login_failed",
        account = account.kind(),
        account_id = account.id().map(tracing::field::display),
    );
}

/// A throttle refused an attempt; `scope` names the limit (`customer_login`, ...).
pub fn throttled(scope: &'static str, retry_after_secs: u64) {
    crate::metrics::PROCESS.throttled(scope);
    tracing::warn!(
        target: "security",
        event = "throttled",
        scope,
        retry_after_secs,
    );
}

pub fn password_reset(customer_id: Uuid) {
    tracing::info!(target: "security", event = "password_reset", account = "customer", account_id = %customer_id);
}

pub fn email_verified(customer_id: Uuid) {
    tracing::info!(target: "security", event = "email_verified", account = "customer", account_id = %customer_id);
}

pub fn account_deleted(customer_id: Uuid) {
    tracing::info!(target: "security", event = "account_deleted", account = "customer", account_id = %customer_id);
}

pub fn password_changed(customer_id: Uuid) {
    tracing::info!(target: "security", event = "password_changed", account = "customer", account_id = %customer_id);
}

pub fn email_changed(customer_id: Uuid) {
    tracing::info!(target: "security", event = "email_changed", account = "customer", account_id = %customer_id);
}

/// Sessions of a customer ended by someone: the customer (`by` a customer
/// principal) or an admin.
pub fn sessions_revoked(by: &Principal, customer_id: Uuid, count: u64) {
    let (kind, id, _) = ids(by);
    tracing::info!(
        target: "security",
        event = "sessions_revoked",
        principal = kind,
        principal_id = id.map(tracing::field::display),
        account = "customer",
        account_id = %customer_id,
        count,
    );
}
