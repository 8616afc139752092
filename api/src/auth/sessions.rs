//! Bearer-token sessions for admins and customers.
//!
//! Tokens come from [`tokens`]; only their hash is stored. A session expires after
//! the configured TTL; logout deletes it. A customer session also stops working the
//! moment its customer is soft-deleted: resolving it reads the customer in the same
//! statement.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{customer, session};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use super::{Principal, tokens};
use crate::db;
use crate::error::DomainResult;

/// A freshly issued token. The plain token exists only here, on its way to the client.
pub struct IssuedSession {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Whose session it is.
#[derive(Debug, Clone, Copy)]
pub enum Holder {
    Admin(Uuid),
    Customer(Uuid),
}

/// Opens a session for `holder`, valid for `ttl`.
pub async fn issue(
    db: &impl ConnectionTrait,
    holder: Holder,
    ttl: TimeDelta,
) -> DomainResult<IssuedSession> {
    let token = tokens::generate(tokens::SESSION)?;
    let now = db::now();
    let expires_at = now + ttl;
    let (admin_user_id, customer_id) = match holder {
        Holder::Admin(id) => (Some(id), None),
        Holder::Customer(id) => (None, Some(id)),
    };
    session::ActiveModel {
        id: Set(Uuid::now_v7()),
        token_hash: Set(tokens::hash(&token)),
        admin_user_id: Set(admin_user_id),
        customer_id: Set(customer_id),
        created_at: Set(now),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    Ok(IssuedSession { token, expires_at })
}

/// Resolves a bearer token to its principal. Unknown, malformed and expired tokens,
/// and sessions of customers who were deleted or are no longer account holders, all
/// yield `Anonymous`: operations that need a login then fail UNAUTHENTICATED.
pub async fn resolve(db: &impl ConnectionTrait, token: &str) -> DomainResult<Principal> {
    if !token.starts_with(tokens::SESSION) {
        return Ok(Principal::Anonymous);
    }
    let found = session::Entity::find()
        .find_also_related(customer::Entity)
        .filter(session::Column::TokenHash.eq(tokens::hash(token)))
        .one(db)
        .await?;
    let Some((found, customer)) = found.filter(|(s, _)| s.expires_at > Utc::now()) else {
        return Ok(Principal::Anonymous);
    };
    Ok(match (found.admin_user_id, customer) {
        (Some(admin_id), _) => Principal::Admin {
            admin_id,
            session_id: found.id,
        },
        (None, Some(customer)) if customer.deleted_at.is_none() && customer.has_account => {
            Principal::Customer {
                customer_id: customer.id,
                session_id: found.id,
            }
        }
        _ => Principal::Anonymous,
    })
}

/// Ends one session (logout). The token stops working at once.
pub async fn revoke(db: &impl ConnectionTrait, session_id: Uuid) -> DomainResult<()> {
    session::Entity::delete_by_id(session_id).exec(db).await?;
    Ok(())
}

/// Ends every session of a customer but `keep` (the one changing the password, say).
pub async fn revoke_customer_sessions(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    keep: Option<Uuid>,
) -> DomainResult<()> {
    let mut delete =
        session::Entity::delete_many().filter(session::Column::CustomerId.eq(customer_id));
    if let Some(keep) = keep {
        delete = delete.filter(session::Column::Id.ne(keep));
    }
    delete.exec(db).await?;
    Ok(())
}
