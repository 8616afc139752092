//! Keyset pagination: walking forward and backward visits every row exactly once, in
//! the ordering's order, even when many rows share a sort key.

use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tests::{CustomerSpec, TestApp, at, node_ids};
use uuid::Uuid;

const PAGE: i64 = 7;

/// Walks a connection page by page in both directions and checks that each walk
/// yields exactly `expected`. `connection` picks the connection out of `data`.
async fn walk_both_ways(
    app: &TestApp,
    token: &str,
    query: &str,
    variables: Value,
    connection: impl Fn(&Value) -> &Value,
    expected: &[String],
) {
    let with = |extra: Value| {
        let mut all = variables.clone();
        all.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        all
    };

    let mut forward = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app
            .data(
                Some(token),
                query,
                with(json!({ "first": PAGE, "after": after })),
            )
            .await;
        let page = connection(&data);
        forward.extend(node_ids(page));
        let info = &page["pageInfo"];
        assert_eq!(info["hasPreviousPage"], !after.is_null(), "{info}");
        if info["hasNextPage"] == false {
            assert!(node_ids(page).len() as i64 <= PAGE);
            break;
        }
        assert_eq!(node_ids(page).len() as i64, PAGE);
        after = info["endCursor"].clone();
        assert!(
            forward.len() <= expected.len(),
            "forward walk does not end: {variables} {forward:?} {expected:?}"
        );
    }
    assert_eq!(forward, expected, "forward walk");

    let mut backward: Vec<String> = Vec::new();
    let mut before = Value::Null;
    loop {
        let data = app
            .data(
                Some(token),
                query,
                with(json!({ "last": PAGE, "before": before })),
            )
            .await;
        let page = connection(&data);
        let mut ids = node_ids(page);
        ids.append(&mut backward);
        backward = ids;
        let info = &page["pageInfo"];
        assert_eq!(info["hasNextPage"], !before.is_null(), "{info}");
        if info["hasPreviousPage"] == false {
            break;
        }
        before = info["startCursor"].clone();
        assert!(
            backward.len() <= expected.len(),
            "backward walk does not end"
        );
    }
    assert_eq!(backward, expected, "backward walk");
}

struct Row {
    id: Uuid,
    email: String,
    last_name: Option<&'static str>,
    created: i64,
}

/// 25 customers over three instants, with five last names (and some without).
async fn customers(app: &TestApp) -> Vec<Row> {
    const LAST_NAMES: [Option<&str>; 6] = [
        Some("Smith"),
        None,
        Some("jones"),
        Some("Brown"),
        Some("Smith"),
        Some("Adams"),
    ];
    let mut rows = Vec::new();
    for n in 0..25 {
        // Emails deliberately not in creation order.
        let email = format!("c{:02}@example.com", (n * 7) % 25);
        let last_name = LAST_NAMES[n as usize % LAST_NAMES.len()];
        let created = n % 3;
        let id = app
            .customer(CustomerSpec {
                email: &email,
                has_account: n % 2 == 0,
                last_name,
                created_at: Some(at(created)),
                ..Default::default()
            })
            .await;
        rows.push(Row {
            id,
            email,
            last_name,
            created,
        });
    }
    rows
}

const CUSTOMERS: &str =
    "query($first: Int, $after: String, $last: Int, $before: String, $sort: CustomerSort) {
    customers(first: $first, after: $after, last: $last, before: $before, sort: $sort) {
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        nodes { id }
    }
}";

#[tokio::test]
async fn customers_walk_without_gaps_or_repeats_in_every_ordering() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let rows = customers(&app).await;

    type Key = Box<dyn Fn(&Row) -> (String, Uuid)>;
    let orderings: [(&str, Key); 3] = [
        (
            "CREATED_AT",
            Box::new(|r| (format!("{:03}", r.created), r.id)),
        ),
        ("EMAIL", Box::new(|r| (r.email.clone(), r.id))),
        // Case-insensitive, missing last names first.
        (
            "LAST_NAME",
            Box::new(|r| (r.last_name.unwrap_or("").to_lowercase(), r.id)),
        ),
    ];
    for (field, key) in &orderings {
        for direction in ["ASC", "DESC"] {
            let mut sorted: Vec<&Row> = rows.iter().collect();
            sorted.sort_by_key(|row| key(row));
            if direction == "DESC" {
                sorted.reverse();
            }
            let expected: Vec<String> = sorted.iter().map(|r| r.id.to_string()).collect();
            let sort = json!({ "sort": { "field": field, "direction": direction } });

            let all = app
                .data(
                    Some(&token),
                    CUSTOMERS,
                    json!({ "first": 100, "sort": sort["sort"] }),
                )
                .await;
            assert_eq!(node_ids(&all["customers"]), expected, "{field} {direction}");
            walk_both_ways(
                &app,
                &token,
                CUSTOMERS,
                sort,
                |d| &d["customers"],
                &expected,
            )
            .await;
        }
    }
}

#[tokio::test]
async fn nested_connections_page_under_ties_too() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let owner = app
        .customer(CustomerSpec {
            email: "owner@example.com",
            ..Default::default()
        })
        .await;
    let group = app.group("Regulars").await;
    let mut orders = Vec::new();
    let mut members = Vec::new();
    for n in 0..17 {
        // Three orders per instant: ties broken by id, newest first.
        orders.push((
            at(n / 3),
            app.order(owner, "owner@example.com", at(n / 3), &[("Tea", 1, 100)])
                .await,
        ));
        let member = app
            .customer(CustomerSpec {
                email: &format!("m{n}@example.com"),
                created_at: Some(at(n / 4)),
                ..Default::default()
            })
            .await;
        app.join(group, member).await;
        members.push((at(n / 4), member));
    }
    orders.sort();
    orders.reverse();
    members.sort();
    members.reverse();
    let expected_orders: Vec<String> = orders.iter().map(|(_, id)| id.to_string()).collect();
    let expected_members: Vec<String> = members.iter().map(|(_, id)| id.to_string()).collect();

    walk_both_ways(
        &app,
        &token,
        "query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
            customer(id: $id) { orders(first: $first, after: $after, last: $last, before: $before) {
                pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { id } } } }",
        json!({ "id": owner }),
        |d| &d["customer"]["orders"],
        &expected_orders,
    )
    .await;
    walk_both_ways(
        &app,
        &token,
        "query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
            customerGroup(id: $id) { customers(first: $first, after: $after, last: $last, before: $before) {
                pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { id } } } }",
        json!({ "id": group }),
        |d| &d["customerGroup"]["customers"],
        &expected_members,
    )
    .await;
}

#[tokio::test]
async fn groups_and_orders_lists_walk_both_ways() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let owner = app
        .customer(CustomerSpec {
            email: "owner@example.com",
            ..Default::default()
        })
        .await;
    let mut groups = Vec::new();
    let mut orders = Vec::new();
    for n in 0..16 {
        let name = format!("Group {:02}", (n * 5) % 16);
        groups.push((name.clone(), app.group(&name).await));
        orders.push((
            at(n % 2),
            app.order(owner, "owner@example.com", at(n % 2), &[("Tea", 1, 1)])
                .await,
        ));
    }
    groups.sort();
    orders.sort();
    orders.reverse();
    walk_both_ways(
        &app,
        &token,
        "query($first: Int, $after: String, $last: Int, $before: String) {
            customerGroups(first: $first, after: $after, last: $last, before: $before) {
                pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { id } } }",
        json!({}),
        |d| &d["customerGroups"],
        &groups
            .iter()
            .map(|(_, id)| id.to_string())
            .collect::<Vec<_>>(),
    )
    .await;
    walk_both_ways(
        &app,
        &token,
        "query($first: Int, $after: String, $last: Int, $before: String) {
            orders(first: $first, after: $after, last: $last, before: $before) {
                pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { id } } }",
        json!({}),
        |d| &d["orders"],
        &orders
            .iter()
            .map(|(_, id)| id.to_string())
            .collect::<Vec<_>>(),
    )
    .await;
}

#[tokio::test]
async fn rows_inserted_between_pages_are_neither_skipped_nor_repeated() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let sort = json!({ "field": "CREATED_AT", "direction": "ASC" });
    for n in 0..6 {
        app.customer(CustomerSpec {
            email: &format!("early{n}@example.com"),
            created_at: Some(at(n)),
            ..Default::default()
        })
        .await;
    }
    let first = app
        .data(Some(&token), CUSTOMERS, json!({ "first": 3, "sort": sort }))
        .await;
    let seen = node_ids(&first["customers"]);
    // A customer created before the cursor must not shift the next page.
    app.customer(CustomerSpec {
        email: "inserted@example.com",
        created_at: Some(at(0)),
        ..Default::default()
    })
    .await;
    let next = app
        .data(
            Some(&token),
            CUSTOMERS,
            json!({ "first": 10, "after": first["customers"]["pageInfo"]["endCursor"], "sort": sort }),
        )
        .await;
    let rest = node_ids(&next["customers"]);
    assert_eq!(rest.len(), 3);
    assert!(rest.iter().all(|id| !seen.contains(id)));
}

#[tokio::test]
async fn bad_page_arguments_are_typed_errors() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    app.customer(CustomerSpec {
        email: "one@example.com",
        ..Default::default()
    })
    .await;
    let by_email = app
        .data(
            Some(&token),
            CUSTOMERS,
            json!({ "first": 1, "sort": { "field": "EMAIL", "direction": "ASC" } }),
        )
        .await;
    let email_cursor = by_email["customers"]["pageInfo"]["endCursor"].clone();
    for variables in [
        json!({ "first": 101 }),
        json!({ "first": -1 }),
        json!({ "last": 101 }),
        json!({ "first": 1, "last": 1 }),
        json!({ "after": "not a cursor" }),
        json!({ "before": "bm90IGpzb24" }),
        // A cursor from another ordering.
        json!({ "after": email_cursor }),
    ] {
        let response = app.gql(Some(&token), CUSTOMERS, variables.clone()).await;
        assert_eq!(
            tests::error_code(&response),
            "BAD_USER_INPUT",
            "{variables}"
        );
        assert!(
            response["errors"][0]["extensions"]["field"].is_string(),
            "{response}"
        );
    }
    let empty = app
        .data(Some(&token), CUSTOMERS, json!({ "first": 0 }))
        .await;
    assert_eq!(node_ids(&empty["customers"]).len(), 0);
    assert_eq!(empty["customers"]["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn nested_pages_for_more_parents_than_one_statement_holds_are_complete() {
    let app = TestApp::spawn().await;
    api::seed::run(app.db(), 1_200).await.unwrap();
    let token = app.admin_token().await;
    // 20 groups x up to 100 members: well over the 400 parents one statement takes.
    let data = app
        .data(
            Some(&token),
            "{ customerGroups(first: 20) { nodes { customers(first: 100) { nodes {
                id orders(first: 2) { nodes { id customer { id } } } } } } } }",
            json!({}),
        )
        .await;
    let orders = entity::order::Entity::find().all(app.db()).await.unwrap();
    let mut parents = 0;
    for group in data["customerGroups"]["nodes"].as_array().unwrap() {
        for customer in group["customers"]["nodes"].as_array().unwrap() {
            parents += 1;
            let id = customer["id"].as_str().unwrap();
            let mut expected: Vec<_> = orders
                .iter()
                .filter(|o| o.customer_id.to_string() == id)
                .map(|o| (o.created_at, o.id))
                .collect();
            expected.sort();
            expected.reverse();
            let expected: Vec<String> = expected
                .iter()
                .take(2)
                .map(|(_, id)| id.to_string())
                .collect();
            assert_eq!(node_ids(&customer["orders"]), expected);
            for order in customer["orders"]["nodes"].as_array().unwrap() {
                assert_eq!(order["customer"]["id"], customer["id"]);
            }
        }
    }
    assert!(
        parents > api::domain::pagination::PARENTS_PER_STATEMENT,
        "{parents}"
    );
}

/// `totalCount` stops at the count limit: exact below it, the limit with `AT_LEAST`
/// above it, on every connection that counts a table that grows.
#[tokio::test]
async fn counts_stop_at_the_count_limit() {
    let app = TestApp::spawn_with(|settings| settings.count_limit = 10).await;
    api::seed::run(app.db(), 300).await.unwrap();
    let token = app.admin_token().await;
    let data = app
        .data(
            Some(&token),
            "{ customers(first: 1) { totalCount totalCountPrecision }
               orders(first: 1) { totalCount totalCountPrecision }
               customerGroups(first: 1) { totalCount totalCountPrecision
                 nodes { customers(first: 1) { totalCount totalCountPrecision } } }
               one: customers(first: 1, filter: { search: \"hopper.1\" }) { totalCount totalCountPrecision }
               none: customers(first: 1, filter: { search: \"nobody\" }) { totalCount totalCountPrecision } }",
            json!({}),
        )
        .await;
    let count = |connection: &Value| {
        (
            connection["totalCount"].as_u64().unwrap(),
            connection["totalCountPrecision"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    };
    let at_least = (10, "AT_LEAST".to_owned());
    assert_eq!(count(&data["customers"]), at_least);
    assert_eq!(count(&data["orders"]), at_least);
    // 20 groups; the seed puts about 20 of 300 customers in each.
    assert_eq!(count(&data["customerGroups"]), at_least);
    assert_eq!(
        count(&data["customerGroups"]["nodes"][0]["customers"]),
        at_least
    );
    let (one, exact) = count(&data["one"]);
    assert!((1..10).contains(&one), "{one}");
    assert_eq!(exact, "EXACT");
    assert_eq!(count(&data["none"]), (0, "EXACT".to_owned()));
}
