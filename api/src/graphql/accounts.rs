//! The storefront's account operations: register, log in and out, the customer's own
//! profile, password and login email. Every operation on an account needs that
//! customer's session; admins are FORBIDDEN here (they manage customers through the
//! admin operations).

use async_graphql::{Context, ID, Json, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{ContextExt, change_of, parse_id};
use super::customers::Customer;
use crate::auth::{events, sessions};
use crate::domain::accounts::{self, Registration};
use crate::domain::customers::ProfileChange;
use crate::error::Doing;
use crate::error::DomainError;

/// A new customer session.
#[derive(SimpleObject)]
pub struct CustomerSession {
    /// Send as `Authorization: Bearer <token>`. Shown once; only its hash is stored.
    token: String,
    expires_at: DateTime<Utc>,
    customer: Customer,
}

impl CustomerSession {
    fn new(customer: entity::customer::Model, session: sessions::IssuedSession) -> Self {
        Self {
            token: session.token,
            expires_at: session.expires_at,
            customer: Customer(customer),
        }
    }
}

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The logged-in customer, with every relation.
    async fn me(&self, ctx: &Context<'_>) -> Result<Customer> {
        let caller = ctx.principal().await?.require_customer()?;
        Ok(Customer(accounts::me(ctx.db(), caller.customer_id).await?))
    }
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Creates a registered customer and logs them in. A guest with the same email is
    /// left alone (a second, registered record is created); a live registered
    /// customer with it gives EMAIL_TAKEN. Passwords are 8 to 128 characters.
    async fn register_customer(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        first_name: Option<String>,
        last_name: Option<String>,
        phone: Option<String>,
    ) -> Result<CustomerSession> {
        let registration = Registration {
            email,
            password,
            first_name,
            last_name,
            phone,
        };
        let client = ctx.client();
        let (customer, session) = accounts::register(
            ctx.db(),
            ctx.passwords(),
            ctx.policy(),
            &client,
            registration,
        )
        .await
        .doing("registering a customer")?;
        Ok(CustomerSession::new(customer, session))
    }

    /// Logs a registered customer in. Wrong email and wrong password both give
    /// INVALID_CREDENTIALS; guests cannot log in.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> Result<CustomerSession> {
        let client = ctx.client();
        let (customer, session) = accounts::login(
            ctx.db(),
            ctx.passwords(),
            ctx.policy(),
            &client,
            &email,
            &password,
        )
        .await
        .doing("logging a customer in")?;
        Ok(CustomerSession::new(customer, session))
    }

    /// Ends the current customer session; its token stops working at once.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let caller = ctx.principal().await?.require_customer()?;
        sessions::revoke(ctx.db(), caller.session_id).await?;
        Ok(true)
    }

    /// Ends one of the logged-in customer's sessions (one from `me.sessions`); its
    /// token stops working at once. NOT_FOUND if it is not one of theirs.
    async fn end_session(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let principal = ctx.principal().await?;
        let caller = principal.require_customer()?;
        let id = parse_id(&id, "id")?;
        if !sessions::revoke_of_customer(ctx.db(), caller.customer_id, id).await? {
            return Err(DomainError::NotFound("session").into());
        }
        events::sessions_revoked(&principal, caller.customer_id, 1);
        Ok(true)
    }

    /// Changes the logged-in customer's details. An omitted argument is left alone;
    /// `null` clears it.
    async fn update_me(
        &self,
        ctx: &Context<'_>,
        first_name: MaybeUndefined<String>,
        last_name: MaybeUndefined<String>,
        phone: MaybeUndefined<String>,
        metadata: MaybeUndefined<Json<serde_json::Value>>,
    ) -> Result<Customer> {
        let caller = ctx.principal().await?.require_customer()?;
        let change = ProfileChange {
            first_name: change_of(first_name),
            last_name: change_of(last_name),
            phone: change_of(phone),
            metadata: change_of(metadata.map_value(|Json(value)| value)),
        };
        let customer = accounts::update_profile(ctx.db(), caller.customer_id, change)
            .await
            .doing("updating a profile")?;
        Ok(Customer(customer))
    }

    /// Sets a new password after checking the current one (INVALID_CREDENTIALS if it
    /// is wrong). Every other session of the customer ends.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> Result<bool> {
        let caller = ctx.principal().await?.require_customer()?;
        accounts::change_password(
            ctx.db(),
            ctx.passwords(),
            ctx.policy(),
            caller.customer_id,
            caller.session_id,
            &current_password,
            &new_password,
        )
        .await?;
        Ok(true)
    }

    /// Sends a password-reset token to the email if a registered customer has it.
    /// Always answers `true`, so it cannot tell anyone which emails have accounts.
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        accounts::request_password_reset(ctx.db(), ctx.policy(), &email)
            .await
            .doing("requesting a password reset")?;
        Ok(true)
    }

    /// Sets a new password with a reset token (single-use, expiring). Every session of
    /// the customer ends; log in again with the new password.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> Result<bool> {
        accounts::reset_password(
            ctx.db(),
            ctx.passwords(),
            ctx.policy(),
            &token,
            &new_password,
        )
        .await
        .doing("resetting a password")?;
        Ok(true)
    }

    /// Sends a confirmation token to a new login email, after checking the password.
    async fn request_email_change(
        &self,
        ctx: &Context<'_>,
        new_email: String,
        password: String,
    ) -> Result<bool> {
        let caller = ctx.principal().await?.require_customer()?;
        accounts::request_email_change(
            ctx.db(),
            ctx.passwords(),
            ctx.policy(),
            caller.customer_id,
            &new_email,
            &password,
        )
        .await?;
        Ok(true)
    }

    /// Switches the login email to the address the token was sent to. The token is
    /// the proof, so no session is needed (the link may be opened on another device).
    /// EMAIL_TAKEN if a registered customer has taken the address meanwhile.
    ///
    /// Every other session of the customer ends: whoever knew the old login is
    /// logged out.
    async fn confirm_email_change(&self, ctx: &Context<'_>, token: String) -> Result<Customer> {
        // The caller's own session survives if it is the customer's; a token
        // without a valid session is no reason to refuse the confirmation.
        let keep = ctx.principal().await.ok();
        Ok(Customer(
            accounts::confirm_email_change(ctx.db(), &token, keep).await?,
        ))
    }

    /// Marks the email verified with the token from a verification mail (sent at
    /// registration and by `resendVerification`; single-use, expiring). No session is
    /// needed. A token sent to an address the customer no longer uses is INVALID_TOKEN.
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> Result<Customer> {
        Ok(Customer(
            accounts::verify_email(ctx.db(), &token)
                .await
                .doing("verifying an email")?,
        ))
    }

    /// Sends a new verification link if a registered customer with an unverified
    /// email has this address (within the mail limit). Always answers `true`, so it
    /// tells nobody which emails have accounts. For a customer whose login answered
    /// EMAIL_NOT_VERIFIED.
    async fn resend_verification(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        accounts::resend_verification(ctx.db(), ctx.policy(), &email)
            .await
            .doing("resending a verification link")?;
        Ok(true)
    }

    /// Asks to delete the logged-in customer's account: after checking the password,
    /// a confirmation token goes to their email (a stolen session alone cannot delete
    /// an account). Nothing changes until `confirmAccountDeletion`.
    async fn request_account_deletion(&self, ctx: &Context<'_>, password: String) -> Result<bool> {
        let caller = ctx.principal().await?.require_customer()?;
        accounts::request_account_deletion(
            ctx.db(),
            ctx.passwords(),
            ctx.policy(),
            caller.customer_id,
            &password,
        )
        .await
        .doing("requesting an account deletion")?;
        Ok(true)
    }

    /// Deletes the account the token was mailed for, as an admin's `deleteCustomer`
    /// does: every session ends, the email is free again, orders stay for the store's
    /// books, and admins can still restore it. No session is needed.
    async fn confirm_account_deletion(&self, ctx: &Context<'_>, token: String) -> Result<bool> {
        accounts::confirm_account_deletion(ctx.db(), &token)
            .await
            .doing("deleting an account")?;
        Ok(true)
    }
}
