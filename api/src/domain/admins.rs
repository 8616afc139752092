//! Admin users: creation (from the CLI) and login.

use entity::admin_user;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use super::accounts::{self, AccountPolicy};
use super::email::Email;
use crate::auth::passwords::{self, Passwords};
use crate::auth::sessions::{self, IssuedSession};
use crate::auth::{Client, events};
use crate::db::{self, OnUnique, UniqueKey};
use crate::error::{DomainError, DomainResult};

/// Admin passwords are at least 12 characters: they guard every customer's data.
pub const MIN_PASSWORD_CHARS: usize = 12;

pub async fn create(
    db: &impl ConnectionTrait,
    passwords: &Passwords,
    email: &str,
    password: &str,
) -> DomainResult<admin_user::Model> {
    let email = Email::parse(email, "email")?;
    passwords::check_length(password, "password", MIN_PASSWORD_CHARS)?;
    if passwords::is_common(password) {
        return Err(DomainError::bad_input(
            "password",
            "is one of the most common passwords; choose another",
        ));
    }
    let now = db::now();
    admin_user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.as_str().to_owned()),
        password_hash: Set(passwords.hash(password).await?),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .on_unique(UniqueKey::AdminEmail, DomainError::EmailTaken)
}

/// Checks the credentials and opens a session. A malformed email, an unknown email and
/// a wrong password all fail the same way, in about the same time.
pub async fn login(
    db: &impl ConnectionTrait,
    passwords: &Passwords,
    policy: &AccountPolicy,
    client: &Client,
    email: &str,
    password: &str,
) -> DomainResult<(admin_user::Model, IssuedSession)> {
    let limits = &policy.limits;
    let attempt = accounts::LoginAttempt::begin(
        db,
        &limits.admin_login,
        &limits.login_from_address,
        client,
        email,
    )
    .await?;
    let admin = match Email::parse(email, "email") {
        Ok(email) => {
            admin_user::Entity::find()
                .filter(admin_user::Column::Email.eq(email.as_str()))
                .one(db)
                .await?
        }
        Err(_) => None,
    };
    let verified = match &admin {
        Some(admin) => passwords.verify(password, &admin.password_hash).await?,
        None => passwords.verify_dummy(password).await?,
    };
    let account = admin
        .as_ref()
        .map_or(events::Account::Unknown, |a| events::Account::Admin(a.id));
    attempt.settle(db, account, verified).await?;
    let admin = admin
        .filter(|_| verified)
        .ok_or(DomainError::InvalidCredentials)?;
    let session = sessions::issue(
        db,
        sessions::Holder::Admin(admin.id),
        &policy.sessions,
        client.user_agent.as_deref(),
    )
    .await?;
    Ok((admin, session))
}

/// The admin with this email (an import is recorded under one).
pub async fn with_email(db: &impl ConnectionTrait, email: &str) -> DomainResult<admin_user::Model> {
    let email = Email::parse(email, "admin")?;
    admin_user::Entity::find()
        .filter(admin_user::Column::Email.eq(email.as_str()))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("admin user"))
}

pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> DomainResult<admin_user::Model> {
    admin_user::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("admin user"))
}

/// Admin users by id (the audit trail's authors); deleted admins simply do not appear.
pub async fn by_ids(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> DomainResult<std::collections::HashMap<Uuid, admin_user::Model>> {
    Ok(admin_user::Entity::find()
        .filter(admin_user::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|admin| (admin.id, admin))
        .collect())
}
