//! A customer's sessions as they see them: where they are logged in.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::context::{ContextExt, to_id};
use crate::auth::Principal;

/// One of a customer's sessions, as the customer sees it in a "where you're logged
/// in" list. The token is never shown again.
pub struct LoginSession(pub entity::session::Model);

#[Object]
impl LoginSession {
    /// Pass to `endSession` to log that device out.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The last request made with it, to the minute.
    async fn last_used_at(&self) -> DateTime<Utc> {
        self.0.last_used_at
    }

    /// When it ends however active it is.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    /// The `User-Agent` of the client that logged in.
    async fn user_agent(&self) -> Option<&str> {
        self.0.user_agent.as_deref()
    }

    /// Whether this request is made with this session.
    async fn current(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(match ctx.principal().await? {
            Principal::Customer { session_id, .. } => session_id == self.0.id,
            _ => false,
        })
    }
}
