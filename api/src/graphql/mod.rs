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
pub mod json;
pub mod limits;
pub mod live;
pub mod loaders;
pub mod merges;
pub mod money;
pub mod nodes;
pub mod notes;
pub mod orders;
pub mod plain;
pub mod privacy;
pub mod sessions;
pub mod sync;
pub mod validation;

use std::sync::Arc;

use async_graphql::resolver_utils::EnumType;
use async_graphql::{
    MergedObject, Object, Request, Response, Schema, SchemaBuilder, ValidationMode, Value,
};

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

/// The schema built twice, alike but for how much of a document the engine validates:
/// fully while the document is new, quickly once it has passed
/// ([`documents::Checked::engine_validated`] says why that loses nothing), and the
/// quick walk's results remembered ([`validation`]).
#[derive(Clone)]
pub struct Engine {
    full: ClienteleSchema,
    quick: ClienteleSchema,
}

impl Engine {
    /// Both schemas from one recipe, so that they cannot differ in anything else.
    pub fn new(build: impl Fn() -> SchemaBuilder<Query, Mutation, live::LiveSubscription>) -> Self {
        Self {
            full: build().finish(),
            quick: build()
                .validation_mode(ValidationMode::Fast)
                .extension(validation::RememberValidation::default())
                .finish(),
        }
    }

    /// The schema with the engine's full validation: what subscriptions run on and
    /// what the SDL is printed from.
    pub fn schema(&self) -> &ClienteleSchema {
        &self.full
    }

    /// Executes a request whose document `checked` holds, on the schema that
    /// document has earned.
    pub async fn execute(&self, request: Request, checked: &Arc<documents::Checked>) -> Response {
        if checked.engine_validated() {
            // For the extension that remembers the quick validation's results.
            return self.quick.execute(request.data(checked.clone())).await;
        }
        let response = self.full.execute(request).await;
        // A document the engine's validation refuses is answered with no data at all;
        // any data means it passed. (No data for another reason, such as a failed
        // non-null root field, only leaves the document to be validated again.)
        if response.data != Value::Null {
            checked.mark_engine_validated();
        }
        response
    }
}

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
    // No extension with per-field hooks: addresses and groups answered in one pass
    // (`plain`) would skip them. (`Engine::new` adds one without, `validation`.)
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

#[cfg(test)]
mod tests {
    use super::*;
    use documents::Checked;
    use limits::Prepared;

    fn engine() -> Engine {
        Engine::new(|| {
            schema_builder(EngineLimits {
                max_complexity: 1000,
                max_directives: 10,
                introspection: true,
            })
        })
    }

    async fn run(engine: &Engine, text: &str, checked: &Arc<Checked>) -> Response {
        let mut request = Request::new(text);
        request.set_parsed_query(checked.document.clone());
        engine.execute(request, checked).await
    }

    fn checked(text: &str) -> Arc<Checked> {
        Arc::new(Checked::new(
            async_graphql::parser::parse_query(text).unwrap(),
            Prepared::default(),
        ))
    }

    #[tokio::test]
    async fn a_document_the_full_validation_passed_runs_on_the_quick_one_after() {
        let engine = engine();
        let good = checked("{ errorCodes }");
        let response = run(&engine, "{ errorCodes }", &good).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert!(good.engine_validated());

        // Refused by the full validation: never marked, refused every time.
        let text = "{ errorCodes(unknown: 1) }";
        let bad = checked(text);
        for _ in 0..2 {
            let response = run(&engine, text, &bad).await;
            assert_eq!(response.data, Value::Null);
            assert!(response.errors[0].message.contains("Unknown argument"));
            assert!(!bad.engine_validated());
        }

        // The quick mode skips that rule, so a document marked by mistake would run:
        // this is what the mark changes, and why only the full validation sets it.
        bad.mark_engine_validated();
        let response = run(&engine, text, &bad).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert_ne!(response.data, Value::Null);
    }
}
