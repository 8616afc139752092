//! What a resolver reads from its context: the database, the caller, the loaders.

use std::future::Future;
use std::sync::Arc;

use async_graphql::{Context, ID, MaybeUndefined};
use uuid::Uuid;

use super::loaders::Loaders;
use crate::auth::passwords::Passwords;
use crate::auth::{Caller, Client, Principal};
use crate::db::Db;
use crate::domain::accounts::AccountPolicy;
use crate::domain::counts::CountLimit;
use crate::domain::fields::Change;
use crate::error::{DomainError, DomainResult};

/// The primary database, in the schema's data. `ContextExt::db` is where the
/// request reads (a standby, for a query operation that one answers); sessions are
/// always resolved here, so that a revoked session stops working at once on every
/// instance and a new one works at once (docs/scaling.md).
pub struct Primary(pub Db);

pub trait ContextExt {
    /// Where this request reads and writes: the primary, or for a query operation
    /// the standby chosen to answer it.
    fn db(&self) -> &Db;
    /// The caller, from the request's bearer token; the session is looked up the
    /// first time a field asks, so a document refused by validation costs no SQL.
    fn principal(&self) -> impl Future<Output = DomainResult<Principal>> + Send;
    fn loaders(&self) -> &Loaders;
    fn passwords(&self) -> &Passwords;
    fn policy(&self) -> &AccountPolicy;
    /// Where `totalCount` stops counting.
    fn count_limit(&self) -> CountLimit;
    /// Where the request came from (the throttles' subject, the session's user agent).
    fn client(&self) -> Client;
}

impl ContextExt for Context<'_> {
    fn db(&self) -> &Db {
        self.data_unchecked::<Db>()
    }

    /// Requests built by the HTTP handler always carry a caller; anything else (an
    /// in-process `execute` without one) is treated as anonymous.
    fn principal(&self) -> impl Future<Output = DomainResult<Principal>> + Send {
        let caller = self.data_opt::<Arc<Caller>>().cloned();
        let db = self.data_unchecked::<Primary>().0.clone();
        async move {
            match caller {
                Some(caller) => caller.principal(&db).await,
                None => Ok(Principal::Anonymous),
            }
        }
    }

    fn loaders(&self) -> &Loaders {
        self.data_unchecked::<Loaders>()
    }

    fn passwords(&self) -> &Passwords {
        self.data_unchecked::<Passwords>()
    }

    fn policy(&self) -> &AccountPolicy {
        self.data_unchecked::<AccountPolicy>()
    }

    fn count_limit(&self) -> CountLimit {
        *self.data_unchecked::<CountLimit>()
    }

    fn client(&self) -> Client {
        self.data_opt::<Arc<Caller>>()
            .map(|caller| caller.client().clone())
            .unwrap_or_default()
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
