//! The GraphQL schema: one query and one mutation root merged from each area.

pub mod accounts;
pub mod addresses;
pub mod admins;
pub mod audit;
pub mod connection;
pub mod context;
pub mod customers;
pub mod gate;
pub mod groups;
pub mod loaders;
pub mod money;
pub mod orders;

use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

use crate::error::ErrorCode;

#[derive(MergedObject, Default)]
pub struct Query(
    customers::CustomerQuery,
    groups::GroupQuery,
    orders::OrderQuery,
    admins::AdminQuery,
    accounts::AccountQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    admins::AdminMutation,
    customers::CustomerAdminMutation,
    groups::GroupAdminMutation,
    accounts::AccountMutation,
    addresses::AddressBookMutation,
    orders::OrderMutation,
);

pub type ClienteleSchema = Schema<Query, Mutation, EmptySubscription>;

/// The schema with its limits, without runtime data: enough to export the SDL.
pub fn schema_builder(
    max_depth: usize,
    max_complexity: usize,
) -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        // No field returns ErrorCode, but clients generate types from the schema and
        // should find the codes that `extensions.code` carries.
        .register_output_type::<ErrorCode>()
        .limit_depth(max_depth)
        .limit_complexity(max_complexity)
}

/// The SDL that `export-schema` prints and `schema.graphql` holds.
pub fn sdl(max_depth: usize, max_complexity: usize) -> String {
    schema_builder(max_depth, max_complexity).finish().sdl()
}
