//! What a resolver reads from its context: the database, the caller, the loaders.

use async_graphql::{Context, ID};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::loaders::Loaders;
use crate::auth::Principal;
use crate::error::{DomainError, DomainResult};

pub trait ContextExt {
    fn db(&self) -> &DatabaseConnection;
    fn principal(&self) -> Principal;
    fn loaders(&self) -> &Loaders;
}

impl ContextExt for Context<'_> {
    fn db(&self) -> &DatabaseConnection {
        self.data_unchecked::<DatabaseConnection>()
    }

    /// Requests built by the HTTP handler always carry a principal; anything else
    /// (an in-process `execute` without one) is treated as anonymous.
    fn principal(&self) -> Principal {
        self.data_opt::<Principal>()
            .copied()
            .unwrap_or(Principal::Anonymous)
    }

    fn loaders(&self) -> &Loaders {
        self.data_unchecked::<Loaders>()
    }
}

/// Parses a GraphQL `ID` argument into a UUID; `field` names it in the error.
pub fn parse_id(id: &ID, field: &str) -> DomainResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| DomainError::bad_input(field, "not a valid id"))
}

pub fn to_id(id: Uuid) -> ID {
    ID(id.to_string())
}
