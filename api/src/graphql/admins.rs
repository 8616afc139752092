//! Admin login and logout.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::admin_user;

use super::context::{ContextExt, to_id};
use crate::auth::sessions;
use crate::domain::admins;

/// A member of the merchant's staff.
#[derive(SimpleObject)]
pub struct AdminUser {
    id: ID,
    email: String,
    created_at: DateTime<Utc>,
}

impl From<admin_user::Model> for AdminUser {
    fn from(admin: admin_user::Model) -> Self {
        Self {
            id: to_id(admin.id),
            email: admin.email,
            created_at: admin.created_at,
        }
    }
}

impl AdminUser {
    /// The admin with `id` through the loader; `None` for no id, or an admin user
    /// that no longer exists.
    pub async fn by_id(ctx: &Context<'_>, id: Option<uuid::Uuid>) -> Result<Option<Self>> {
        let Some(id) = id else {
            return Ok(None);
        };
        let admin = ctx.loaders().admin_user().load_one(id).await?;
        Ok(admin.map(Self::from))
    }
}

/// A new admin session.
#[derive(SimpleObject)]
pub struct AdminSession {
    /// Send as `Authorization: Bearer <token>`. Shown once; only its hash is stored.
    token: String,
    expires_at: DateTime<Utc>,
    admin: AdminUser,
}

#[derive(Default)]
pub struct AdminQuery;

#[Object]
impl AdminQuery {
    /// The logged-in admin.
    async fn current_admin(&self, ctx: &Context<'_>) -> Result<AdminUser> {
        let caller = ctx.principal().await?.require_admin()?;
        Ok(admins::get(ctx.db(), caller.admin_id).await?.into())
    }
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Logs an admin in. Wrong email and wrong password both give INVALID_CREDENTIALS.
    async fn admin_login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> Result<AdminSession> {
        let client = ctx.client();
        let (admin, session) = admins::login(
            ctx.db(),
            ctx.passwords(),
            ctx.policy(),
            &client,
            &email,
            &password,
        )
        .await?;
        Ok(AdminSession {
            token: session.token,
            expires_at: session.expires_at,
            admin: admin.into(),
        })
    }

    /// Ends the current admin session; its token stops working at once.
    async fn admin_logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let caller = ctx.principal().await?.require_admin()?;
        sessions::revoke(ctx.db(), caller.session_id).await?;
        Ok(true)
    }
}
