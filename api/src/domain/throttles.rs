//! Throttles: how often one subject may try one thing, counted in the database so that
//! every server instance on it shares the count.
//!
//! A throttle row holds the attempts of one [`Scope`] for one subject within a fixed
//! window. An attempt is *taken* before the work it guards (before the password is
//! checked, say), so a burst of concurrent attempts cannot all pass a check that each
//! of them would fail afterwards. Taking is a compare-and-set on the row (the update
//! names the count it read), which holds across instances on PostgreSQL and SQLite
//! alike; a writer that loses the race reads again.
//!
//! Limits without a delay take the common path in one atomic statement (see
//! [`count_in_current_window`]), so a burst from one address all counts.
//!
//! Failed logins per account also grow a delay: the first few attempts of a window
//! are free, then each must wait twice as long as the one before, until the limit
//! locks the subject until its window ends. A successful login [`forgive`]s the
//! account's count. The subject is the email as typed (normalised), whether or not an
//! account has it, so a lock says nothing about who has an account.

use chrono::{DateTime, TimeDelta, Utc};
use entity::throttle;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::auth::{events, tokens};
use crate::db;
use crate::error::{DomainError, DomainResult};

/// What is being counted. The name is part of the row's key and of the security event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Login attempts for one customer email.
    CustomerLogin,
    /// Login attempts for one admin email.
    AdminLogin,
    /// Failed logins (customer and admin) from one client address.
    LoginFromAddress,
    /// Registrations from one client address.
    RegistrationFromAddress,
    /// Guest orders from one client address.
    GuestOrderFromAddress,
    /// Password-reset mails to one address.
    PasswordResetMail,
    /// Email-change confirmations to one address.
    EmailChangeMail,
    /// Order-claim tokens to one address.
    OrderClaimMail,
    /// Email-verification mails (after the one at registration) to one address.
    VerificationMail,
    /// Account-deletion confirmations to one address.
    AccountDeletionMail,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Self::CustomerLogin => "customer_login",
            Self::AdminLogin => "admin_login",
            Self::LoginFromAddress => "login_from_address",
            Self::RegistrationFromAddress => "registration_from_address",
            Self::GuestOrderFromAddress => "guest_order_from_address",
            Self::PasswordResetMail => "password_reset_mail",
            Self::EmailChangeMail => "email_change_mail",
            Self::OrderClaimMail => "order_claim_mail",
            Self::VerificationMail => "verification_mail",
            Self::AccountDeletionMail => "account_deletion_mail",
        }
    }
}

/// One throttle's rule: at most `max` attempts per `window`; with `free_attempts`
/// set, the attempts after that many wait 1, 2, 4, ... seconds (at most a minute)
/// after the one before.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub scope: Scope,
    pub max: u32,
    pub window: TimeDelta,
    pub free_attempts: Option<u32>,
}

impl Limit {
    /// The wait after the `hits`-th attempt of a window.
    fn delay_after(&self, hits: u32) -> TimeDelta {
        match self.free_attempts {
            Some(free) if hits >= free => {
                let doublings = (hits - free).min(6);
                TimeDelta::seconds(1 << doublings)
            }
            _ => TimeDelta::zero(),
        }
    }

    /// When the attempt after the `hits`-th may come. Stored times are whole seconds,
    /// truncated, so a delay is stored one second longer: the real wait is then at
    /// least the delay, never a fraction of it.
    fn next_allowed(&self, now: DateTime<Utc>, hits: u32) -> DateTime<Utc> {
        let delay = self.delay_after(hits);
        if delay.is_zero() {
            now
        } else {
            now + delay + TimeDelta::seconds(1)
        }
    }
}

/// Every throttle of the server, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub customer_login: Limit,
    pub admin_login: Limit,
    pub login_from_address: Limit,
    pub registration_from_address: Limit,
    pub guest_order_from_address: Limit,
    pub password_reset_mail: Limit,
    pub email_change_mail: Limit,
    pub order_claim_mail: Limit,
    pub verification_mail: Limit,
    pub account_deletion_mail: Limit,
}

fn key(scope: Scope, subject: &str) -> String {
    tokens::hash(&format!("{}\0{subject}", scope.name()))
}

fn refused(scope: Scope, now: DateTime<Utc>, until: DateTime<Utc>) -> DomainError {
    // Whole seconds, rounded up, and never 0: "retry in 0 seconds" invites a spin.
    let retry_after_secs = u64::try_from((until - now).num_seconds())
        .unwrap_or(0)
        .max(1);
    events::throttled(scope.name(), retry_after_secs);
    DomainError::RateLimited { retry_after_secs }
}

/// How many times a writer that lost the compare-and-set reads again before the
/// attempt is refused as if throttled (for a second).
const RACE_RETRIES: usize = 4;

/// Takes one attempt of `limit` for `subject`, or refuses with RATE_LIMITED.
pub async fn take(db: &impl ConnectionTrait, limit: &Limit, subject: &str) -> DomainResult<()> {
    let key = key(limit.scope, subject);
    for _ in 0..RACE_RETRIES {
        let now = db::now();
        if limit.free_attempts.is_none() && count_in_current_window(db, limit, &key, now).await? {
            return Ok(());
        }
        let Some(row) = throttle::Entity::find_by_id(key.clone()).one(db).await? else {
            let inserted = throttle::Entity::insert(throttle::ActiveModel {
                key_hash: Set(key.clone()),
                window_started_at: Set(now),
                hits: Set(1),
                next_allowed_at: Set(limit.next_allowed(now, 1)),
            })
            .on_conflict(
                OnConflict::column(throttle::Column::KeyHash)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
            if inserted == 1 {
                return Ok(());
            }
            continue;
        };
        let window_ends = row.window_started_at + limit.window;
        let (window_started_at, hits) = if now >= window_ends {
            (now, 1)
        } else {
            let hits = u32::try_from(row.hits).unwrap_or(0);
            if hits >= limit.max {
                return Err(refused(limit.scope, now, window_ends));
            }
            if now < row.next_allowed_at {
                return Err(refused(limit.scope, now, row.next_allowed_at));
            }
            (row.window_started_at, hits + 1)
        };
        let updated = throttle::Entity::update_many()
            .set(throttle::ActiveModel {
                window_started_at: Set(window_started_at),
                hits: Set(i32::try_from(hits).unwrap_or(i32::MAX)),
                next_allowed_at: Set(limit.next_allowed(now, hits)),
                ..Default::default()
            })
            .filter(throttle::Column::KeyHash.eq(key.as_str()))
            .filter(throttle::Column::Hits.eq(row.hits))
            .filter(throttle::Column::WindowStartedAt.eq(row.window_started_at))
            .exec(db)
            .await?;
        if updated.rows_affected == 1 {
            return Ok(());
        }
    }
    Err(refused(
        limit.scope,
        db::now(),
        db::now() + TimeDelta::seconds(1),
    ))
}

/// The usual case in one statement, atomic on both backends (a row lock on
/// PostgreSQL, the write lock on SQLite): counts the attempt if the row's window is
/// still running and not full. Concurrent attempts from one address (a burst of
/// guest orders from one office) then all count instead of racing a compare-and-set.
/// `false` sends the caller to the slow path: no row yet, a window that ended, a
/// full one.
async fn count_in_current_window(
    db: &impl ConnectionTrait,
    limit: &Limit,
    key: &str,
    now: DateTime<Utc>,
) -> DomainResult<bool> {
    use sea_orm::sea_query::ExprTrait;
    let counted = throttle::Entity::update_many()
        .col_expr(
            throttle::Column::Hits,
            sea_orm::sea_query::Expr::col(throttle::Column::Hits).add(1i32),
        )
        .filter(throttle::Column::KeyHash.eq(key))
        .filter(throttle::Column::WindowStartedAt.gt(now - limit.window))
        .filter(throttle::Column::Hits.lt(i32::try_from(limit.max).unwrap_or(i32::MAX)))
        .exec(db)
        .await?;
    Ok(counted.rows_affected == 1)
}

/// Like [`take`], for work the caller must not learn was skipped (mail): `false`
/// when the limit is reached, and the caller then quietly does nothing.
pub async fn allows(db: &impl ConnectionTrait, limit: &Limit, subject: &str) -> DomainResult<bool> {
    match take(db, limit, subject).await {
        Ok(()) => Ok(true),
        Err(DomainError::RateLimited { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Forgets the attempts of `limit` for `subject`: a successful login clears the
/// account's failures and their delay.
pub async fn forgive(db: &impl ConnectionTrait, limit: &Limit, subject: &str) -> DomainResult<()> {
    throttle::Entity::delete_by_id(key(limit.scope, subject))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives back one attempt: a login from an address counts only if it failed.
pub async fn refund(db: &impl ConnectionTrait, limit: &Limit, subject: &str) -> DomainResult<()> {
    use sea_orm::sea_query::ExprTrait;
    throttle::Entity::update_many()
        .col_expr(
            throttle::Column::Hits,
            sea_orm::sea_query::Expr::col(throttle::Column::Hits).sub(1i32),
        )
        .filter(throttle::Column::KeyHash.eq(key(limit.scope, subject)))
        .filter(throttle::Column::Hits.gt(0))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_wait_twice_as_long_each_time_after_the_free_ones() {
        let limit = Limit {
            scope: Scope::CustomerLogin,
            max: 10,
            window: TimeDelta::minutes(15),
            free_attempts: Some(3),
        };
        let waits: Vec<i64> = (1..=12)
            .map(|hits| limit.delay_after(hits).num_seconds())
            .collect();
        assert_eq!(waits, [0, 0, 1, 2, 4, 8, 16, 32, 64, 64, 64, 64]);
        let hourly = Limit {
            free_attempts: None,
            ..limit
        };
        assert!((1..=100).all(|hits| hourly.delay_after(hits).is_zero()));
    }
}
