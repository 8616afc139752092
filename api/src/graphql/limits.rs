//! Documents are bounded before they run.
//!
//! [`DocumentLimits::prepare`] is the parse phase of every request: it refuses a
//! document that is too long or nests too deeply before the parser sees it, parses it,
//! walks it once to price it (aliases, root fields, directives, depth and the number of
//! selections once every fragment is expanded, each fragment priced once and
//! memoised, so the walk is linear in the document however the fragments multiply),
//! and coerces the variables against their declared types. A document that passed is
//! kept by its text ([`super::documents`]): the next request with the same text skips
//! to the variables. Whatever it refuses is
//! `INVALID_QUERY` with `extensions.limit`, or `BAD_USER_INPUT` with `extensions.field`
//! for a variable; nothing has executed and no SQL statement has run.
//!
//! The engine's own validation (unknown fields, wrong argument types, the complexity
//! budget) runs after it, inside `Schema::execute`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, FragmentDefinition, OperationType, Selection,
    SelectionSet, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::{ErrorExtensionValues, Name, Pos, Positioned, ServerError, Value, Variables};

use super::documents::{Checked, DocumentCache};
use crate::error::ErrorCode;

/// Root fields that check a password, spend a token or send mail: at most one of them
/// per request, so aliases cannot multiply guesses or messages.
pub const ONCE_PER_REQUEST: [&str; 14] = [
    "login",
    "adminLogin",
    "registerCustomer",
    "changePassword",
    "requestEmailChange",
    "resetPassword",
    "confirmEmailChange",
    "confirmOrderClaim",
    "requestPasswordReset",
    "requestOrderClaim",
    "verifyEmail",
    "resendVerification",
    "requestAccountDeletion",
    "confirmAccountDeletion",
];

/// Deepest bracket nesting the parser is given. The parser recurses once per level, so
/// this bounds its stack use; no real document comes near it.
const MAX_NESTING: usize = 64;

/// Deepest nesting of selection sets once fragments are followed: bounds the pricer's
/// recursion (and far above the depth limit, which refuses real documents sooner).
const MAX_OPEN_SETS: usize = 2 * MAX_NESTING;

/// Nested introspection lists (`types`, `fields`, `inputFields`, `interfaces`,
/// `possibleTypes`): the standard introspection query uses two, each more multiplies
/// the answer by the size of the schema.
const MAX_INTROSPECTION_LISTS: usize = 3;
const INTROSPECTION_LISTS: [&str; 5] = [
    "types",
    "fields",
    "inputFields",
    "interfaces",
    "possibleTypes",
];

/// The name of each limit, as `extensions.limit` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Characters,
    Nesting,
    Depth,
    Aliases,
    RootFields,
    Directives,
    Selections,
    FragmentCycle,
    IntrospectionDepth,
    OncePerRequest,
    Introspection,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Characters => "characters",
            Limit::Nesting => "nesting",
            Limit::Depth => "depth",
            Limit::Aliases => "aliases",
            Limit::RootFields => "rootFields",
            Limit::Directives => "directives",
            Limit::Selections => "selections",
            Limit::FragmentCycle => "fragmentCycle",
            Limit::IntrospectionDepth => "introspectionDepth",
            Limit::OncePerRequest => "oncePerRequest",
            Limit::Introspection => "introspection",
        }
    }
}

/// The limits, from the settings.
#[derive(Debug, Clone)]
pub struct DocumentLimits {
    pub max_chars: usize,
    pub max_depth: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_directives: usize,
    pub max_selections: usize,
    /// Whether `__schema` and `__type` may be asked for.
    pub introspection: bool,
    /// Input types of the schema, to coerce variables.
    inputs: InputTypes,
    /// Documents that passed, by their text.
    documents: Arc<DocumentCache>,
}

impl DocumentLimits {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sdl: &str,
        max_chars: usize,
        max_depth: usize,
        max_aliases: usize,
        max_root_fields: usize,
        max_directives: usize,
        max_selections: usize,
        introspection: bool,
    ) -> Self {
        Self {
            introspection,
            max_chars,
            max_depth,
            max_aliases,
            max_root_fields,
            max_directives,
            max_selections,
            inputs: InputTypes::from_sdl(sdl),
            documents: Arc::default(),
        }
    }

    /// Parses and checks the request's document (or finds it parsed and checked
    /// before), coerces the variables, and leaves the document parsed in the request.
    pub fn prepare(
        &self,
        request: &mut async_graphql::Request,
    ) -> Result<Arc<Checked>, ServerError> {
        let checked = match self.documents.get(&request.query) {
            Some(checked) => checked,
            None => {
                let checked = Arc::new(self.parse_and_check(&request.query)?);
                self.documents.insert(&request.query, checked.clone());
                checked
            }
        };
        self.inputs.coerce(
            &checked.document,
            request.operation_name.as_deref(),
            &request.variables,
        )?;
        request.set_parsed_query(checked.document.clone());
        Ok(checked)
    }

    fn parse_and_check(&self, query: &str) -> Result<Checked, ServerError> {
        if query.chars().count() > self.max_chars {
            return Err(limit_error(
                Limit::Characters,
                format!("the document is longer than {} characters", self.max_chars),
                None,
            ));
        }
        if nesting(query) > MAX_NESTING {
            return Err(limit_error(
                Limit::Nesting,
                format!("the document nests deeper than {MAX_NESTING} brackets"),
                None,
            ));
        }
        let document = async_graphql::parser::parse_query(query).map_err(|error| {
            let mut error = ServerError::from(error);
            set_code(&mut error, ErrorCode::InvalidQuery);
            error
        })?;
        self.check(&document)?;
        let prepared = Prepared::of(&document);
        Ok(Checked::new(document, prepared))
    }

    fn check(&self, document: &ExecutableDocument) -> Result<(), ServerError> {
        let mut pricer = Pricer {
            fragments: &document.fragments,
            priced: HashMap::new(),
            open: 0,
            max_directives: self.max_directives,
        };
        for (_, operation) in document.operations.iter() {
            let pos = Some(operation.pos);
            if operation.node.directives.len() > self.max_directives {
                return Err(self.too_many_directives(pos));
            }
            let cost = pricer.set(&operation.node.selection_set)?;
            let checks = [
                (
                    cost.selections > self.max_selections,
                    Limit::Selections,
                    self.max_selections,
                    "selections once fragments are expanded",
                ),
                (
                    cost.depth > self.max_depth,
                    Limit::Depth,
                    self.max_depth,
                    "levels deep",
                ),
                (
                    cost.aliases > self.max_aliases,
                    Limit::Aliases,
                    self.max_aliases,
                    "aliases",
                ),
                (
                    cost.top_fields > self.max_root_fields,
                    Limit::RootFields,
                    self.max_root_fields,
                    "root fields",
                ),
                (
                    cost.introspection_lists > MAX_INTROSPECTION_LISTS,
                    Limit::IntrospectionDepth,
                    MAX_INTROSPECTION_LISTS,
                    "nested introspection lists",
                ),
            ];
            for (exceeded, limit, max, what) in checks {
                if exceeded {
                    return Err(limit_error(
                        limit,
                        format!("the operation has more than {max} {what}"),
                        pos,
                    ));
                }
            }
            let mut names = Vec::new();
            root_field_names(
                &operation.node.selection_set,
                &document.fragments,
                &mut names,
                0,
            );
            if !self.introspection && names.iter().any(|n| matches!(*n, "__schema" | "__type")) {
                return Err(limit_error(
                    Limit::Introspection,
                    "introspection is disabled on this server".to_owned(),
                    pos,
                ));
            }
            if operation.node.ty == OperationType::Mutation {
                for name in ONCE_PER_REQUEST {
                    if names.iter().filter(|n| **n == name).count() > 1 {
                        return Err(limit_error(
                            Limit::OncePerRequest,
                            format!("`{name}` may appear at most once per request"),
                            pos,
                        ));
                    }
                }
            }
        }
        for fragment in document.fragments.values() {
            if fragment.node.directives.len() > self.max_directives {
                return Err(self.too_many_directives(Some(fragment.pos)));
            }
        }
        Ok(())
    }

    fn too_many_directives(&self, pos: Option<Pos>) -> ServerError {
        limit_error(
            Limit::Directives,
            format!("more than {} directives in one place", self.max_directives),
            pos,
        )
    }
}

/// What the handler needs to know of a prepared document to classify the engine's
/// validation errors: the arguments whose values come from variables, by the position
/// of the argument's name (where the engine reports a value that does not fit) and of
/// its field (where it reports an argument its complexity could not read).
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    variable_arguments: HashMap<Pos, String>,
    /// The name of the document's only operation, when it has one named operation.
    only_operation: Option<String>,
    /// The names of its query operations (`None`: the one anonymous operation).
    queries: Vec<Option<String>>,
}

impl Prepared {
    /// The operation's name when the document has exactly one, named: what the logs
    /// and metrics call a request that did not say `operationName`.
    pub fn only_operation(&self) -> Option<&str> {
        self.only_operation.as_deref()
    }

    /// Whether the operation the request runs is a query, which only reads (and so
    /// may be answered by a standby). Anything else, or an operation the document
    /// does not have, is not.
    pub fn reads_only(&self, operation_name: Option<&str>) -> bool {
        match operation_name {
            Some(name) => self.queries.iter().any(|q| q.as_deref() == Some(name)),
            None => match self.queries.as_slice() {
                [only] => only.is_none() || self.only_operation.is_some(),
                _ => false,
            },
        }
    }

    fn of(document: &ExecutableDocument) -> Self {
        let mut variable_arguments = HashMap::new();
        let mut sets: Vec<&SelectionSet> = document
            .operations
            .iter()
            .map(|(_, operation)| &operation.node.selection_set.node)
            .chain(
                document
                    .fragments
                    .values()
                    .map(|f| &f.node.selection_set.node),
            )
            .collect();
        while let Some(set) = sets.pop() {
            for selection in &set.items {
                match &selection.node {
                    Selection::Field(field) => {
                        for (name, value) in &field.node.arguments {
                            // A value with a variable in it has no constant form.
                            if value.node.clone().into_const().is_none() {
                                variable_arguments.insert(name.pos, name.node.to_string());
                                // The complexity of a field is computed from its
                                // arguments and reported at the field.
                                variable_arguments
                                    .entry(field.pos)
                                    .or_insert_with(|| name.node.to_string());
                            }
                        }
                        sets.push(&field.node.selection_set.node);
                    }
                    Selection::InlineFragment(inline) => sets.push(&inline.node.selection_set.node),
                    Selection::FragmentSpread(_) => {}
                }
            }
        }
        // One anonymous operation is `Single`; named ones are keyed by name.
        let only_operation = match &document.operations {
            DocumentOperations::Multiple(named) if named.len() == 1 => {
                named.keys().next().map(ToString::to_string)
            }
            _ => None,
        };
        let queries = match &document.operations {
            DocumentOperations::Single(operation) => (operation.node.ty == OperationType::Query)
                .then_some(None)
                .into_iter()
                .collect(),
            DocumentOperations::Multiple(named) => named
                .iter()
                .filter(|(_, operation)| operation.node.ty == OperationType::Query)
                .map(|(name, _)| Some(name.to_string()))
                .collect(),
        };
        Self {
            variable_arguments,
            only_operation,
            queries,
        }
    }

    /// The argument a validation error at `locations` is about, when its value came
    /// from the request's variables: then the error is the client's input, not its
    /// document.
    pub fn variable_argument(&self, locations: &[Pos]) -> Option<&str> {
        let (first, rest) = locations.split_first()?;
        let name = self.variable_arguments.get(first)?;
        rest.iter()
            .all(|pos| self.variable_arguments.contains_key(pos))
            .then_some(name.as_str())
    }
}

/// What a selection set costs once its fragments are expanded. Counts saturate.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    /// Fields selected, `__typename` included, at every level.
    selections: usize,
    aliases: usize,
    /// Levels of fields; `ofType`, which only introspection has and which the schema
    /// bounds, does not count, so the standard introspection query fits.
    depth: usize,
    /// Fields at this level.
    top_fields: usize,
    introspection_lists: usize,
}

impl Cost {
    fn add(self, other: Cost) -> Cost {
        Cost {
            selections: self.selections.saturating_add(other.selections),
            aliases: self.aliases.saturating_add(other.aliases),
            depth: self.depth.max(other.depth),
            top_fields: self.top_fields.saturating_add(other.top_fields),
            introspection_lists: self.introspection_lists.max(other.introspection_lists),
        }
    }
}

enum Priced {
    InProgress,
    Done(Cost),
}

struct Pricer<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    priced: HashMap<&'a str, Priced>,
    /// Selection sets being priced right now, one inside the other.
    open: usize,
    max_directives: usize,
}

impl<'a> Pricer<'a> {
    fn set(&mut self, set: &'a Positioned<SelectionSet>) -> Result<Cost, ServerError> {
        // Each selection set being priced is a frame on the stack, and fragments nest
        // sets across the document: the whole chain is bounded (a 900-link chain of
        // fragments once overflowed the stack).
        self.open += 1;
        if self.open > MAX_OPEN_SETS {
            return Err(limit_error(
                Limit::Nesting,
                format!("selections nest more than {MAX_OPEN_SETS} deep through fragments"),
                Some(set.pos),
            ));
        }
        let cost = self.items(set);
        self.open -= 1;
        cost
    }

    fn items(&mut self, set: &'a Positioned<SelectionSet>) -> Result<Cost, ServerError> {
        let mut cost = Cost::default();
        for selection in &set.node.items {
            let (directives, pos) = match &selection.node {
                Selection::Field(field) => (field.node.directives.len(), field.pos),
                Selection::FragmentSpread(spread) => (spread.node.directives.len(), spread.pos),
                Selection::InlineFragment(inline) => (inline.node.directives.len(), inline.pos),
            };
            if directives > self.max_directives {
                return Err(limit_error(
                    Limit::Directives,
                    format!("more than {} directives in one place", self.max_directives),
                    Some(pos),
                ));
            }
            let item = match &selection.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    let inner = self.set(&field.node.selection_set)?;
                    let lists = usize::from(INTROSPECTION_LISTS.contains(&name));
                    Cost {
                        selections: inner.selections.saturating_add(1),
                        aliases: inner
                            .aliases
                            .saturating_add(usize::from(field.node.alias.is_some())),
                        depth: inner.depth + usize::from(name != "ofType"),
                        top_fields: 1,
                        introspection_lists: inner.introspection_lists + lists,
                    }
                }
                Selection::InlineFragment(inline) => self.set(&inline.node.selection_set)?,
                Selection::FragmentSpread(spread) => {
                    self.fragment(&spread.node.fragment_name.node, spread.pos)?
                }
            };
            cost = cost.add(item);
        }
        Ok(cost)
    }

    fn fragment(&mut self, name: &'a Name, pos: Pos) -> Result<Cost, ServerError> {
        match self.priced.get(name.as_str()) {
            Some(Priced::Done(cost)) => return Ok(*cost),
            Some(Priced::InProgress) => {
                return Err(limit_error(
                    Limit::FragmentCycle,
                    format!("fragment `{name}` spreads itself"),
                    Some(pos),
                ));
            }
            None => {}
        }
        // An unknown fragment is the validator's to report; it costs nothing here.
        let Some(fragment) = self.fragments.get(name) else {
            return Ok(Cost::default());
        };
        self.priced.insert(name.as_str(), Priced::InProgress);
        let cost = self.set(&fragment.node.selection_set)?;
        self.priced.insert(name.as_str(), Priced::Done(cost));
        Ok(cost)
    }
}

/// The names of the root fields, through fragments (already checked for cycles).
fn root_field_names<'a>(
    set: &'a Positioned<SelectionSet>,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    names: &mut Vec<&'a str>,
    level: usize,
) {
    if level > fragments.len() {
        return;
    }
    for selection in &set.node.items {
        match &selection.node {
            Selection::Field(field) => names.push(field.node.name.node.as_str()),
            Selection::InlineFragment(inline) => {
                root_field_names(&inline.node.selection_set, fragments, names, level + 1);
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = fragments.get(&spread.node.fragment_name.node) {
                    root_field_names(&fragment.node.selection_set, fragments, names, level + 1);
                }
            }
        }
    }
}

/// The deepest nesting of `{`, `(` and `[` outside strings and comments.
fn nesting(query: &str) -> usize {
    let bytes = query.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'(' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

fn set_code(error: &mut ServerError, code: ErrorCode) {
    error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("code", code.to_value());
}

/// An INVALID_QUERY error naming the limit.
pub fn limit_error(limit: Limit, message: String, pos: Option<Pos>) -> ServerError {
    let mut error = ServerError::new(message, pos);
    set_code(&mut error, ErrorCode::InvalidQuery);
    if let Some(extensions) = error.extensions.as_mut() {
        extensions.set("limit", limit.as_str());
    }
    error
}

/// A BAD_USER_INPUT error for the variable value at `field` (`filter.hasAccount`).
fn variable_error(field: &str, message: String) -> ServerError {
    let mut error = ServerError::new(format!("variable `{field}` {message}"), None);
    set_code(&mut error, ErrorCode::BadUserInput);
    if let Some(extensions) = error.extensions.as_mut() {
        extensions.set("field", field);
    }
    error
}

/// What a variable's value may be, per named input type of the schema.
#[derive(Debug, Clone, Default)]
struct InputTypes(HashMap<String, InputKind>);

#[derive(Debug, Clone)]
enum InputKind {
    Scalar,
    Enum(Vec<String>),
    /// Fields with their types and whether they have a default.
    Object(Vec<(String, Type, bool)>),
}

impl InputTypes {
    fn from_sdl(sdl: &str) -> Self {
        let mut types = HashMap::new();
        // The SDL is the schema's own export: it always parses.
        let Ok(document) = async_graphql::parser::parse_schema(sdl) else {
            return Self(types);
        };
        for definition in document.definitions {
            let TypeSystemDefinition::Type(definition) = definition else {
                continue;
            };
            let definition = definition.node;
            let kind = match definition.kind {
                TypeKind::Scalar => InputKind::Scalar,
                TypeKind::Enum(e) => InputKind::Enum(
                    e.values
                        .into_iter()
                        .map(|v| v.node.value.node.to_string())
                        .collect(),
                ),
                TypeKind::InputObject(object) => InputKind::Object(
                    object
                        .fields
                        .into_iter()
                        .map(|f| {
                            let f = f.node;
                            (
                                f.name.node.to_string(),
                                f.ty.node,
                                f.default_value.is_some(),
                            )
                        })
                        .collect(),
                ),
                _ => continue,
            };
            types.insert(definition.name.node.to_string(), kind);
        }
        Self(types)
    }

    /// Checks the provided variables against the types the operation to run declares,
    /// as the GraphQL specification's CoerceVariableValues does. Only that operation's:
    /// a document of several operations (a client's whole operations file) needs
    /// values for the one it runs. A document whose operation cannot be chosen is left
    /// to the engine, which reports it.
    fn coerce(
        &self,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
    ) -> Result<(), ServerError> {
        let operation = match (&document.operations, operation_name) {
            (DocumentOperations::Single(operation), None) => Some(operation),
            (DocumentOperations::Multiple(named), None) if named.len() == 1 => {
                named.values().next()
            }
            (DocumentOperations::Multiple(named), Some(name)) => named.get(name),
            _ => None,
        };
        if let Some(operation) = operation {
            for definition in &operation.node.variable_definitions {
                let definition = &definition.node;
                let name = definition.name.node.as_str();
                let ty = &definition.var_type.node;
                match variables.get(&definition.name.node) {
                    Some(value) => self.check(ty, value, name)?,
                    None if !ty.nullable && definition.default_value.is_none() => {
                        return Err(variable_error(name, "is required".to_owned()));
                    }
                    None => {}
                }
            }
        }
        Ok(())
    }

    fn check(&self, ty: &Type, value: &Value, path: &str) -> Result<(), ServerError> {
        if matches!(value, Value::Null) {
            return if ty.nullable {
                Ok(())
            } else {
                Err(variable_error(path, "must not be null".to_owned()))
            };
        }
        match &ty.base {
            BaseType::List(item) => match value {
                Value::List(items) => items
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, v)| self.check(item, v, &format!("{path}.{i}"))),
                // A single value stands for a list of one.
                single => self.check(item, single, path),
            },
            BaseType::Named(name) => self.check_named(name.as_str(), value, path),
        }
    }

    fn check_named(&self, name: &str, value: &Value, path: &str) -> Result<(), ServerError> {
        let expected = |what: &str| Err(variable_error(path, format!("must be {what}")));
        match (name, value) {
            // async-graphql declares Rust's 64-bit integers as Int too; the field
            // checks its own range when it parses the value.
            ("Int", Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
            ("Int", _) => expected("an integer"),
            ("Float", Value::Number(_)) => Ok(()),
            ("Float", _) => expected("a number"),
            ("String", Value::String(_)) => Ok(()),
            ("String", _) => expected("a string"),
            ("Boolean", Value::Boolean(_)) => Ok(()),
            ("Boolean", _) => expected("a boolean"),
            ("ID", Value::String(_)) => Ok(()),
            ("ID", Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
            ("ID", _) => expected("an id"),
            _ => match self.0.get(name) {
                // Custom scalars (DateTime, JSON, Long) parse their own values when the
                // field runs and report BAD_USER_INPUT there.
                Some(InputKind::Scalar) | None => Ok(()),
                Some(InputKind::Enum(values)) => {
                    let given = match value {
                        Value::String(s) => Some(s.as_str()),
                        Value::Enum(name) => Some(name.as_str()),
                        _ => None,
                    };
                    match given {
                        Some(given) if values.iter().any(|v| v == given) => Ok(()),
                        _ => expected(&format!("one of {}", values.join(", "))),
                    }
                }
                Some(InputKind::Object(fields)) => {
                    let Value::Object(object) = value else {
                        return expected("an object");
                    };
                    for key in object.keys() {
                        if !fields.iter().any(|(name, _, _)| name == key.as_str()) {
                            return Err(variable_error(
                                &format!("{path}.{key}"),
                                "is not a field of this input".to_owned(),
                            ));
                        }
                    }
                    for (field, ty, has_default) in fields {
                        let path = format!("{path}.{field}");
                        match object.get(field.as_str()) {
                            Some(value) => self.check(ty, value, &path)?,
                            None if !ty.nullable && !has_default => {
                                return Err(variable_error(&path, "is required".to_owned()));
                            }
                            None => {}
                        }
                    }
                    Ok(())
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_ignores_strings_and_comments() {
        assert_eq!(nesting("{ a { b(x: [1]) } }"), 4);
        assert_eq!(
            nesting(
                r#"{ a(s: "{{{{") # {{{{
        }"#
            ),
            2
        );
        assert_eq!(nesting(r#"{ a(s: """ {{{ \""" {{ """) }"#), 2);
    }
}
