//! Objects of plain data, answered in one pass over their selection.
//!
//! async-graphql resolves every field of every object as a boxed future of its own,
//! polled through a `FuturesUnordered`, and files each value into the object's map
//! by hashing its name twice. On a page of 50 customers, the 175 addresses and 150
//! groups, whose fields only copy a column, took about a third of the server's
//! instructions that way (callgrind; docs/performance.md). [`Plain`] answers such an
//! object directly when every field selected is one of its type's [`PlainFields`]
//! (or `__typename`): one map, sized once, filled in selection order (the executor's
//! order too, for fields that are all ready at once). When any other field is
//! selected, the executor resolves the object as always. [`PlainList`] does the same
//! for a list, reading the selection once for all of its objects.
//!
//! The schema does not change: `Plain<T>` is `T` to it, `PlainList<T>` is `[T!]!`.
//! What the executor would do for the fields taken here, and this module does too:
//! fragments apply by their type condition (the type itself or an interface it
//! implements), a response key already filled keeps its first value (validation made
//! repeats the same field), and `@skip`/`@include` are gone before execution.
//! Anything else on a selection (a custom directive, an argument) goes to the
//! executor. The schema has no extensions, whose per-field hooks this would skip
//! (`schema_builder` says so). `tests/tests/api/plain.rs` holds both paths to the
//! same response bytes.

use std::borrow::Cow;

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{ContainerType, ContextSelectionSet, Name, OutputType, Positioned};
use async_graphql::{ServerResult, Value};

/// A type some of whose fields are computed from the object alone.
pub trait PlainFields: ContainerType {
    /// The field's value, exactly as the field's resolver would give it, when the
    /// field takes no arguments, no context and cannot fail; `None` for any other.
    fn plain_field(&self, name: &str) -> Option<Value>;
}

/// `T`, answered in one pass when the selection allows (module docs).
pub struct Plain<T>(pub T);

impl<T: PlainFields> OutputType for Plain<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        match first_pass(&self.0, ctx) {
            Some((object, _)) => Ok(object),
            None => self.0.resolve(ctx, field).await,
        }
    }
}

/// A list of `T`, each answered in one pass when the selection allows: the
/// selection is read once, for the first, and the others answer the same fields.
pub struct PlainList<T>(pub Vec<T>);

impl<T: PlainFields> OutputType for PlainList<T> {
    fn type_name() -> Cow<'static, str> {
        <Vec<T> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<T> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Vec<T> as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        match self.one_pass(ctx) {
            Some(list) => Ok(list),
            None => self.0.resolve(ctx, field).await,
        }
    }
}

impl<T: PlainFields> PlainList<T> {
    fn one_pass(&self, ctx: &ContextSelectionSet<'_>) -> Option<Value> {
        let Some((first, others)) = self.0.split_first() else {
            return Some(Value::List(Vec::new()));
        };
        let (first, selected) = first_pass(first, ctx)?;
        let mut list = Vec::with_capacity(self.0.len());
        list.push(first);
        for item in others {
            list.push(again(item, &selected)?);
        }
        Some(Value::List(list))
    }
}

/// One selected field: its response key and the field's name (`__typename` too).
type Selected<'a> = (&'a Name, &'a str);

/// Room for the fields of an address, the largest plain object.
const FIELDS_EXPECTED: usize = 16;

/// `root` answered in one pass, and the fields its selection picked; `None` when one
/// of them is not plain.
fn first_pass<'a, T: PlainFields>(
    root: &T,
    ctx: &ContextSelectionSet<'a>,
) -> Option<(Value, Vec<Selected<'a>>)> {
    let mut selected = Vec::with_capacity(FIELDS_EXPECTED);
    let mut values = Vec::with_capacity(FIELDS_EXPECTED);
    if !collect(root, ctx, &ctx.item.node, &mut selected, &mut values) {
        return None;
    }
    Some((object(&selected, values), selected))
}

/// Another object of the same type answering the fields `selected` picked.
fn again<T: PlainFields>(root: &T, selected: &[Selected<'_>]) -> Option<Value> {
    let values = selected
        .iter()
        .map(|&(_, name)| value_of(root, name))
        .collect::<Option<Vec<_>>>()?;
    Some(object(selected, values))
}

/// The object of these keys and values. The keys are distinct: each is hashed once,
/// into a map of their number. As the executor answers an object none of whose
/// fields is left (all skipped): null, not `{}`.
fn object(selected: &[Selected<'_>], values: Vec<Value>) -> Value {
    if selected.is_empty() {
        return Value::Null;
    }
    Value::Object(
        selected
            .iter()
            .map(|&(key, _)| key.clone())
            .zip(values)
            .collect(),
    )
}

fn value_of<T: PlainFields>(root: &T, name: &str) -> Option<Value> {
    if name == "__typename" {
        Some(Value::String(root.introspection_type_name().into_owned()))
    } else {
        root.plain_field(name)
    }
}

/// Adds the selection's fields to `selected` and their values to `values`, each
/// response key once; false as soon as one is not plain.
fn collect<'a, T: PlainFields>(
    root: &T,
    ctx: &ContextSelectionSet<'a>,
    selection_set: &'a SelectionSet,
    selected: &mut Vec<Selected<'a>>,
    values: &mut Vec<Value>,
) -> bool {
    let fragments = &ctx.query_env.fragments;
    for selection in &selection_set.items {
        let (type_condition, fragment) = match &selection.node {
            Selection::Field(field) => {
                let field = &field.node;
                if !field.arguments.is_empty() || !field.directives.is_empty() {
                    return false;
                }
                let key = &field.response_key().node;
                // A dozen keys at most: a scan costs less than hashing each.
                if selected.iter().any(|&(seen, _)| seen == key) {
                    continue;
                }
                let Some(value) = value_of(root, &field.name.node) else {
                    return false;
                };
                selected.push((key, &field.name.node));
                values.push(value);
                continue;
            }
            Selection::FragmentSpread(spread) => {
                if !spread.node.directives.is_empty() {
                    return false;
                }
                let Some(fragment) = fragments.get(&spread.node.fragment_name.node) else {
                    return false;
                };
                (
                    Some(fragment.node.type_condition.node.on.node.as_str()),
                    &fragment.node.selection_set.node,
                )
            }
            Selection::InlineFragment(fragment) => {
                if !fragment.node.directives.is_empty() {
                    return false;
                }
                (
                    fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map(|condition| condition.node.on.node.as_str()),
                    &fragment.node.selection_set.node,
                )
            }
        };
        if applies(root, ctx, type_condition) && !collect(root, ctx, fragment, selected, values) {
            return false;
        }
    }
    true
}

/// Whether a fragment with this type condition applies to `root`'s type.
fn applies<T: PlainFields>(
    root: &T,
    ctx: &ContextSelectionSet<'_>,
    type_condition: Option<&str>,
) -> bool {
    let Some(condition) = type_condition else {
        return true;
    };
    let name = root.introspection_type_name();
    name == condition
        || ctx
            .schema_env
            .registry
            .implements
            .get(name.as_ref())
            .is_some_and(|interfaces| interfaces.contains(condition))
}

/// An optional text column as its field gives it: `null` or the string.
pub fn text(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |text| Value::String(text.to_owned()))
}
