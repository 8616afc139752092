//! Objects of plain data, answered in one pass over their selection and written as
//! JSON there and then.
//!
//! async-graphql resolves every field of every object as a boxed future of its own,
//! polled through a `FuturesUnordered`, files each value into the object's map by
//! hashing its name, and the response is then written from that tree of maps and
//! dropped. On a page of 50 customers, the 50 customers, 175 addresses and 150
//! groups, whose fields mostly copy a column, took most of the server's instructions
//! that way (callgrind; docs/performance.md). [`Plain`] takes the selected fields
//! that are its type's [`PlainFields`] (or `__typename`) straight from the object,
//! resolves only the others (a relation, a field with arguments) through the type's
//! own resolvers, concurrently, as the executor would, and writes the object's JSON
//! at once ([`json::written`]). [`PlainList`] does the same for a list whose
//! selection is all plain, reading the selection once and writing the whole list;
//! any other list goes to the executor.
//!
//! Only a request whose response [`json::write_response`] writes (the HTTP edge marks
//! it with [`WrittenResponse`]) takes this path; in any other (a subscription's events)
//! the executor answers these objects as it answers every other.
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
//! repeats the same field), a field that fails is reported and left out, an object
//! none of whose fields is left is null, and `@skip`/`@include` are gone before
//! execution. Anything else (a directive on a selection, an object selected twice
//! under one key, whose selections the executor merges) goes to the executor whole.
//! The schema's one extension has no per-field hooks ([`super::validation`]); one
//! that had them would miss the fields answered here (`schema_builder` says so).
//! `tests/tests/api/plain.rs` holds both paths to the same response.

use std::borrow::Cow;
use std::io::Write as _;

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{ContainerType, ContextSelectionSet, Name, OutputType, Positioned};
use async_graphql::{ServerResult, Value};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::json::{self, WrittenResponse};

/// A type some of whose fields are computed from the object alone.
pub trait PlainFields: ContainerType {
    /// The field's value, exactly as the field's resolver would give it, when the
    /// field takes no arguments, no context and cannot fail; `None` for any other.
    fn plain_field(&self, name: &str) -> Option<Column<'_>>;
}

/// A plain field's value, borrowed from its object, as its resolver gives it.
pub enum Column<'a> {
    Null,
    Boolean(bool),
    Int(i64),
    Text(Cow<'a, str>),
    /// An `ID`: the id in its hyphenated lower-case form, as `to_id` writes it.
    Id(Uuid),
    /// A `DateTime`: RFC 3339, as async-graphql's scalar writes it.
    Time(DateTime<Utc>),
}

impl<'a> Column<'a> {
    pub fn str(text: &'a str) -> Self {
        Column::Text(Cow::Borrowed(text))
    }

    /// An optional text column: `null` or the string.
    pub fn text(value: Option<&'a str>) -> Self {
        value.map_or(Column::Null, Column::str)
    }

    /// An optional time: `null` or the time.
    pub fn time(value: Option<DateTime<Utc>>) -> Self {
        value.map_or(Column::Null, Column::Time)
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Column::Null => out.extend_from_slice(b"null"),
            Column::Boolean(yes) => json::write_bool(out, *yes),
            Column::Int(number) => {
                // Into the buffer, without the String `to_string` would make; writing
                // to a Vec cannot fail.
                let _ = write!(out, "{number}");
            }
            Column::Text(text) => json::write_str(out, text),
            Column::Id(id) => {
                json::write_unescaped(out, id.hyphenated().encode_lower(&mut [0; 36]));
            }
            Column::Time(at) => json::write_unescaped(out, &at.to_rfc3339()),
        }
    }
}

/// `T`, its plain fields answered in one pass and written as JSON (module docs); the
/// others are resolved as the executor resolves them, concurrently, and every key
/// is in selection order.
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
            Some(selected) => Ok(write_object(&self.0, ctx, selected).await),
            None => self.0.resolve(ctx, field).await,
        }
    }
}

/// A list of `T`, written as JSON in one pass when every selected field is plain:
/// the selection is read once, for the first, and the others answer the same fields.
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
        let Some(first) = self.0.first() else {
            return Some(Value::List(Vec::new()));
        };
        let selected = gather(first, ctx)?;
        if selected
            .iter()
            .any(|field| matches!(field.slot, Slot::Deferred(_)))
        {
            return None;
        }
        let mut out = Vec::with_capacity(self.0.len() * selected.len() * BYTES_PER_FIELD);
        out.push(b'[');
        for (n, item) in self.0.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            let mut object = Object::new(&mut out);
            for field in &selected {
                object.column(field.key, &value_of(item, field.name)?);
            }
            object.end();
        }
        out.push(b']');
        Some(json::written(out))
    }
}

/// Room for a field's key and value, written.
const BYTES_PER_FIELD: usize = 32;

/// One selected field: its response key, the field's name (`__typename` too), and
/// its value or what gives it.
struct Selected<'a, 'r> {
    key: &'a Name,
    name: &'a str,
    slot: Slot<'a, 'r>,
}

/// A selected field's value: taken from the object, or a field for the executor's
/// resolver.
enum Slot<'a, 'r> {
    Ready(Column<'r>),
    Deferred(&'a Positioned<Field>),
}

/// An object being written: `{`, its fields, `}`; `null` when it has none.
struct Object<'o> {
    out: &'o mut Vec<u8>,
    start: usize,
}

impl<'o> Object<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        let start = out.len();
        out.push(b'{');
        Object { out, start }
    }

    fn key(&mut self, key: &Name) -> &mut Vec<u8> {
        if self.out.len() > self.start + 1 {
            self.out.push(b',');
        }
        // A response key is a GraphQL name (the parser's), never escaped.
        json::write_unescaped(self.out, key);
        self.out.push(b':');
        self.out
    }

    fn column(&mut self, key: &Name, column: &Column<'_>) {
        column.write(self.key(key));
    }

    fn value(&mut self, key: &Name, value: &Value) {
        json::write_value(self.key(key), value);
    }

    /// Closes the object, or makes it `null` when no field was written: as the
    /// executor answers an object whose every field was skipped or failed. Whether
    /// it had a field.
    fn end(self) -> bool {
        let empty = self.out.len() == self.start + 1;
        if empty {
            self.out.truncate(self.start);
            self.out.extend_from_slice(b"null");
        } else {
            self.out.push(b'}');
        }
        !empty
    }
}

/// The fields `root`'s selection picks, each with its slot; `None` when the request's
/// response is not written here, or the selection needs the executor ([`collect`]).
fn gather<'a, 'r, T: PlainFields>(
    root: &'r T,
    ctx: &ContextSelectionSet<'a>,
) -> Option<Vec<Selected<'a, 'r>>> {
    ctx.data_opt::<WrittenResponse>()?;
    let mut selected = Vec::with_capacity(FIELDS_EXPECTED);
    collect(root, ctx, &ctx.item.node, &mut selected).then_some(selected)
}

/// Room for the fields of an address or a customer.
const FIELDS_EXPECTED: usize = 16;

/// `root`'s object as JSON: the plain fields as they are, the deferred ones resolved
/// concurrently by `root`'s own resolvers. As the executor does, a field that fails
/// is reported on the request and left out of its object.
async fn write_object<T: PlainFields + 'static>(
    root: &T,
    ctx: &ContextSelectionSet<'_>,
    selected: Vec<Selected<'_, '_>>,
) -> Value {
    let deferred = selected.iter().filter_map(|field| match field.slot {
        Slot::Ready(_) => None,
        Slot::Deferred(field) => Some(async move {
            let field_ctx = ctx.with_field(field);
            root.resolve_field(&field_ctx).await
        }),
    });
    let mut resolved = futures_util::future::join_all(deferred).await.into_iter();
    let mut out = Vec::with_capacity(selected.len() * BYTES_PER_FIELD);
    let mut object = Object::new(&mut out);
    for field in &selected {
        match &field.slot {
            Slot::Ready(column) => object.column(field.key, column),
            Slot::Deferred(_) => match resolved.next() {
                Some(Ok(value)) => object.value(field.key, &value.unwrap_or_default()),
                Some(Err(error)) => ctx.add_error(error),
                None => unreachable!("one result per deferred field"),
            },
        }
    }
    if object.end() {
        json::written(out)
    } else {
        Value::Null
    }
}

fn value_of<'r, T: PlainFields>(root: &'r T, name: &str) -> Option<Column<'r>> {
    if name == "__typename" {
        Some(Column::Text(root.introspection_type_name()))
    } else {
        root.plain_field(name)
    }
}

/// Adds the selection's fields to `selected`, each response key once, with its slot;
/// false as soon as one needs the executor's own handling: a directive, or a key
/// selected twice with sub-selections the executor would merge.
fn collect<'a, 'r, T: PlainFields>(
    root: &'r T,
    ctx: &ContextSelectionSet<'a>,
    selection_set: &'a SelectionSet,
    selected: &mut Vec<Selected<'a, 'r>>,
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
                if selected.iter().any(|field| field.key == key) {
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
                selected.push(Selected {
                    key,
                    name: &field.name.node,
                    slot: plain.map_or(Slot::Deferred(positioned), Slot::Ready),
                });
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
        if applies(root, ctx, type_condition) && !collect(root, ctx, fragment, selected) {
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
