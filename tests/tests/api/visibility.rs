//! Who may read what: one table of every field of every object type, walked for every
//! kind of caller. README's "Who sees what" is this table in prose.
//!
//! The callers: an admin; Ada herself; Bob, another customer, after Ada's data; and an
//! anonymous caller who just placed a guest order with the email of a guest who
//! ordered before (the placer). Each reaches each type the best way it has (`me`,
//! `customer(id:)`, `order(id:)`, the `placeOrder` result) and selects one field.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use tests::TestApp;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Caller {
    Admin,
    Ada,
    Bob,
    Placer,
}

const CALLERS: [Caller; 4] = [Caller::Admin, Caller::Ada, Caller::Bob, Caller::Placer];

/// Who reads a field: `A`dmin, `S`elf (Ada), `O`ther customer (Bob), `P`lacer.
/// Every field of a type not listed under its own name gets the type's default.
/// A type, its default readers, and its fields whose readers differ.
type Row = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const MATRIX: &[Row] = &[
    (
        "Customer",
        "AS",
        &[("adminActions", "A"), ("notes", "A"), ("externalId", "A")],
    ),
    ("Address", "AS", &[]),
    (
        "CustomerGroup",
        "AS",
        &[("metadata", "A"), ("adminActions", "A"), ("customers", "A")],
    ),
    ("LoginSession", "AS", &[]),
    ("Consent", "AS", &[]),
    ("Order", "ASP", &[("customer", "AS"), ("transfers", "A")]),
    ("LineItem", "ASP", &[]),
    ("Money", "ASP", &[]),
    ("OrderAddress", "ASP", &[]),
    ("OrderTransfer", "A", &[]),
    ("AdminAction", "A", &[]),
    ("CustomerNote", "A", &[]),
    // Ada reads her own timeline (without staff notes and staff identities).
    ("CustomerEvent", "AS", &[]),
    ("AdminUser", "A", &[]),
];

/// Object types the walk does not enter, and why.
const NOT_WALKED: &[&str] = &[
    // The roots: each of their fields says whom it serves, and the walk starts there.
    "Query",
    "Mutation",
    // Subscriptions are for admins only; a connection of anyone else is refused
    // before any subscription starts (the subscription tests check it).
    "Subscription",
    "LiveEvent",
    // Results of the caller's own credentials or request, returned to that caller only.
    "CustomerSession",
    "AdminSession",
    "OrderClaimRequest",
    // Results of admin-only mutations, returned to that admin only.
    "CustomerUpsert",
    "CustomerRowResult",
    "RowError",
    "CustomerMerge",
    // The answer of an admin-only query (`customerMergeCandidates` refuses everyone
    // else, as the merge tests check).
    "MergeCandidate",
];

fn letter(caller: Caller) -> char {
    match caller {
        Caller::Admin => 'A',
        Caller::Ada => 'S',
        Caller::Bob => 'O',
        Caller::Placer => 'P',
    }
}

/// The ids the fixture made.
struct World {
    ada: String,
    ada_order: String,
    transferred: String,
}

/// How a query reaches one object: text before and after the selection, and the
/// path of the object in `data` (lists: their first element).
#[derive(Clone)]
struct Reach {
    open: String,
    close: String,
    path: Vec<String>,
}

impl Reach {
    fn root(call: &str, field: &str) -> Self {
        Self {
            open: format!("{call} {{ "),
            close: " } }".into(),
            path: vec![field.into()],
        }
    }

    fn nest(mut self, field: &str) -> Self {
        self.open = format!("{}{field} {{ ", self.open);
        self.path.push(field.into());
        self.close = format!(" }}{}", self.close);
        self
    }
}

const GUEST_ORDER: &str = r#"placeOrder(input: { email: "victim@example.com", currencyCode: "EUR",
    lineItems: [{ title: "Tea", quantity: 1, unitPrice: 0 }],
    shippingAddress: { city: "Lyon", countryCode: "FR" } })"#;

fn customer(caller: Caller, w: &World) -> Reach {
    match caller {
        Caller::Admin | Caller::Bob => {
            Reach::root(&format!("query {{ customer(id: \"{}\")", w.ada), "customer")
        }
        Caller::Ada => Reach::root("query { me", "me"),
        Caller::Placer => {
            Reach::root(&format!("mutation {{ {GUEST_ORDER}"), "placeOrder").nest("customer")
        }
    }
}

fn order(caller: Caller, id: &str) -> Reach {
    match caller {
        Caller::Placer => Reach::root(&format!("mutation {{ {GUEST_ORDER}"), "placeOrder"),
        _ => Reach::root(&format!("query {{ order(id: \"{id}\")"), "order"),
    }
}

/// Where each type is reached from, per caller.
fn reach(type_name: &str, caller: Caller, w: &World) -> Reach {
    match type_name {
        "Customer" => customer(caller, w),
        "Address" => customer(caller, w).nest("shippingAddresses"),
        "CustomerGroup" => customer(caller, w).nest("groups"),
        "LoginSession" => customer(caller, w).nest("sessions"),
        "Consent" => customer(caller, w).nest("consents"),
        "AdminAction" => customer(caller, w).nest("adminActions").nest("nodes"),
        "CustomerNote" => customer(caller, w).nest("notes").nest("nodes"),
        "CustomerEvent" => customer(caller, w).nest("events").nest("nodes"),
        "Order" => order(caller, &w.ada_order),
        "LineItem" => order(caller, &w.ada_order).nest("lineItems"),
        "Money" => order(caller, &w.ada_order).nest("total"),
        "OrderAddress" => order(caller, &w.ada_order).nest("shippingAddress"),
        "OrderTransfer" => order(caller, &w.transferred).nest("transfers"),
        "AdminUser" => Reach::root("query { currentAdmin", "currentAdmin"),
        other => panic!("no way to reach {other}"),
    }
}

/// The value at `path` (first element of lists); `None` where the path ends early.
fn dig<'a>(mut value: &'a Value, path: &[String]) -> Option<&'a Value> {
    for key in path {
        while let Value::Array(items) = value {
            value = items.first()?;
        }
        value = value.as_object()?.get(key)?;
    }
    Some(value)
}

async fn fixture(app: &TestApp) -> (World, BTreeMap<&'static str, Option<String>>) {
    let admin = app.admin_token().await;
    // The victim: a guest who ordered before, with a phone and a street.
    app.data(
        None,
        r#"mutation { placeOrder(input: { email: "victim@example.com", currencyCode: "EUR",
            lineItems: [{ title: "Secret purchase", quantity: 1, unitPrice: 9900 }],
            shippingAddress: { firstName: "Vic", phone: "+33 1 23 45 67 89",
                               address1: "7 Hidden Lane", city: "Paris", countryCode: "FR" } }) { id } }"#,
        json!({}),
    )
    .await;
    let (ada_token, ada) = app.register("ada@example.com").await;
    let (bob_token, _) = app.register("bob@example.com").await;
    app.data(
        Some(&ada_token),
        r#"mutation { updateMe(phone: "+44 20 7946 0000", metadata: { vip: true }) { id } }"#,
        json!({}),
    )
    .await;
    app.data(
        Some(&ada_token),
        r#"mutation { addShippingAddress(input: { city: "London", countryCode: "GB" }, useAsBilling: true) { id } }"#,
        json!({}),
    )
    .await;
    app.data(
        Some(&ada_token),
        "mutation { setMyConsent(purpose: EMAIL_MARKETING, granted: true) { id } }",
        json!({}),
    )
    .await;
    let group = app
        .data(
            Some(&admin),
            r#"mutation { createCustomerGroup(name: "VIP", metadata: { tier: 1 }) { id } }"#,
            json!({}),
        )
        .await["createCustomerGroup"]["id"]
        .clone();
    app.data(
        Some(&admin),
        "mutation($g: ID!, $c: [ID!]!) { addCustomersToGroup(groupId: $g, customerIds: $c) { id } }",
        json!({ "g": group, "c": [ada] }),
    )
    .await;
    let note = app
        .data(
            Some(&admin),
            r#"mutation($c: ID!) { addCustomerNote(customerId: $c, body: "Disputed a delivery") { id } }"#,
            json!({ "c": ada }),
        )
        .await["addCustomerNote"]["id"]
        .clone();
    app.data(
        Some(&admin),
        r#"mutation($n: ID!) { updateCustomerNote(id: $n, body: "Disputed a delivery; refunded") { id } }"#,
        json!({ "n": note }),
    )
    .await;
    let place = r#"mutation { placeOrder(input: { email: "ada@example.com", currencyCode: "EUR",
        lineItems: [{ title: "Tea", quantity: 2, unitPrice: 450 }],
        shippingAddress: { city: "London", countryCode: "GB" } }) { id } }"#;
    let ada_order = app.data(Some(&ada_token), place, json!({})).await["placeOrder"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let guest_order = app.data(None, place, json!({})).await["placeOrder"]["id"].clone();
    app.data(
        Some(&admin),
        "mutation($o: ID!, $c: ID!) { transferOrder(orderId: $o, customerId: $c) { id } }",
        json!({ "o": guest_order, "c": ada }),
    )
    .await;
    let tokens = BTreeMap::from([
        ("admin", Some(admin)),
        ("ada", Some(ada_token)),
        ("bob", Some(bob_token)),
        ("placer", None),
    ]);
    let world = World {
        ada,
        ada_order,
        transferred: guest_order.as_str().unwrap().to_owned(),
    };
    (world, tokens)
}

/// Every object type's fields, and whether each field is itself an object (needs a
/// selection).
async fn object_fields(app: &TestApp) -> BTreeMap<String, Vec<(String, bool)>> {
    let schema = app
        .data(
            None,
            "{ __schema { types { name kind fields { name type { kind ofType { kind ofType { kind ofType { kind } } } } } } } }",
            json!({}),
        )
        .await;
    let mut types = BTreeMap::new();
    for t in schema["__schema"]["types"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        if t["kind"] != "OBJECT" || name.starts_with("__") {
            continue;
        }
        let fields = t["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let mut ty = &f["type"];
                while ty["kind"] == "NON_NULL" || ty["kind"] == "LIST" {
                    ty = &ty["ofType"];
                }
                (
                    f["name"].as_str().unwrap().to_owned(),
                    ty["kind"] == "OBJECT",
                )
            })
            .collect();
        types.insert(name.to_owned(), fields);
    }
    types
}

fn is_wrapper(name: &str) -> bool {
    name.ends_with("Connection") || name.ends_with("Edge") || name == "PageInfo"
}

#[tokio::test]
async fn every_field_answers_only_the_callers_the_matrix_names() {
    let app = TestApp::spawn().await;
    let (world, tokens) = fixture(&app).await;
    let types = object_fields(&app).await;

    // The matrix covers every object type, and nothing that is not one.
    let walked: BTreeSet<&str> = MATRIX.iter().map(|(name, _, _)| *name).collect();
    for name in types.keys() {
        let name = name.as_str();
        assert!(
            walked.contains(name) || NOT_WALKED.contains(&name) || is_wrapper(name),
            "{name} is not in the visibility matrix: say who may read it"
        );
    }

    let mut checked = 0;
    for (type_name, default, exceptions) in MATRIX {
        let fields = types
            .get(*type_name)
            .unwrap_or_else(|| panic!("{type_name} is not in the schema"));
        for (field, _) in exceptions.iter() {
            assert!(
                fields.iter().any(|(name, _)| name == field),
                "{type_name}.{field} is not in the schema"
            );
        }
        for (field, is_object) in fields {
            let readers = exceptions
                .iter()
                .find(|(name, _)| name == field)
                .map_or(*default, |(_, readers)| *readers);
            for caller in CALLERS {
                let reach = reach(type_name, caller, &world);
                let selection = if *is_object {
                    format!("{field} {{ __typename }}")
                } else {
                    field.clone()
                };
                let query = format!("{}{selection}{}", reach.open, reach.close);
                let token = match caller {
                    Caller::Admin => tokens["admin"].as_deref(),
                    Caller::Ada => tokens["ada"].as_deref(),
                    Caller::Bob => tokens["bob"].as_deref(),
                    Caller::Placer => None,
                };
                let response = app.gql(token, &query, json!({})).await;
                let mut path = reach.path.clone();
                path.push(field.clone());
                let value = dig(&response["data"], &path);
                let place = format!("{type_name}.{field} as {caller:?}: {query}\n{response:#}");
                if readers.contains(letter(caller)) {
                    assert!(response.get("errors").is_none(), "refused: {place}");
                    assert!(value.is_some(), "not answered: {place}");
                } else {
                    let codes: BTreeSet<&str> = response["errors"]
                        .as_array()
                        .unwrap_or_else(|| panic!("answered: {place}"))
                        .iter()
                        .map(|e| e["extensions"]["code"].as_str().unwrap_or(""))
                        .collect();
                    assert!(
                        codes
                            .iter()
                            .all(|c| ["FORBIDDEN", "UNAUTHENTICATED", "NOT_FOUND"].contains(c)),
                        "refused with another code: {place}"
                    );
                    assert!(
                        value.is_none_or(Value::is_null),
                        "refused but answered: {place}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 200, "walked {checked} field x caller pairs");
}

/// The leak the issue reported, replayed: an anonymous guest order with a victim's
/// email, selecting the victim's whole history.
#[tokio::test]
async fn a_guest_order_reveals_nothing_of_the_guest_record_it_joins() {
    let app = TestApp::spawn().await;
    fixture(&app).await;
    let response = app
        .gql(
            None,
            &format!(
                "mutation {{ {GUEST_ORDER} {{ displayId total {{ amount }}
                  customer {{ email phone metadata
                    shippingAddresses {{ address1 }}
                    orders {{ nodes {{ shippingAddress {{ firstName lastName phone address1 city }}
                                       lineItems {{ title }} total {{ amount }} }} }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    // The order itself answers; the guest record does not.
    assert_eq!(response["data"]["placeOrder"]["total"]["amount"], 0);
    assert_eq!(response["data"]["placeOrder"]["customer"], Value::Null);
    assert_eq!(response["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(
        response["errors"][0]["path"],
        json!(["placeOrder", "customer"])
    );
    let text = response.to_string();
    for secret in ["Hidden Lane", "Secret purchase", "+33 1", "Vic", "9900"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}
