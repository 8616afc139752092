//! Removes rows that can never be used again, so the session and token tables do not
//! grow without bound: expired sessions, and password-reset or email-change tokens
//! that expired. Spent tokens are kept until they expire, so a reused link still gets
//! "used" rather than "invalid". Claim tokens stay: transfers point at them.
//! Throttle rows go a day after their window started (the longest window is an
//! hour, so none of them still counts).

use chrono::TimeDelta;
use entity::{customer_token, session, throttle};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::db;
use crate::error::DomainResult;

/// How long after expiry a token row is kept (so "expired" can still be said).
const TOKEN_GRACE: TimeDelta = TimeDelta::days(1);

/// What one sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub sessions: u64,
    pub tokens: u64,
    pub throttles: u64,
}

pub async fn sweep(db: &impl ConnectionTrait) -> DomainResult<Swept> {
    let now = db::now();
    let sessions = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected;
    let tokens = customer_token::Entity::delete_many()
        .filter(customer_token::Column::ExpiresAt.lte(now - TOKEN_GRACE))
        .exec(db)
        .await?
        .rows_affected;
    let throttles = throttle::Entity::delete_many()
        .filter(throttle::Column::WindowStartedAt.lt(now - TimeDelta::days(1)))
        .exec(db)
        .await?
        .rows_affected;
    Ok(Swept {
        sessions,
        tokens,
        throttles,
    })
}
