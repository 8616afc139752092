//! Removes rows that can never be used again, so the session and token tables do not
//! grow without bound: expired sessions, and password-reset or email-change tokens
//! that expired. Spent tokens are kept until they expire, so a reused link still gets
//! "used" rather than "invalid". Claim tokens stay: transfers point at them.
//! Throttle rows go a day after their window started (the longest window is an
//! hour, so none of them still counts).
//!
//! Events go a day after they were fanned out to the webhook endpoints (their
//! deliveries are outbox messages of their own).
//!
//! It also applies the store's retention rule, when one is set: guests whose last
//! order is older than the period are erased ([`super::privacy`]).

use chrono::TimeDelta;
use entity::{customer_token, event, session, throttle};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::db;
use crate::db::Db;
use crate::error::DomainResult;

/// How long after expiry a token row is kept (so "expired" can still be said).
const TOKEN_GRACE: TimeDelta = TimeDelta::days(1);

/// What one sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub sessions: u64,
    pub tokens: u64,
    pub throttles: u64,
    pub events: u64,
    /// Guests erased by the retention rule.
    pub guests_erased: u64,
}

/// Guests erased per transaction batch; a sweep runs batches until none is left.
const ERASURE_BATCH: u64 = 100;

/// The store's retention rules; none is set by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Guests whose last order (or record, without orders) is older than this many
    /// months (of 30 days) are erased.
    pub guest_months: Option<u32>,
}

pub async fn sweep(db: &Db, retention: Retention) -> DomainResult<Swept> {
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
    let events = event::Entity::delete_many()
        .filter(event::Column::DispatchedAt.lt(now - TimeDelta::days(1)))
        .exec(db)
        .await?
        .rows_affected;
    let mut guests_erased = 0;
    if let Some(months) = retention.guest_months {
        loop {
            let erased = super::privacy::erase_expired_guests(db, months, ERASURE_BATCH).await?;
            guests_erased += erased;
            if erased < ERASURE_BATCH {
                break;
            }
        }
    }
    Ok(Swept {
        sessions,
        tokens,
        throttles,
        events,
        guests_erased,
    })
}
