//! Who is calling: passwords, session tokens, and the per-request principal.

pub mod events;
pub mod passwords;
pub mod sessions;
pub mod tokens;

use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use sessions::SessionPolicy;

/// Where a request came from, as the HTTP edge saw it.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The peer's IP address, or the trusted proxy header's (see the settings); the
    /// subject of the per-address throttles.
    pub address: String,
    /// The `User-Agent` header, kept with sessions opened by this request.
    pub user_agent: Option<String>,
}

/// The caller of one request as its bearer token says, resolved to a [`Principal`]
/// on first use and then remembered for the rest of the request.
#[derive(Debug)]
pub struct Caller {
    token: Option<String>,
    client: Client,
    sessions: SessionPolicy,
    resolved: OnceCell<Principal>,
}

impl Caller {
    pub fn new(token: Option<String>, client: Client, sessions: SessionPolicy) -> Self {
        Self {
            token,
            client,
            sessions,
            resolved: OnceCell::new(),
        }
    }

    pub async fn principal(&self, db: &Db) -> DomainResult<Principal> {
        let Some(token) = self.token.as_deref() else {
            return Ok(Principal::Anonymous);
        };
        if let Some(resolved) = self.resolved.get() {
            return Ok(*resolved);
        }
        // Boxed: resolving is a future of about 2.5 KB, which inline would size the
        // future of every field that checks its caller, and with it every object's
        // field futures (a customer's: 3 KB each, each moved as it is made), for
        // work done once per request.
        Box::pin(
            self.resolved
                .get_or_try_init(|| sessions::resolve(db, token, &self.sessions)),
        )
        .await
        .copied()
    }

    /// The principal as the session stands now, not as it was first resolved: for a
    /// subscription, which lives on after its request.
    pub async fn recheck(&self, db: &Db) -> DomainResult<Principal> {
        match self.token.as_deref() {
            Some(token) => sessions::resolve(db, token, &self.sessions).await,
            None => Ok(Principal::Anonymous),
        }
    }

    /// The principal, if a field asked for it.
    pub fn resolved(&self) -> Option<Principal> {
        self.resolved.get().copied()
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// The caller of one request, resolved from its bearer token before execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    Admin { admin_id: Uuid, session_id: Uuid },
    Customer { customer_id: Uuid, session_id: Uuid },
}

impl Principal {
    /// The error for something this caller may not have: UNAUTHENTICATED for an
    /// anonymous caller asking for what a login would give, FORBIDDEN otherwise.
    /// Every refusal goes through here, so each one is a security event in the log.
    pub fn refuse(&self, what: &'static str) -> DomainError {
        events::denied(self, what);
        DomainError::Forbidden
    }

    fn refuse_unauthenticated(&self, what: &'static str) -> DomainError {
        events::denied(self, what);
        DomainError::Unauthenticated
    }

    /// Admin-only operations: anonymous callers are UNAUTHENTICATED, customers FORBIDDEN.
    pub fn require_admin(&self) -> DomainResult<AdminCaller> {
        match *self {
            Self::Admin {
                admin_id,
                session_id,
            } => Ok(AdminCaller {
                admin_id,
                session_id,
            }),
            Self::Customer { .. } => Err(self.refuse("admin operation")),
            Self::Anonymous => Err(self.refuse_unauthenticated("admin operation")),
        }
    }

    /// Storefront operations on the caller's own account: anonymous callers are
    /// UNAUTHENTICATED, admins FORBIDDEN (they act on customers through admin
    /// operations, never as one).
    pub fn require_customer(&self) -> DomainResult<CustomerCaller> {
        match *self {
            Self::Customer {
                customer_id,
                session_id,
            } => Ok(CustomerCaller {
                customer_id,
                session_id,
            }),
            Self::Admin { .. } => Err(self.refuse("customer operation")),
            Self::Anonymous => Err(self.refuse_unauthenticated("customer operation")),
        }
    }
}

/// A logged-in customer, as proven by `require_customer`.
#[derive(Debug, Clone, Copy)]
pub struct CustomerCaller {
    pub customer_id: Uuid,
    pub session_id: Uuid,
}

/// A logged-in admin, as proven by `require_admin`.
#[derive(Debug, Clone, Copy)]
pub struct AdminCaller {
    pub admin_id: Uuid,
    pub session_id: Uuid,
}
