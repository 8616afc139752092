//! The GraphQL schema: one query and one mutation root merged from each area.

pub mod accounts;
pub mod addresses;
pub mod admins;
pub mod audit;
pub mod connection;
pub mod consents;
pub mod context;
pub mod customers;
pub mod documents;
pub mod gate;
pub mod groups;
pub mod limits;
pub mod live;
pub mod loaders;
pub mod merges;
pub mod money;
pub mod nodes;
pub mod notes;
pub mod orders;
pub mod privacy;
pub mod sessions;
pub mod sync;

use async_graphql::resolver_utils::EnumType;
use async_graphql::{MergedObject, Object, Schema, SchemaBuilder};

use crate::error::ErrorCode;

#[derive(MergedObject, Default)]
pub struct Query(
    ErrorCodeQuery,
    nodes::NodeQuery,
    customers::CustomerQuery,
    groups::GroupQuery,
    orders::OrderQuery,
    admins::AdminQuery,
    accounts::AccountQuery,
    privacy::PrivacyQuery,
    merges::MergeQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    admins::AdminMutation,
    customers::CustomerAdminMutation,
    notes::NoteMutation,
    sync::SyncMutation,
    groups::GroupAdminMutation,
    accounts::AccountMutation,
    addresses::AddressBookMutation,
    orders::OrderMutation,
    privacy::PrivacyMutation,
    merges::MergeMutation,
    consents::ConsentMutation,
);

pub type ClienteleSchema = Schema<Query, Mutation, live::LiveSubscription>;

/// Lists the error codes, so that they are part of the schema that introspection
/// shows and clients generated from it know them.
#[derive(Default)]
pub struct ErrorCodeQuery;

#[Object]
impl ErrorCodeQuery {
    /// Every code an error's `extensions.code` may carry.
    async fn error_codes(&self) -> Vec<ErrorCode> {
        ErrorCode::items().iter().map(|item| item.value).collect()
    }
}

/// A stored metadata value as the API shows it: one that cannot be decoded is an error
/// on this field alone.
pub fn metadata_of(
    stored: &Option<entity::stored_json::StoredJson>,
) -> Result<Option<async_graphql::Json<serde_json::Value>>, crate::error::DomainError> {
    match stored {
        None => Ok(None),
        Some(json) => json
            .readable()
            .map(|value| Some(async_graphql::Json(value.clone())))
            .ok_or(crate::error::DomainError::Unreadable { field: "metadata" }),
    }
}

/// What the engine enforces itself; the document limits run before it
/// ([`limits::DocumentLimits`]).
#[derive(Debug, Clone, Copy)]
pub struct EngineLimits {
    pub max_complexity: usize,
    pub max_directives: usize,
    /// Introspection, and with it the field suggestions of error messages.
    pub introspection: bool,
}

/// The schema with its limits, without runtime data: enough to export the SDL.
pub fn schema_builder(
    limits: EngineLimits,
) -> SchemaBuilder<Query, Mutation, live::LiveSubscription> {
    let builder = Schema::build(
        Query::default(),
        Mutation::default(),
        live::LiveSubscription,
    )
    .limit_complexity(limits.max_complexity)
    // The document limits check directives first, with a typed error; this is the
    // engine's own guard (the fix for CVE-2024-47614) behind them.
    .limit_directives(limits.max_directives);
    if limits.introspection {
        builder
    } else {
        builder.disable_introspection().disable_suggestions()
    }
}

/// The SDL that `export-schema` prints and `schema.graphql` holds. Limits do not
/// change it.
pub fn sdl() -> String {
    schema_builder(EngineLimits {
        max_complexity: usize::MAX,
        max_directives: usize::MAX,
        introspection: true,
    })
    .finish()
    // `@specifiedBy` tells clients that DateTime is RFC 3339, as introspection does.
    .sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}
