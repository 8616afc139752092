//! Objects of plain data, answered in one pass over their selection.
//!
//! async-graphql resolves every field of every object as a boxed future of its own,
//! polled through a `FuturesUnordered`, and files each value into the object's map
//! by hashing its name twice. On a page of 50 customers, the 175 addresses and 150
//! groups, whose fields only copy a column, took about a third of the server's
//! instructions that way (callgrind; docs/performance.md). [`Plain`] answers the
//! selected fields that are its type's [`PlainFields`] (or `__typename`) directly,
//! and resolves only the others (a relation, a field with arguments) through the
//! type's own resolvers, concurrently, as the executor would. [`PlainList`] does the
//! same for a list whose selection is all plain, reading it once for all of its
//! objects; any other list goes to the executor. Each object's map is a copy of the
//! request's [`Shapes`] for its selection, so no key is hashed twice in a request.
//!
//! One difference, on purpose: the executor files an object's keys in the order its
//! fields finish, so a relation that waits on the database can come after a field
//! selected below it. Here every key is in selection order, as the GraphQL
//! specification asks of a response ("Serialized Map Ordering").
//!
//! The schema does not change: `Plain<T>` is `T` to it, `PlainList<T>` is `[T!]!`.
//! What the executor would do for the fields taken here, and this module does too:
//! fragments apply by their type condition (the type itself or an interface it
//! implements), a response key already filled keeps its first value (validation made
//! repeats the same field), a field that fails is reported and left out, and
//! `@skip`/`@include` are gone before execution. Anything else (a directive on a
//! selection, an object selected twice under one key, whose selections the executor
//! merges) goes to the executor whole. The schema's one extension has no per-field
//! hooks ([`super::validation`]); one that had them would miss the fields answered
//! here (`schema_builder` says so). `tests/tests/api/plain.rs` holds both paths to
//! the same response.

use std::any::TypeId;
use std::borrow::Cow;
use std::sync::{Mutex, PoisonError};

use async_graphql::indexmap::IndexMap;
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

/// `T`, its plain fields answered in one pass (module docs); the others are resolved
/// as the executor resolves them, concurrently, and every key is in selection order.
pub struct Plain<T>(pub T);

impl<T: PlainFields + 'static> OutputType for Plain<T> {
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
        match gather(&self.0, ctx) {
            Some((selected, slots)) => Ok(resolve_deferred(&self.0, ctx, &selected, slots).await),
            None => self.0.resolve(ctx, field).await,
        }
    }
}

/// A list of `T`, each answered in one pass when every selected field is plain: the
/// selection is read once, for the first, and the others answer the same fields.
/// Otherwise the executor resolves the list.
pub struct PlainList<T>(pub Vec<T>);

impl<T: PlainFields + 'static> OutputType for PlainList<T> {
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

impl<T: PlainFields + 'static> PlainList<T> {
    fn one_pass(&self, ctx: &ContextSelectionSet<'_>) -> Option<Value> {
        let Some((first, others)) = self.0.split_first() else {
            return Some(Value::List(Vec::new()));
        };
        let (selected, slots) = gather(first, ctx)?;
        if slots.iter().any(|slot| matches!(slot, Slot::Deferred(_))) {
            return None;
        }
        let shape = shape_of::<T>(ctx, &selected);
        let mut list = Vec::with_capacity(self.0.len());
        // The first object's place, filled last with the shape itself: one copy fewer.
        list.push(Value::Null);
        for item in others {
            list.push(again(item, &selected, &shape)?);
        }
        let mut fields = shape;
        for (value, slot) in fields.values_mut().zip(slots) {
            if let Slot::Ready(ready) = slot {
                *value = ready;
            }
        }
        list[0] = answer(fields);
        Some(Value::List(list))
    }
}

/// One selected field: its response key and the field's name (`__typename` too).
type Selected<'a> = (&'a Name, &'a str);

/// A selected field's value: computed, or a field for the executor's resolver.
enum Slot<'a> {
    Ready(Value),
    Deferred(&'a Positioned<Field>),
}

/// Room for the fields of an address or a customer.
const FIELDS_EXPECTED: usize = 16;

/// The fields `root`'s selection picks, each with its slot; `None` when the
/// selection needs the executor ([`collect`]).
fn gather<'a, T: PlainFields>(
    root: &T,
    ctx: &ContextSelectionSet<'a>,
) -> Option<(Vec<Selected<'a>>, Vec<Slot<'a>>)> {
    let mut selected = Vec::with_capacity(FIELDS_EXPECTED);
    let mut slots = Vec::with_capacity(FIELDS_EXPECTED);
    collect(root, ctx, &ctx.item.node, &mut selected, &mut slots).then_some((selected, slots))
}

/// The object of `selected`'s keys: the ready values as they are, the deferred
/// fields resolved concurrently by `root`'s own resolvers. As the executor does, a
/// field that fails is reported on the request and left out of its object.
async fn resolve_deferred<T: PlainFields + 'static>(
    root: &T,
    ctx: &ContextSelectionSet<'_>,
    selected: &[Selected<'_>],
    slots: Vec<Slot<'_>>,
) -> Value {
    let deferred = slots.iter().filter_map(|slot| match slot {
        Slot::Ready(_) => None,
        Slot::Deferred(field) => Some(async move {
            let field_ctx = ctx.with_field(field);
            root.resolve_field(&field_ctx).await
        }),
    });
    let mut resolved = futures_util::future::join_all(deferred).await.into_iter();
    let mut fields = shape_of::<T>(ctx, selected);
    let mut failed = Vec::new();
    for (index, (value, slot)) in fields.values_mut().zip(slots).enumerate() {
        *value = match slot {
            Slot::Ready(value) => value,
            Slot::Deferred(_) => match resolved.next() {
                Some(Ok(value)) => value.unwrap_or_default(),
                Some(Err(error)) => {
                    ctx.add_error(error);
                    failed.push(index);
                    continue;
                }
                None => unreachable!("one result per deferred field"),
            },
        };
    }
    // Last first, so that the indices still to remove stay where they were.
    for index in failed.into_iter().rev() {
        fields.shift_remove_index(index);
    }
    answer(fields)
}

/// Another object of the same type answering the fields `selected` picked, in a copy
/// of `shape`.
fn again<T: PlainFields>(root: &T, selected: &[Selected<'_>], shape: &Shape) -> Option<Value> {
    let mut fields = shape.clone();
    for (value, &(_, name)) in fields.values_mut().zip(selected) {
        *value = value_of(root, name)?;
    }
    Some(answer(fields))
}

/// The maps of the objects one request has answered, by selection and type, their
/// values all null: the shape of any other object that answers the same selection.
///
/// An object's map files each key by its hash, and the map's hasher is SipHash with
/// keys of its own: filling a new map for each of a page's 50 customers and their 300
/// addresses and groups hashed every key of every one of them, 5 % of the page's
/// instructions (callgrind). A copy of a map carries its hasher and every key's hash
/// with it, so an object made from a copy of its shape hashes nothing. Kept per
/// request, under the address of the selection in the request's own document, which
/// lives as long as the request; a shape is kept from a selection's second object on,
/// so a selection answered once (a customer by id's) costs no copy.
#[derive(Default)]
pub struct Shapes(Mutex<Vec<(ShapeKey, Option<Shape>)>>);

/// A selection's address in the request's document, and the type answering it.
type ShapeKey = (usize, TypeId);

/// An object's keys, in order, with null values.
type Shape = IndexMap<Name, Value>;

/// A map of `selected`'s keys with null values: a copy of the request's shape for
/// this selection and type when it has one.
fn shape_of<T: 'static>(ctx: &ContextSelectionSet<'_>, selected: &[Selected<'_>]) -> Shape {
    let Some(shapes) = ctx.data_opt::<Shapes>() else {
        return fresh(selected);
    };
    let key = (std::ptr::from_ref(ctx.item).addr(), TypeId::of::<T>());
    let mut shapes = shapes.0.lock().unwrap_or_else(PoisonError::into_inner);
    let Some((_, kept)) = shapes.iter_mut().find(|(seen, _)| *seen == key) else {
        shapes.push((key, None));
        return fresh(selected);
    };
    match kept {
        // One selection on one type always selects the same keys; the check keeps
        // a difference from ever mislabelling a value.
        Some(shape) if has_keys(shape, selected) => shape.clone(),
        Some(_) => fresh(selected),
        None => {
            let shape = fresh(selected);
            *kept = Some(shape.clone());
            shape
        }
    }
}

/// A new map of `selected`'s keys, in order, with null values.
fn fresh(selected: &[Selected<'_>]) -> Shape {
    selected
        .iter()
        .map(|&(key, _)| (key.clone(), Value::Null))
        .collect()
}

/// Whether `shape` holds exactly `selected`'s keys, in order.
fn has_keys(shape: &Shape, selected: &[Selected<'_>]) -> bool {
    shape.len() == selected.len()
        && shape
            .keys()
            .zip(selected)
            .all(|(kept, &(key, _))| std::ptr::eq(kept.as_str(), key.as_str()) || kept == key)
}

/// An object's fields as its value. As the executor answers an object none of whose
/// fields is left (all skipped, or all failed): null, not `{}`.
fn answer(fields: IndexMap<Name, Value>) -> Value {
    if fields.is_empty() {
        Value::Null
    } else {
        Value::Object(fields)
    }
}

fn value_of<T: PlainFields>(root: &T, name: &str) -> Option<Value> {
    if name == "__typename" {
        Some(Value::String(root.introspection_type_name().into_owned()))
    } else {
        root.plain_field(name)
    }
}

/// Adds the selection's fields to `selected` and a slot for each to `slots`, each
/// response key once; false as soon as one needs the executor's own handling: a
/// directive, or a key selected twice with sub-selections the executor would merge.
fn collect<'a, T: PlainFields>(
    root: &T,
    ctx: &ContextSelectionSet<'a>,
    selection_set: &'a SelectionSet,
    selected: &mut Vec<Selected<'a>>,
    slots: &mut Vec<Slot<'a>>,
) -> bool {
    let fragments = &ctx.query_env.fragments;
    for selection in &selection_set.items {
        let (type_condition, fragment) = match &selection.node {
            Selection::Field(positioned) => {
                let field = &positioned.node;
                if !field.directives.is_empty() {
                    return false;
                }
                let key = &field.response_key().node;
                // A dozen keys at most: a scan costs less than hashing each.
                if selected.iter().any(|&(seen, _)| seen == key) {
                    // A scalar repeated is the same value (validation); objects merge.
                    if field.selection_set.node.items.is_empty() {
                        continue;
                    }
                    return false;
                }
                let plain = if field.arguments.is_empty() {
                    value_of(root, &field.name.node)
                } else {
                    None
                };
                selected.push((key, &field.name.node));
                slots.push(plain.map_or(Slot::Deferred(positioned), Slot::Ready));
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
        if applies(root, ctx, type_condition) && !collect(root, ctx, fragment, selected, slots) {
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
