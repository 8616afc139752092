//! Bearer-token sessions for admins (and, next to them, customers).
//!
//! A token is 32 bytes from the OS CSPRNG, base64url-encoded behind a `clt_` prefix
//! (so secret scanners can spot leaked ones). Only its SHA-256 is stored: the token
//! has 256 bits of entropy, so a fast hash is enough, and a copy of the table cannot
//! be replayed. A session expires after the configured TTL; logout deletes it.

use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use entity::session;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Principal;
use crate::db;
use crate::error::{DomainError, DomainResult};

const TOKEN_PREFIX: &str = "clt_";

/// A freshly issued token. The plain token exists only here, on its way to the client.
pub struct IssuedSession {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn new_token() -> DomainResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(DomainError::internal)?;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    Ok(format!("{TOKEN_PREFIX}{encoded}"))
}

/// Creates a session for an admin user, valid for `ttl`.
pub async fn issue_admin(
    db: &impl ConnectionTrait,
    admin_id: Uuid,
    ttl: TimeDelta,
) -> DomainResult<IssuedSession> {
    let token = new_token()?;
    let now = db::now();
    let expires_at = now + ttl;
    session::ActiveModel {
        id: Set(Uuid::now_v7()),
        token_hash: Set(token_hash(&token)),
        admin_user_id: Set(Some(admin_id)),
        customer_id: Set(None),
        created_at: Set(now),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    Ok(IssuedSession { token, expires_at })
}

/// Resolves a bearer token to its principal. Unknown, malformed and expired tokens
/// all yield `Anonymous`: operations that need a login then fail UNAUTHENTICATED.
pub async fn resolve(db: &impl ConnectionTrait, token: &str) -> DomainResult<Principal> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(Principal::Anonymous);
    }
    let found = session::Entity::find()
        .filter(session::Column::TokenHash.eq(token_hash(token)))
        .one(db)
        .await?;
    let Some(found) = found.filter(|s| s.expires_at > Utc::now()) else {
        return Ok(Principal::Anonymous);
    };
    Ok(match (found.admin_user_id, found.customer_id) {
        (Some(admin_id), _) => Principal::Admin {
            admin_id,
            session_id: found.id,
        },
        (None, Some(customer_id)) => Principal::Customer {
            customer_id,
            session_id: found.id,
        },
        (None, None) => Principal::Anonymous,
    })
}

/// Ends one session (logout). The token stops working at once.
pub async fn revoke(db: &impl ConnectionTrait, session_id: Uuid) -> DomainResult<()> {
    session::Entity::delete_by_id(session_id).exec(db).await?;
    Ok(())
}
