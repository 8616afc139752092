//! Bearer-token sessions for admins and customers.
//!
//! Tokens come from [`tokens`]; only their hash is stored. A session ends at its
//! absolute expiry (set when it opens, by the holder's kind), after the idle timeout
//! without a request, at logout, or when its customer is soft-deleted (resolving it
//! reads the customer in the same statement). Admins get the shorter lifetimes: their
//! session reaches every customer's data.
//!
//! `last_used_at` is written at most once a minute per session: the idle timeout
//! needs minutes, not a write on every request.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use entity::rows;
use entity::{customer, session};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QueryTrait, Statement,
};
use uuid::Uuid;

use super::{Principal, tokens};
use crate::db;
use crate::error::DomainResult;

/// Longest `User-Agent` kept with a session, in characters.
const MAX_USER_AGENT_CHARS: usize = 256;

/// How stale `last_used_at` may get before a request writes it again.
const ACTIVITY_GRANULARITY: TimeDelta = TimeDelta::minutes(1);

/// Most sessions listed for one customer, newest first.
pub const MAX_SESSIONS_LISTED: usize = 50;

/// How long one kind of session lasts.
#[derive(Debug, Clone, Copy)]
pub struct Lifetime {
    /// From opening to the end, however active.
    pub absolute: TimeDelta,
    /// Without a request for this long, it ends.
    pub idle: TimeDelta,
}

/// The session lifetimes of both kinds of holder.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub customer: Lifetime,
    pub admin: Lifetime,
}

impl SessionPolicy {
    fn of(&self, holder: Holder) -> Lifetime {
        match holder {
            Holder::Admin(_) => self.admin,
            Holder::Customer(_) => self.customer,
        }
    }
}

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

/// Opens a session for `holder`; `user_agent` is kept so the customer can tell their
/// sessions apart.
pub async fn issue(
    db: &impl ConnectionTrait,
    holder: Holder,
    policy: &SessionPolicy,
    user_agent: Option<&str>,
) -> DomainResult<IssuedSession> {
    let token = tokens::generate(tokens::SESSION)?;
    let now = db::now();
    let expires_at = now + policy.of(holder).absolute;
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
        last_used_at: Set(now),
        user_agent: Set(user_agent.map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect())),
    }
    .insert(db)
    .await?;
    Ok(IssuedSession { token, expires_at })
}

/// The session lookup, with its customer, by token hash: the same SQL for every
/// request but for the hash.
static LOOKUP: db::Prebuilt = db::Prebuilt::new(lookup);

/// The lookup with an empty hash, whose one bound value the request's hash replaces.
fn lookup(backend: DbBackend) -> Statement {
    session::Entity::find()
        .find_also_related(customer::Entity)
        .filter(session::Column::TokenHash.eq(""))
        .build(backend)
}

/// Resolves a bearer token to its principal. Unknown, malformed, expired and idle
/// tokens, and sessions of customers who were deleted or are no longer account
/// holders, all yield `Anonymous`: operations that need a login then fail
/// UNAUTHENTICATED.
pub async fn resolve(
    db: &impl ConnectionTrait,
    token: &str,
    policy: &SessionPolicy,
) -> DomainResult<Principal> {
    if !token.starts_with(tokens::SESSION) {
        return Ok(Principal::Anonymous);
    }
    let lookup = LOOKUP.bind(db.get_database_backend(), [tokens::hash(token).into()]);
    // The token hash is unique: one row at most.
    let found = rows::read::<(session::Model, Option<customer::Model>)>(db, lookup)
        .await?
        .pop();
    let now = Utc::now();
    let Some((found, customer)) = found else {
        return Ok(Principal::Anonymous);
    };
    let principal = match (found.admin_user_id, customer) {
        (Some(admin_id), _) => Principal::Admin {
            admin_id,
            session_id: found.id,
        },
        // Disabling or deleting a customer removes their sessions; checking here too
        // closes the race with a login that was already past its checks.
        (None, Some(customer))
            if customer.deleted_at.is_none()
                && customer.disabled_at.is_none()
                && customer.has_account =>
        {
            Principal::Customer {
                customer_id: customer.id,
                session_id: found.id,
            }
        }
        _ => return Ok(Principal::Anonymous),
    };
    let idle = match principal {
        Principal::Admin { .. } => policy.admin.idle,
        _ => policy.customer.idle,
    };
    if found.expires_at <= now || found.last_used_at + idle <= now {
        return Ok(Principal::Anonymous);
    }
    if found.last_used_at + ACTIVITY_GRANULARITY <= now {
        // Conditional, so concurrent requests of one session write it once.
        session::Entity::update_many()
            .col_expr(
                session::Column::LastUsedAt,
                sea_orm::sea_query::Expr::val(db::now()),
            )
            .filter(session::Column::Id.eq(found.id))
            .filter(session::Column::LastUsedAt.eq(found.last_used_at))
            .exec(db)
            .await?;
    }
    Ok(principal)
}

/// The live sessions of each customer, newest first (at most
/// [`MAX_SESSIONS_LISTED`] each). Idle ones are left out: they no longer work.
pub async fn of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[Uuid],
    policy: &SessionPolicy,
) -> DomainResult<HashMap<Uuid, Vec<session::Model>>> {
    let now = db::now();
    let rows = session::Entity::find()
        .filter(session::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .filter(session::Column::ExpiresAt.gt(now))
        .filter(session::Column::LastUsedAt.gt(now - policy.customer.idle))
        .order_by_desc(session::Column::CreatedAt)
        .order_by_desc(session::Column::Id)
        .all(db)
        .await?;
    let mut by_customer: HashMap<Uuid, Vec<session::Model>> = HashMap::new();
    for row in rows {
        let Some(customer_id) = row.customer_id else {
            continue;
        };
        let list = by_customer.entry(customer_id).or_default();
        if list.len() < MAX_SESSIONS_LISTED {
            list.push(row);
        }
    }
    Ok(by_customer)
}

/// Ends one session (logout). The token stops working at once.
pub async fn revoke(db: &impl ConnectionTrait, session_id: Uuid) -> DomainResult<()> {
    session::Entity::delete_by_id(session_id).exec(db).await?;
    Ok(())
}

/// Ends one session of a customer; `false` if the customer has no such session.
pub async fn revoke_of_customer(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    session_id: Uuid,
) -> DomainResult<bool> {
    let deleted = session::Entity::delete_many()
        .filter(session::Column::Id.eq(session_id))
        .filter(session::Column::CustomerId.eq(customer_id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected == 1)
}

/// Ends every session of a customer but `keep` (the one changing the password, say);
/// returns how many ended.
pub async fn revoke_customer_sessions(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    keep: Option<Uuid>,
) -> DomainResult<u64> {
    let mut delete =
        session::Entity::delete_many().filter(session::Column::CustomerId.eq(customer_id));
    if let Some(keep) = keep {
        delete = delete.filter(session::Column::Id.ne(keep));
    }
    Ok(delete.exec(db).await?.rows_affected)
}

#[cfg(test)]
mod tests {
    use sea_orm::DbBackend;

    #[test]
    fn the_session_lookup_binds_the_token_hash_and_nothing_else() {
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let values = super::lookup(backend).values.map(|v| v.0);
            assert_eq!(values.map(|v| v.len()), Some(1), "{backend:?}");
        }
    }
}
