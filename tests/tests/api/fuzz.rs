//! A schema-driven fuzzer against a live server.
//!
//! Documents and variables are generated from `schema.graphql`: random root fields and
//! selections, arguments mostly of the right type and sometimes not, huge and deeply
//! nested values, unicode, random ids, unknown fields, aliases and fragments, sent as
//! the anonymous caller, a customer and an admin. Every answer must be GraphQL JSON
//! whose errors carry a code other than INTERNAL, never a 5xx, and the server must
//! answer `{ __typename }` after every case.
//!
//! `CLIENTELE_FUZZ_CASES` sets the number of cases (CI runs 20,000 on each backend; a
//! plain `cargo test` runs 1,000) and `CLIENTELE_FUZZ_SEED` replays a run. Cases it
//! found became named tests in `bad_input.rs` and `abuse.rs`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use async_graphql::{Name, Number, Value};
use serde_json::json;
use tests::TestApp;

/// Stop early past this, whatever the case count: CI's time is bounded too.
const TIME_BUDGET: Duration = Duration::from_secs(600);

struct Field {
    name: String,
    args: Vec<(String, Type)>,
    ty: Type,
}

enum Kind {
    Object(Vec<Field>),
    Input(Vec<(String, Type)>),
    Enum(Vec<String>),
    Scalar,
}

struct Schema(HashMap<String, Kind>);

impl Schema {
    fn load() -> Self {
        let sdl =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql"))
                .expect("schema.graphql");
        let document = async_graphql::parser::parse_schema(&sdl).expect("schema parses");
        let mut types = HashMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(definition) = definition else {
                continue;
            };
            let definition = definition.node;
            let kind = match definition.kind {
                TypeKind::Object(object) => Kind::Object(
                    object
                        .fields
                        .into_iter()
                        .map(|f| Field {
                            name: f.node.name.node.to_string(),
                            args: f
                                .node
                                .arguments
                                .into_iter()
                                .map(|a| (a.node.name.node.to_string(), a.node.ty.node))
                                .collect(),
                            ty: f.node.ty.node,
                        })
                        .collect(),
                ),
                TypeKind::InputObject(input) => Kind::Input(
                    input
                        .fields
                        .into_iter()
                        .map(|f| (f.node.name.node.to_string(), f.node.ty.node))
                        .collect(),
                ),
                TypeKind::Enum(e) => Kind::Enum(
                    e.values
                        .into_iter()
                        .map(|v| v.node.value.node.to_string())
                        .collect(),
                ),
                _ => Kind::Scalar,
            };
            types.insert(definition.name.node.to_string(), kind);
        }
        Self(types)
    }
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

struct Generator<'a> {
    schema: &'a Schema,
    rng: fastrand::Rng,
    ids: Vec<String>,
    variables: serde_json::Map<String, serde_json::Value>,
    declarations: Vec<String>,
    fragments: Vec<String>,
}

impl Generator<'_> {
    fn chance(&mut self, percent: u32) -> bool {
        self.rng.u32(0..100) < percent
    }

    fn string(&mut self) -> String {
        match self.rng.u32(0..10) {
            0 if self.chance(30) => "x".repeat(self.rng.usize(1_000..60_000)),
            1 => "a ".repeat(self.rng.usize(10..5_000)),
            2 => "Zoë 日本 😀 \u{202e} \u{0} \\ \" %_".to_owned(),
            3 => String::new(),
            4 => format!("{}@example.com", self.rng.u32(0..5)),
            5 => "   ".to_owned(),
            _ => {
                let len = self.rng.usize(1..20);
                (0..len).map(|_| self.rng.alphanumeric()).collect()
            }
        }
    }

    fn json(&mut self, depth: usize) -> Value {
        if depth > 0 && self.chance(70) {
            let mut map = async_graphql::indexmap::IndexMap::new();
            map.insert(Name::new("k"), self.json(depth - 1));
            return Value::Object(map);
        }
        match self.rng.u32(0..4) {
            0 => Value::Number(Number::from(self.rng.i64(..))),
            1 => Value::String(self.string()),
            2 => Value::List(vec![Value::Boolean(true), Value::Null]),
            _ => Value::Boolean(false),
        }
    }

    fn wrong(&mut self) -> Value {
        match self.rng.u32(0..6) {
            0 => Value::String(self.string()),
            1 => Value::Number(Number::from(self.rng.i64(..))),
            2 => Value::Boolean(true),
            3 => Value::List((0..self.rng.usize(0..5)).map(|_| Value::Null).collect()),
            4 => {
                let depth = self.rng.usize(1..60);
                self.json(depth)
            }
            _ => Value::Null,
        }
    }

    fn value(&mut self, ty: &Type, depth: usize) -> Value {
        if self.chance(2) {
            return self.wrong();
        }
        if ty.nullable && self.chance(10) {
            return Value::Null;
        }
        match &ty.base {
            BaseType::List(inner) => {
                let len = if self.chance(3) {
                    self.rng.usize(100..3_000)
                } else {
                    self.rng.usize(0..4)
                };
                Value::List((0..len).map(|_| self.value(inner, depth)).collect())
            }
            BaseType::Named(name) => match name.as_str() {
                "Int" => Value::Number(Number::from(match self.rng.u32(0..4) {
                    0 => self.rng.i64(..),
                    1 => -1,
                    _ => self.rng.i64(0..150),
                })),
                "Float" => {
                    Value::Number(Number::from_f64(self.rng.f64() * 1e6).unwrap_or(Number::from(0)))
                }
                "Boolean" => Value::Boolean(self.rng.bool()),
                "ID" => Value::String(match self.rng.u32(0..4) {
                    0 => uuid::Uuid::now_v7().to_string(),
                    1 => self.string(),
                    _ => self.ids[self.rng.usize(0..self.ids.len())].clone(),
                }),
                "String" => Value::String(self.string()),
                "DateTime" => Value::String(if self.rng.bool() {
                    "2025-01-01T00:00:00Z".to_owned()
                } else {
                    self.string()
                }),
                "Long" => Value::Number(Number::from(self.rng.i64(..))),
                "JSON" => {
                    let depth = self.rng.usize(0..40);
                    self.json(depth)
                }
                other => match self.schema.0.get(other) {
                    Some(Kind::Enum(values)) => {
                        Value::Enum(Name::new(&values[self.rng.usize(0..values.len())]))
                    }
                    Some(Kind::Input(fields)) if depth < 4 => {
                        let mut map = async_graphql::indexmap::IndexMap::new();
                        for (field, ty) in fields {
                            if !ty.nullable || self.chance(50) {
                                map.insert(Name::new(field), self.value(ty, depth + 1));
                            }
                        }
                        if self.chance(5) {
                            map.insert(Name::new("noSuchField"), Value::Null);
                        }
                        Value::Object(map)
                    }
                    _ => Value::Null,
                },
            },
        }
    }

    /// An argument: inline, or through a variable declared with the argument's type.
    fn argument(&mut self, name: &str, ty: &Type) -> String {
        let value = self.value(ty, 0);
        if self.chance(50) {
            let variable = format!("v{}", self.declarations.len());
            self.declarations.push(format!("${variable}: {ty}"));
            let json = serde_json::to_value(&value).unwrap_or(serde_json::Value::Null);
            self.variables.insert(variable.clone(), json);
            format!("{name}: ${variable}")
        } else {
            format!("{name}: {value}")
        }
    }

    fn selection(&mut self, type_name: &str, depth: usize) -> String {
        let Some(Kind::Object(fields)) = self.schema.0.get(type_name) else {
            return String::new();
        };
        let mut out = String::from("{ ");
        for n in 0..self.rng.usize(1..4) {
            if self.chance(1) {
                out.push_str("noSuchField ");
                continue;
            }
            if self.chance(5) {
                out.push_str("__typename ");
                continue;
            }
            if depth < 5 && self.chance(4) {
                let inner = self.selection(type_name, depth + 1);
                out.push_str(&format!("... on {type_name} {inner} "));
                continue;
            }
            if depth < 5 && self.chance(3) {
                let name = format!("f{}", self.fragments.len());
                let inner = self.selection(type_name, depth + 1);
                self.fragments
                    .push(format!("fragment {name} on {type_name} {inner}"));
                out.push_str(&format!("...{name} "));
                continue;
            }
            let field = &fields[self.rng.usize(0..fields.len())];
            // Always aliased when it takes arguments: two selections of one field
            // with different arguments are a conflict the validator reports.
            if !field.args.is_empty() || self.chance(10) {
                out.push_str(&format!("a{depth}_{n}: "));
            }
            out.push_str(&field.name);
            let mut args = Vec::new();
            for (name, ty) in &field.args {
                if !ty.nullable || self.chance(40) {
                    args.push(self.argument(name, ty));
                }
            }
            if !args.is_empty() {
                out.push_str(&format!("({})", args.join(", ")));
            }
            let inner = named(&field.ty);
            if matches!(self.schema.0.get(inner), Some(Kind::Object(_))) {
                if depth < 6 {
                    out.push(' ');
                    out.push_str(&self.selection(inner, depth + 1));
                } else {
                    out.push_str(" { __typename }");
                }
            }
            out.push(' ');
        }
        out.push('}');
        out
    }

    fn case(&mut self) -> (String, serde_json::Value) {
        self.variables.clear();
        self.declarations.clear();
        self.fragments.clear();
        let (keyword, root) = if self.chance(60) {
            ("query", "Query")
        } else {
            ("mutation", "Mutation")
        };
        let selection = self.selection(root, 0);
        let declarations = if self.declarations.is_empty() {
            String::new()
        } else {
            format!("({})", self.declarations.join(", "))
        };
        (
            format!(
                "{keyword} Fuzz{declarations} {selection}\n{}",
                self.fragments.join("\n")
            ),
            serde_json::Value::Object(self.variables.clone()),
        )
    }
}

#[tokio::test]
async fn generated_documents_never_break_the_server() {
    let cases: usize = std::env::var("CLIENTELE_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    let seed: u64 = std::env::var("CLIENTELE_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20261201);
    let app = TestApp::spawn().await;
    // Generated cases send mail nobody reads.
    app.allow_undelivered();
    api::seed::run(app.db(), 20).await.expect("seeded");
    let admin = app.admin_token().await;
    let (mut customer, customer_id) = app.register("fuzz@example.com").await;
    let schema = Schema::load();
    let mut generator = Generator {
        schema: &schema,
        rng: fastrand::Rng::with_seed(seed),
        ids: vec![customer_id],
        variables: serde_json::Map::new(),
        declarations: Vec::new(),
        fragments: Vec::new(),
    };
    let page = app.data(Some(&admin), "{ customers(first: 20) { nodes { id orders { nodes { id } } } } customerGroups { nodes { id } } }", json!({})).await;
    for node in page["customers"]["nodes"].as_array().into_iter().flatten() {
        generator.ids.extend(node["id"].as_str().map(str::to_owned));
        for order in node["orders"]["nodes"].as_array().into_iter().flatten() {
            generator
                .ids
                .extend(order["id"].as_str().map(str::to_owned));
        }
    }
    for group in page["customerGroups"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        generator
            .ids
            .extend(group["id"].as_str().map(str::to_owned));
    }

    let started = Instant::now();
    let mut run = 0;
    let mut codes: HashMap<String, usize> = HashMap::new();
    let mut registered = 0;
    while run < cases && started.elapsed() < TIME_BUDGET {
        // A case may delete the customer or change its password: keep a live one, so
        // the customer's view stays covered.
        if run % 100 == 0 {
            let me = app.gql(Some(&customer), "{ me { id } }", json!({})).await;
            if me.get("errors").is_some() {
                registered += 1;
                customer = app
                    .register(&format!("fuzz{registered}@example.com"))
                    .await
                    .0;
            }
        }
        let (query, variables) = generator.case();
        let token = match run % 3 {
            0 => None,
            1 => Some(customer.as_str()),
            _ => Some(admin.as_str()),
        };
        let mut request = app
            .http()
            .post(format!("{}/graphql", app.base_url))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let shown = || {
            format!(
                "case {run} (seed {seed}): {query}\nvariables: {variables}\nanswer: {status} {text}"
            )
        };
        assert!(!status.is_server_error(), "{}", shown());
        let body: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {}", shown()));
        assert!(
            body.get("data").is_some() || body.get("errors").is_some(),
            "{}",
            shown()
        );
        for error in body["errors"].as_array().into_iter().flatten() {
            assert!(error["message"].is_string(), "{}", shown());
            let code = error["extensions"]["code"]
                .as_str()
                .unwrap_or_else(|| panic!("no code: {}", shown()));
            assert_ne!(code, "INTERNAL", "{}", shown());
            *codes.entry(code.to_owned()).or_default() += 1;
        }
        let alive = app.gql(None, "{ __typename }", json!({})).await;
        assert_eq!(alive["data"]["__typename"], "Query", "{}", shown());
        run += 1;
    }
    let mut codes: Vec<_> = codes.into_iter().collect();
    codes.sort();
    println!(
        "fuzz: {run} cases (seed {seed}) in {:.1?}, no INTERNAL, no 5xx; error codes seen: {codes:?}",
        started.elapsed()
    );
    assert!(
        run >= cases.min(100),
        "only {run} cases ran in the time budget"
    );
}
