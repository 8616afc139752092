//! Who is calling: passwords, session tokens, and the per-request principal.

pub mod passwords;
pub mod sessions;
pub mod tokens;

use sea_orm::DatabaseConnection;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::error::{DomainError, DomainResult};

/// The caller of one request as its bearer token says, resolved to a [`Principal`]
/// on first use and then remembered for the rest of the request.
#[derive(Debug, Default)]
pub struct Caller {
    token: Option<String>,
    resolved: OnceCell<Principal>,
}

impl Caller {
    pub fn new(token: Option<String>) -> Self {
        Self {
            token,
            resolved: OnceCell::new(),
        }
    }

    pub async fn principal(&self, db: &DatabaseConnection) -> DomainResult<Principal> {
        let Some(token) = self.token.as_deref() else {
            return Ok(Principal::Anonymous);
        };
        self.resolved
            .get_or_try_init(|| sessions::resolve(db, token))
            .await
            .copied()
    }

    /// The principal, if a field asked for it.
    pub fn resolved(&self) -> Option<Principal> {
        self.resolved.get().copied()
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
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
            Self::Customer { .. } => Err(DomainError::Forbidden),
            Self::Anonymous => Err(DomainError::Unauthenticated),
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
            Self::Admin { .. } => Err(DomainError::Forbidden),
            Self::Anonymous => Err(DomainError::Unauthenticated),
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
