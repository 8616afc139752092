//! What a resolver reads from its context: the database, the caller, the loaders.

use async_graphql::{Context, ID, MaybeUndefined};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::loaders::Loaders;
use crate::auth::Principal;
use crate::auth::passwords::Passwords;
use crate::domain::accounts::TokenLifetimes;
use crate::domain::fields::Change;
use crate::error::{DomainError, DomainResult};

pub trait ContextExt {
    fn db(&self) -> &DatabaseConnection;
    fn principal(&self) -> Principal;
    fn loaders(&self) -> &Loaders;
    fn passwords(&self) -> &Passwords;
    fn lifetimes(&self) -> TokenLifetimes;
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

    fn passwords(&self) -> &Passwords {
        self.data_unchecked::<Passwords>()
    }

    fn lifetimes(&self) -> TokenLifetimes {
        *self.data_unchecked::<TokenLifetimes>()
    }
}

/// Parses a GraphQL `ID` argument into a UUID; `field` names it in the error.
pub fn parse_id(id: &ID, field: &str) -> DomainResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| DomainError::bad_input(field, "not a valid id"))
}

pub fn to_id(id: Uuid) -> ID {
    ID(id.to_string())
}

/// An optional argument as a change: omitted keeps the field, `null` clears it.
pub fn change_of<T>(value: MaybeUndefined<T>) -> Change<T> {
    match value {
        MaybeUndefined::Undefined => Change::Keep,
        MaybeUndefined::Null => Change::Clear,
        MaybeUndefined::Value(value) => Change::Set(value),
    }
}
