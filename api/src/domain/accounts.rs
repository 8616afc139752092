//! Customer accounts: registration, login, the profile, passwords and the login email.
//!
//! The email rule (one live guest, one live registered customer) is kept by the database: the partial unique index on
//! `(email, has_account)` among live customers admits one guest and one registered
//! customer per email, so registering next to a guest creates a second record, and of
//! two concurrent registrations of one email exactly one commits. Admin users live in
//! another table and never block a registration; soft-deleted customers do not count.

use chrono::TimeDelta;
use entity::customer_token::{self, TokenPurpose};
use entity::{customer, customer_credential};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, ActionKind};
use super::customers::{ProfileChange, live_with_email};
use super::email::Email;
use super::events::{DomainEvent, EventType};
use super::fields::{self, MAX_PHONE_CHARS, MAX_TEXT_CHARS};
use super::outbox::{self, Kind, SECRET_KEY};
use super::throttles::{self, Limit, Limits};
use crate::auth::passwords::{self, Passwords};
use crate::auth::sessions::{self, Holder, IssuedSession, SessionPolicy};
use crate::auth::{Client, Principal, events, tokens};
use crate::db::Db;
use crate::db::{self, OnUnique, UniqueKey};
use crate::error::{DomainError, DomainResult, TokenProblem};

/// How long the tokens sent by mail stay valid.
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetimes {
    pub password_reset: TimeDelta,
    pub email_change: TimeDelta,
    pub order_claim: TimeDelta,
    pub email_verification: TimeDelta,
    pub account_deletion: TimeDelta,
}

/// The account rules the settings choose.
#[derive(Debug, Clone, Copy)]
pub struct AccountPolicy {
    pub tokens: TokenLifetimes,
    pub sessions: SessionPolicy,
    pub limits: Limits,
    /// Shortest customer password, in characters (8 by default: NIST SP 800-63B's
    /// minimum where a common-password list is checked).
    pub min_password_chars: usize,
    /// Unverified customers cannot log in or claim orders.
    pub require_email_verification: bool,
}

impl AccountPolicy {
    /// A new password, checked against the policy: its length, and not one of the
    /// most common passwords (which a guessing attack tries first).
    fn check_password(&self, password: &str, field: &str) -> DomainResult<()> {
        passwords::check_length(password, field, self.min_password_chars)?;
        if password.trim().is_empty() {
            return Err(DomainError::bad_input(field, "must not be only spaces"));
        }
        if passwords::is_common(password) {
            return Err(DomainError::bad_input(
                field,
                "is one of the most common passwords; choose another",
            ));
        }
        Ok(())
    }
}

/// The subject of an account's login throttle: the email as normalised, or as typed
/// (lower-cased) when it does not parse, so every spelling of one address shares one
/// count and an unknown email is counted exactly like a known one.
fn login_subject(email: &str) -> String {
    Email::parse(email, "email").map_or_else(
        |_| email.trim().to_lowercase(),
        |email| email.as_str().to_owned(),
    )
}

/// One login's throttles: taken before the password is checked ([`begin`]), settled
/// once the outcome is known ([`settle`]). Customer and admin logins differ only in
/// the account limit.
///
/// [`begin`]: LoginAttempt::begin
/// [`settle`]: LoginAttempt::settle
pub struct LoginAttempt<'a> {
    account: &'a Limit,
    from_address: &'a Limit,
    client: &'a Client,
    subject: String,
}

impl<'a> LoginAttempt<'a> {
    pub async fn begin(
        db: &impl ConnectionTrait,
        account: &'a Limit,
        from_address: &'a Limit,
        client: &'a Client,
        email: &str,
    ) -> DomainResult<Self> {
        let attempt = Self {
            account,
            from_address,
            client,
            subject: login_subject(email),
        };
        throttles::take(db, from_address, &client.address).await?;
        throttles::take(db, account, &attempt.subject).await?;
        Ok(attempt)
    }

    /// Success clears the account's failures and gives the address its attempt back
    /// (only failures count there); either outcome is a security event.
    pub async fn settle(
        self,
        db: &impl ConnectionTrait,
        outcome: events::Account,
        succeeded: bool,
    ) -> DomainResult<()> {
        if succeeded {
            throttles::forgive(db, self.account, &self.subject).await?;
            throttles::refund(db, self.from_address, &self.client.address).await?;
            events::login_succeeded(outcome);
        } else {
            events::login_failed(outcome);
        }
        Ok(())
    }
}

/// What `registerCustomer` takes.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: String,
    pub password: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
}

/// Creates a registered customer and logs them in.
pub async fn register(
    db: &Db,
    passwords: &Passwords,
    policy: &AccountPolicy,
    client: &Client,
    input: Registration,
) -> DomainResult<(customer::Model, IssuedSession)> {
    let email = Email::parse(&input.email, "email")?;
    policy.check_password(&input.password, "password")?;
    let first_name = fields::optional_text(input.first_name, "firstName", MAX_TEXT_CHARS)?;
    let last_name = fields::optional_text(input.last_name, "lastName", MAX_TEXT_CHARS)?;
    let phone = fields::optional_text(input.phone, "phone", MAX_PHONE_CHARS)?;
    // Counted before the hash, which is the expensive part.
    throttles::take(
        db,
        &policy.limits.registration_from_address,
        &client.address,
    )
    .await?;
    let password_hash = passwords.hash(&input.password).await?;

    let now = db::now();
    let txn = db::begin_write(db).await?;
    let customer = customer::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.as_str().to_owned()),
        first_name: Set(first_name),
        last_name: Set(last_name),
        phone: Set(phone),
        has_account: Set(true),
        billing_address_id: Set(None),
        default_shipping_address_id: Set(None),
        disabled_at: Set(None),
        erased_at: Set(None),
        email_verified_at: Set(None),
        order_count: Set(0),
        last_order_at: Set(None),
        external_id: Set(None),
        metadata: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
    }
    .insert(&txn)
    .await
    .on_unique(UniqueKey::CustomerLiveEmail, DomainError::EmailTaken)?;
    set_password_hash(&txn, customer.id, password_hash).await?;
    send_verification(&txn, policy, &customer, &email).await?;
    audit::customer_did(&txn, customer.id, ActionKind::Registered, None).await?;
    DomainEvent::customer(EventType::CustomerCreated, customer.id)
        .publish(&txn)
        .await?;
    let session = sessions::issue(
        &txn,
        Holder::Customer(customer.id),
        &policy.sessions,
        client.user_agent.as_deref(),
    )
    .await?;
    txn.commit().await?;
    Ok((customer, session))
}

/// Mails a verification link for `email`, the customer's login email; the token
/// remembers the address, so a link for an address the customer has since left
/// verifies nothing.
async fn send_verification(
    db: &impl ConnectionTrait,
    policy: &AccountPolicy,
    customer: &customer::Model,
    email: &Email,
) -> DomainResult<()> {
    let (token, expires_at) = issue_token(
        db,
        customer.id,
        TokenPurpose::EmailVerification,
        Some(email),
        policy.tokens.email_verification,
    )
    .await?;
    outbox::enqueue(
        db,
        email,
        Kind::VerifyEmail,
        json!({ SECRET_KEY: token, "expiresAt": expires_at }),
    )
    .await?;
    Ok(())
}

/// Marks the customer's email verified with a token from a verification mail. A
/// customer whose email is already verified stays as they are (the token is spent
/// all the same). Needs no session: the link may be opened on another device.
pub async fn verify_email(db: &Db, token: &str) -> DomainResult<customer::Model> {
    let txn = db::begin_write(db).await?;
    let spent = spend_token(&txn, token, TokenPurpose::EmailVerification).await?;
    let customer = me(&txn, spent.customer_id)
        .await
        .map_err(|_| invalid_token())?;
    if spent.new_email.as_deref() != Some(customer.email.as_str()) {
        // Sent to an address the customer no longer logs in with.
        return Err(invalid_token());
    }
    let customer = if customer.email_verified_at.is_none() {
        let mut update: customer::ActiveModel = customer.into();
        update.email_verified_at = Set(Some(db::now()));
        let verified = update.update(&txn).await?;
        audit::customer_did(&txn, verified.id, ActionKind::EmailVerified, None).await?;
        DomainEvent::customer(EventType::CustomerUpdated, verified.id)
            .publish(&txn)
            .await?;
        verified
    } else {
        customer
    };
    txn.commit().await?;
    events::email_verified(customer.id);
    Ok(customer)
}

/// Sends a new verification link. Answers the same whatever the email is (unknown,
/// a guest's, already verified), so it reveals nothing; mails only to a registered,
/// unverified customer, within the per-recipient mail limit.
pub async fn resend_verification(db: &Db, policy: &AccountPolicy, email: &str) -> DomainResult<()> {
    let Ok(email) = Email::parse(email, "email") else {
        return Ok(());
    };
    let txn = db::begin_write(db).await?;
    let customer = live_with_email(&txn, email.as_str(), true).await?;
    let allowed = throttles::allows(&txn, &policy.limits.verification_mail, email.as_str()).await?;
    if let Some(customer) = customer.filter(|c| allowed && c.email_verified_at.is_none()) {
        send_verification(&txn, policy, &customer, &email).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// EMAIL_NOT_VERIFIED when the store requires verified emails and this customer's is
/// not: claiming orders proves ownership of an email, which an unverified account
/// has not done for its own.
pub async fn require_verified(
    db: &impl ConnectionTrait,
    policy: &AccountPolicy,
    customer_id: Uuid,
) -> DomainResult<()> {
    if !policy.require_email_verification {
        return Ok(());
    }
    let customer = me(db, customer_id).await?;
    if customer.email_verified_at.is_none() {
        return Err(DomainError::EmailNotVerified);
    }
    Ok(())
}

/// Checks the credentials and opens a session. Unknown emails, guests, deleted
/// customers and wrong passwords all fail the same way, in about the same time (an
/// unknown email still costs one hash verification), and are throttled the same way.
pub async fn login(
    db: &impl ConnectionTrait,
    passwords: &Passwords,
    policy: &AccountPolicy,
    client: &Client,
    email: &str,
    password: &str,
) -> DomainResult<(customer::Model, IssuedSession)> {
    let limits = &policy.limits;
    let attempt = LoginAttempt::begin(
        db,
        &limits.customer_login,
        &limits.login_from_address,
        client,
        email,
    )
    .await?;
    let customer = match Email::parse(email, "email") {
        Ok(email) => live_with_email(db, email.as_str(), true).await?,
        Err(_) => None,
    };
    let hash = match &customer {
        Some(customer) => password_hash_of(db, customer.id).await?,
        None => None,
    };
    let verified = match hash.as_deref() {
        Some(hash) => passwords.verify(password, hash).await?,
        None => passwords.verify_dummy(password).await?,
    };
    let account = customer.as_ref().map_or(events::Account::Unknown, |c| {
        events::Account::Customer(c.id)
    });
    attempt.settle(db, account, verified).await?;
    let customer = customer
        .filter(|_| verified)
        .ok_or(DomainError::InvalidCredentials)?;
    // After the password: without it, a disabled or unverified account looks like
    // any other.
    if customer.disabled_at.is_some() {
        return Err(DomainError::AccountDisabled);
    }
    if policy.require_email_verification && customer.email_verified_at.is_none() {
        return Err(DomainError::EmailNotVerified);
    }
    let session = sessions::issue(
        db,
        Holder::Customer(customer.id),
        &policy.sessions,
        client.user_agent.as_deref(),
    )
    .await?;
    Ok((customer, session))
}

/// The logged-in customer.
pub async fn me(db: &impl ConnectionTrait, customer_id: Uuid) -> DomainResult<customer::Model> {
    super::customers::get(db, customer_id, false).await
}

/// Changes the logged-in customer's details.
pub async fn update_profile(
    db: &Db,
    customer_id: Uuid,
    change: ProfileChange,
) -> DomainResult<customer::Model> {
    let fields = change.fields();
    let txn = db::begin_write(db).await?;
    let current = me(&txn, customer_id).await?;
    let updated = change.apply_to(current)?.update(&txn).await?;
    audit::customer_did(
        &txn,
        customer_id,
        ActionKind::ProfileChange,
        Some(json!({ "fields": fields })),
    )
    .await?;
    DomainEvent::customer(EventType::CustomerUpdated, customer_id)
        .publish(&txn)
        .await?;
    txn.commit().await?;
    Ok(updated)
}

/// The logged-in customer's own password, asked again before a sensitive change. It
/// shares the account's login throttle: a stolen session must not become a way to
/// guess the password without limit.
async fn require_password(
    db: &impl ConnectionTrait,
    passwords: &Passwords,
    policy: &AccountPolicy,
    customer: &customer::Model,
    password: &str,
) -> DomainResult<()> {
    let limit = &policy.limits.customer_login;
    throttles::take(db, limit, &customer.email).await?;
    let verified = match password_hash_of(db, customer.id).await? {
        Some(hash) => passwords.verify(password, &hash).await?,
        None => false,
    };
    if verified {
        throttles::forgive(db, limit, &customer.email).await?;
        Ok(())
    } else {
        events::login_failed(events::Account::Customer(customer.id));
        Err(DomainError::InvalidCredentials)
    }
}

/// Sets a new password after checking the current one, ends every other session of
/// the customer (a thief's included) and tells the customer's address, all in one
/// transaction.
pub async fn change_password(
    db: &Db,
    passwords: &Passwords,
    policy: &AccountPolicy,
    customer_id: Uuid,
    keep_session: Uuid,
    current_password: &str,
    new_password: &str,
) -> DomainResult<()> {
    policy.check_password(new_password, "newPassword")?;
    let customer = me(db, customer_id).await?;
    require_password(db, passwords, policy, &customer, current_password).await?;
    let hash = passwords.hash(new_password).await?;
    let txn = db::begin_write(db).await?;
    set_password_hash(&txn, customer_id, hash).await?;
    sessions::revoke_customer_sessions(&txn, customer_id, Some(keep_session)).await?;
    tell_password_changed(&txn, &customer).await?;
    audit::customer_did(&txn, customer_id, ActionKind::PasswordChange, None).await?;
    txn.commit().await?;
    events::password_changed(customer_id);
    Ok(())
}

/// The customer hears that their password changed (no secret in the message): if
/// they did not change it, they know to act.
async fn tell_password_changed(
    db: &impl ConnectionTrait,
    customer: &customer::Model,
) -> DomainResult<()> {
    let email = Email::parse(&customer.email, "email")?;
    outbox::enqueue(db, &email, Kind::PasswordChanged, json!({})).await?;
    Ok(())
}

/// The customer's password hash: the one read of it, for checking a password.
async fn password_hash_of(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
) -> DomainResult<Option<String>> {
    Ok(customer_credential::Entity::find_by_id(customer_id)
        .one(db)
        .await?
        .and_then(|credential| credential.password_hash))
}

async fn set_password_hash(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    hash: String,
) -> DomainResult<()> {
    // One statement over the shared table: the hash through the credential's column,
    // the change time through the customer's.
    let update = Query::update()
        .table(customer::Entity)
        .value(customer_credential::Column::PasswordHash, hash)
        .value(customer::Column::UpdatedAt, db::now())
        .and_where(Expr::col(customer::Column::Id).eq(customer_id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// Starts a password reset. Answers the same whether or not the email has an
/// account, so it cannot be used to find out; when it does, a single-use token goes
/// to that address through the outbox.
pub async fn request_password_reset(
    db: &Db,
    policy: &AccountPolicy,
    email: &str,
) -> DomainResult<()> {
    let Ok(email) = Email::parse(email, "email") else {
        return Ok(());
    };
    let lifetime = policy.tokens.password_reset;
    let txn = db::begin_write(db).await?;
    let customer = live_with_email(&txn, email.as_str(), true).await?;
    // Counted for every address asked about, so the count says nothing either.
    let allowed =
        throttles::allows(&txn, &policy.limits.password_reset_mail, email.as_str()).await?;
    if let Some(customer) = customer.filter(|_| allowed) {
        let (token, expires_at) = issue_token(
            &txn,
            customer.id,
            TokenPurpose::PasswordReset,
            None,
            lifetime,
        )
        .await?;
        outbox::enqueue(
            &txn,
            &email,
            Kind::PasswordReset,
            json!({ SECRET_KEY: token, "expiresAt": expires_at }),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Sets a new password with a reset token and ends every session of the customer.
pub async fn reset_password(
    db: &Db,
    passwords: &Passwords,
    policy: &AccountPolicy,
    token: &str,
    new_password: &str,
) -> DomainResult<()> {
    policy.check_password(new_password, "newPassword")?;
    let hash = passwords.hash(new_password).await?;
    let txn = db::begin_write(db).await?;
    let spent = spend_token(&txn, token, TokenPurpose::PasswordReset).await?;
    let customer = me(&txn, spent.customer_id)
        .await
        .map_err(|_| invalid_token())?;
    set_password_hash(&txn, spent.customer_id, hash).await?;
    sessions::revoke_customer_sessions(&txn, spent.customer_id, None).await?;
    tell_password_changed(&txn, &customer).await?;
    audit::customer_did(&txn, customer.id, ActionKind::PasswordReset, None).await?;
    txn.commit().await?;
    events::password_reset(spent.customer_id);
    Ok(())
}

/// Starts a change of login email: after checking the password, a single-use token
/// goes to the *new* address, proving it belongs to the customer before it is used.
/// Whether another account already uses the address is not said here (that would
/// reveal who has an account); confirming checks it.
pub async fn request_email_change(
    db: &Db,
    passwords: &Passwords,
    policy: &AccountPolicy,
    customer_id: Uuid,
    new_email: &str,
    password: &str,
) -> DomainResult<()> {
    let lifetime = policy.tokens.email_change;
    let new_email = Email::parse(new_email, "newEmail")?;
    let customer = me(db, customer_id).await?;
    require_password(db, passwords, policy, &customer, password).await?;
    if new_email.as_str() == customer.email {
        return Err(DomainError::bad_input(
            "newEmail",
            "is already your email address",
        ));
    }
    let txn = db::begin_write(db).await?;
    if !throttles::allows(&txn, &policy.limits.email_change_mail, new_email.as_str()).await? {
        // Answered as if sent: the limit protects the recipient's mailbox.
        return Ok(());
    }
    let (token, expires_at) = issue_token(
        &txn,
        customer_id,
        TokenPurpose::EmailChange,
        Some(&new_email),
        lifetime,
    )
    .await?;
    outbox::enqueue(
        &txn,
        &new_email,
        Kind::EmailChangeConfirmation,
        json!({ SECRET_KEY: token, "expiresAt": expires_at }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Switches the login email to the one the token was sent to, tells the old address,
/// and ends every session of the customer but `keep` (the caller's own, if it is
/// theirs): whoever knew the old login must log in again. EMAIL_TAKEN if a live
/// registered customer took that address meanwhile (the unique index decides); the
/// token then stays unspent, since the transaction rolls back.
pub async fn confirm_email_change(
    db: &Db,
    token: &str,
    keep: Option<Principal>,
) -> DomainResult<customer::Model> {
    let txn = db::begin_write(db).await?;
    let spent = spend_token(&txn, token, TokenPurpose::EmailChange).await?;
    let customer = me(&txn, spent.customer_id)
        .await
        .map_err(|_| invalid_token())?;
    let new_email = spent.new_email.ok_or_else(invalid_token)?;
    let old_email = Email::parse(&customer.email, "email")?;
    let mut update: customer::ActiveModel = customer.into();
    update.email = Set(new_email.clone());
    update.updated_at = Set(db::now());
    // The token reached the new address: that is what verifying it means.
    update.email_verified_at = Set(Some(db::now()));
    let customer = update
        .update(&txn)
        .await
        .on_unique(UniqueKey::CustomerLiveEmail, DomainError::EmailTaken)?;
    audit::customer_did(
        &txn,
        customer.id,
        ActionKind::EmailChange,
        Some(json!({ "from": old_email.as_str(), "to": new_email })),
    )
    .await?;
    DomainEvent::customer(EventType::CustomerUpdated, customer.id)
        .publish(&txn)
        .await?;
    // The old address hears about it: if someone else changed it, the owner learns
    // at once where their account went.
    outbox::enqueue(
        &txn,
        &old_email,
        Kind::EmailChanged,
        json!({ "newEmail": new_email }),
    )
    .await?;
    let keep = match keep {
        Some(Principal::Customer {
            customer_id,
            session_id,
        }) if customer_id == customer.id => Some(session_id),
        _ => None,
    };
    sessions::revoke_customer_sessions(&txn, customer.id, keep).await?;
    txn.commit().await?;
    events::email_changed(customer.id);
    Ok(customer)
}

/// Starts a self-service deletion: after checking the password, a single-use token
/// goes to the customer's email, so a stolen session alone cannot delete the account.
/// Within the per-recipient mail limit; past it, answered as if sent.
pub async fn request_account_deletion(
    db: &Db,
    passwords: &Passwords,
    policy: &AccountPolicy,
    customer_id: Uuid,
    password: &str,
) -> DomainResult<()> {
    let customer = me(db, customer_id).await?;
    require_password(db, passwords, policy, &customer, password).await?;
    let email = Email::parse(&customer.email, "email")?;
    let txn = db::begin_write(db).await?;
    if !throttles::allows(&txn, &policy.limits.account_deletion_mail, email.as_str()).await? {
        return Ok(());
    }
    let (token, expires_at) = issue_token(
        &txn,
        customer.id,
        TokenPurpose::AccountDeletion,
        None,
        policy.tokens.account_deletion,
    )
    .await?;
    outbox::enqueue(
        &txn,
        &email,
        Kind::AccountDeletionConfirmation,
        json!({ SECRET_KEY: token, "expiresAt": expires_at }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Deletes the account the token was mailed for, as an admin's `deleteCustomer` does
/// (a soft delete: sessions end, the email is free again, orders stay), and tells
/// the address. Needs no session: the link may be opened anywhere.
pub async fn confirm_account_deletion(db: &Db, token: &str) -> DomainResult<()> {
    let txn = db::begin_write(db).await?;
    let spent = spend_token(&txn, token, TokenPurpose::AccountDeletion).await?;
    let customer = me(&txn, spent.customer_id)
        .await
        .map_err(|_| invalid_token())?;
    super::customers::soft_delete(&txn, customer.id).await?;
    audit::customer_did(&txn, customer.id, ActionKind::SelfDelete, None).await?;
    DomainEvent::customer(EventType::CustomerDeleted, customer.id)
        .publish(&txn)
        .await?;
    outbox::enqueue(
        &txn,
        &Email::parse(&customer.email, "email")?,
        Kind::AccountDeleted,
        json!({}),
    )
    .await?;
    txn.commit().await?;
    events::account_deleted(customer.id);
    Ok(())
}

fn invalid_token() -> DomainError {
    DomainError::InvalidToken {
        reason: TokenProblem::Invalid,
    }
}

/// Creates a token for `purpose`, spending any earlier unused one of the same
/// purpose: only the latest link works.
async fn issue_token(
    db: &impl ConnectionTrait,
    customer_id: Uuid,
    purpose: TokenPurpose,
    new_email: Option<&Email>,
    lifetime: TimeDelta,
) -> DomainResult<(String, chrono::DateTime<chrono::Utc>)> {
    let now = db::now();
    customer_token::Entity::update_many()
        .col_expr(customer_token::Column::UsedAt, Expr::val(now))
        .filter(customer_token::Column::CustomerId.eq(customer_id))
        .filter(customer_token::Column::Purpose.eq(purpose))
        .filter(customer_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    let prefix = match purpose {
        TokenPurpose::PasswordReset => tokens::PASSWORD_RESET,
        TokenPurpose::EmailChange => tokens::EMAIL_CHANGE,
        TokenPurpose::EmailVerification => tokens::EMAIL_VERIFICATION,
        TokenPurpose::AccountDeletion => tokens::ACCOUNT_DELETION,
    };
    let token = tokens::generate(prefix)?;
    let expires_at = now + lifetime;
    customer_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        customer_id: Set(customer_id),
        purpose: Set(purpose),
        token_hash: Set(tokens::hash(&token)),
        new_email: Set(new_email.map(|e| e.as_str().to_owned())),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok((token, expires_at))
}

/// Marks a live token of `purpose` used and returns it. The conditional update is
/// what makes it single-use: of two concurrent uses, one updates a row and the other
/// finds it spent.
async fn spend_token(
    db: &impl ConnectionTrait,
    token: &str,
    purpose: TokenPurpose,
) -> DomainResult<customer_token::Model> {
    let now = db::now();
    let found = customer_token::Entity::find()
        .filter(customer_token::Column::TokenHash.eq(tokens::hash(token)))
        .filter(customer_token::Column::Purpose.eq(purpose))
        .one(db)
        .await?
        .ok_or_else(invalid_token)?;
    if found.used_at.is_some() {
        return Err(DomainError::InvalidToken {
            reason: TokenProblem::Used,
        });
    }
    if found.expires_at <= now {
        return Err(DomainError::InvalidToken {
            reason: TokenProblem::Expired,
        });
    }
    let spent = customer_token::Entity::update_many()
        .col_expr(customer_token::Column::UsedAt, Expr::val(now))
        .filter(customer_token::Column::Id.eq(found.id))
        .filter(customer_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    if spent.rows_affected != 1 {
        return Err(DomainError::InvalidToken {
            reason: TokenProblem::Used,
        });
    }
    Ok(found)
}
