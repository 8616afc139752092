//! The engine's quick validation, remembered per document.
//!
//! A document the engine's full validation has passed once runs on the schema built
//! with its quick mode ([`super::documents::Checked::engine_validated`]). That mode
//! still walks the whole document on every request, looking every field's type up by
//! name, to compute the complexity and the depth: 12 % of the instructions of a
//! customer by id (callgrind). Both figures depend only on the document, the
//! operation run, and the values of the variables that a field's complexity function
//! reads (`first`, `last`, `ids` and the like). So the walk's result is kept with the
//! document, under the operation's name and those variables' values, and the next
//! request with the same ones skips it: the complexity limit still holds for every
//! request, because a request whose values were not seen before is walked.
//!
//! Which variables count is decided conservatively, by name: a variable counts if it
//! appears in an argument of any field whose name, on any object type, has a
//! complexity function. Only short scalar values make a key ([`small`]); a request
//! with a list or a long text among them is walked every time.
//!
//! An extension on the quick schema does it: async-graphql hands its validation to
//! extensions, and has no other way to skip it. The price is a hook around every
//! field the engine resolves itself (fields answered in one pass by [`super::plain`]
//! have none): a page of 50 customers resolves 150 (their addresses and groups) and
//! costs 2.6 % more instructions than before, where a customer by id saves 11 %.

use std::any::TypeId;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{Name, Request, ServerError, ServerResult, ValidationResult};

use super::documents::Checked;

/// Results kept per document: one per distinct operation and values, the oldest out.
const MAX_REMEMBERED: usize = 8;
/// The longest string value a key holds.
const MAX_KEPT_TEXT: usize = 256;

/// What a document's walk produced, by what it depended on.
#[derive(Debug, Default)]
pub struct Remembered {
    /// The variables that a complexity function can read, found on first use.
    variables: OnceLock<Vec<Name>>,
    results: Mutex<Vec<(Key, ValidationResult)>>,
}

/// The operation's name and the values of the variables that count (`None` when absent).
#[derive(Debug, Clone, PartialEq)]
struct Key {
    operation: Option<String>,
    values: Vec<Option<async_graphql::Value>>,
}

impl Remembered {
    fn find(&self, key: &Key) -> Option<ValidationResult> {
        let results = self.results.lock().unwrap_or_else(PoisonError::into_inner);
        results
            .iter()
            .find(|(kept, _)| kept == key)
            .map(|(_, result)| *result)
    }

    fn keep(&self, key: Key, result: ValidationResult) {
        let mut results = self.results.lock().unwrap_or_else(PoisonError::into_inner);
        if results.iter().any(|(kept, _)| *kept == key) {
            return;
        }
        if results.len() >= MAX_REMEMBERED {
            results.remove(0);
        }
        results.push((key, result));
    }
}

/// The extension's factory: what it learns of the schema once, shared by every request.
#[derive(Default)]
pub struct RememberValidation {
    /// Names of fields that have a complexity function on some object type.
    priced_fields: Arc<OnceLock<HashSet<String>>>,
}

impl ExtensionFactory for RememberValidation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ForRequest {
            priced_fields: self.priced_fields.clone(),
            step: Mutex::new(None),
        })
    }
}

struct ForRequest {
    priced_fields: Arc<OnceLock<HashSet<String>>>,
    /// Set while the request is prepared, read by its validation.
    step: Mutex<Option<Step>>,
}

struct Step {
    checked: Arc<Checked>,
    key: Key,
    found: Option<ValidationResult>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for ForRequest {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let checked = request
            .data
            .get(&TypeId::of::<Arc<Checked>>())
            .and_then(|data| data.downcast_ref::<Arc<Checked>>())
            .cloned();
        if let Some(checked) = checked {
            let priced = self
                .priced_fields
                .get_or_init(|| priced_fields(&ctx.schema_env.registry));
            let remembered = &checked.remembered;
            let variables = remembered
                .variables
                .get_or_init(|| counted_variables(&checked.document, priced));
            let values: Vec<_> = variables
                .iter()
                .map(|name| request.variables.get(name))
                .collect();
            if values.iter().flatten().all(|value| small(value)) {
                let key = Key {
                    operation: request.operation_name.clone(),
                    values: values.into_iter().map(Option::<&_>::cloned).collect(),
                };
                let found = remembered.find(&key);
                *self.step.lock().unwrap_or_else(PoisonError::into_inner) = Some(Step {
                    checked,
                    key,
                    found,
                });
            }
        }
        next.run(ctx, request).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let step = self
            .step
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(step) = step else {
            return next.run(ctx).await;
        };
        if let Some(result) = step.found {
            return Ok(result);
        }
        let result = next.run(ctx).await?;
        step.checked.remembered.keep(step.key, result);
        Ok(result)
    }
}

/// Whether a value is kept as part of a key: a scalar, and a short one. A list of ids
/// or a batch of updates is walked every time instead, so that what is kept stays a
/// few bytes per result however large the requests.
fn small(value: &async_graphql::Value) -> bool {
    match value {
        async_graphql::Value::List(_) | async_graphql::Value::Object(_) => false,
        async_graphql::Value::String(text) => text.len() <= MAX_KEPT_TEXT,
        async_graphql::Value::Binary(bytes) => bytes.len() <= MAX_KEPT_TEXT,
        _ => true,
    }
}

fn priced_fields(registry: &Registry) -> HashSet<String> {
    registry
        .types
        .values()
        .filter_map(|ty| match ty {
            async_graphql::registry::MetaType::Object { fields, .. } => Some(fields),
            _ => None,
        })
        .flat_map(|fields| fields.iter())
        .filter(|(_, field)| field.compute_complexity.is_some())
        .map(|(name, _)| name.clone())
        .collect()
}

/// The variables used in an argument of a priced field, anywhere in the document.
fn counted_variables(document: &ExecutableDocument, priced: &HashSet<String>) -> Vec<Name> {
    let mut found = Vec::new();
    for (_, operation) in document.operations.iter() {
        in_selections(&operation.node.selection_set.node, priced, &mut found);
    }
    for fragment in document.fragments.values() {
        in_selections(&fragment.node.selection_set.node, priced, &mut found);
    }
    found.sort();
    found.dedup();
    found
}

fn in_selections(set: &SelectionSet, priced: &HashSet<String>, found: &mut Vec<Name>) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let field = &field.node;
                if priced.contains(field.name.node.as_str()) {
                    for (_, value) in &field.arguments {
                        // The one way the parser offers to reach every variable in a
                        // value, lists and objects included.
                        let _ = value.node.clone().into_const_with(|name| {
                            found.push(name);
                            Ok::<_, std::convert::Infallible>(async_graphql::Value::Null)
                        });
                    }
                }
                in_selections(&field.selection_set.node, priced, found);
            }
            Selection::InlineFragment(inline) => {
                in_selections(&inline.node.selection_set.node, priced, found);
            }
            Selection::FragmentSpread(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_variables_of_priced_fields_wherever_they_are() {
        let document = async_graphql::parser::parse_query(
            "query A($id: ID!, $first: Int, $ids: [ID!]!, $search: String, $n: Int) {
                customer(id: $id) { orders(first: $first) { nodes { id } } }
                nodes(ids: $ids) { id }
                customers(filter: { search: $search }) { ...More }
             }
             fragment More on CustomerConnection { nodes { groups(first: $n) { id } } }",
        )
        .unwrap();
        let priced: HashSet<String> = ["orders", "nodes", "customers", "groups"]
            .map(String::from)
            .into();
        let names: Vec<String> = counted_variables(&document, &priced)
            .iter()
            .map(|name| name.to_string())
            .collect();
        // `$id` feeds `customer`, which has no complexity function.
        assert_eq!(names, ["first", "ids", "n", "search"]);
    }

    #[test]
    fn keys_hold_short_scalars_only() {
        use async_graphql::Value;
        assert!(small(&Value::from(100)));
        assert!(small(&Value::from("smith")));
        assert!(!small(&Value::from("x".repeat(MAX_KEPT_TEXT + 1))));
        assert!(!small(&Value::List(vec![Value::from(1)])));
    }

    #[test]
    fn keeps_a_bounded_number_of_results_per_document() {
        let remembered = Remembered::default();
        let result = |complexity| ValidationResult {
            cache_control: Default::default(),
            complexity,
            depth: 1,
        };
        let key = |n: i32| Key {
            operation: None,
            values: vec![Some(async_graphql::Value::from(n))],
        };
        for n in 0..=MAX_REMEMBERED as i32 {
            remembered.keep(key(n), result(n as usize));
        }
        assert!(remembered.find(&key(0)).is_none(), "the oldest went");
        assert_eq!(remembered.find(&key(1)).map(|r| r.complexity), Some(1));
        let last = MAX_REMEMBERED as i32;
        assert_eq!(
            remembered.find(&key(last)).map(|r| r.complexity),
            Some(last as usize)
        );
        let absent = Key {
            operation: None,
            values: vec![None],
        };
        assert!(remembered.find(&absent).is_none());
    }
}
