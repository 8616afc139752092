//! Every list filter narrows to exactly the rows it names.

use sea_orm::ActiveModelTrait;
use sea_orm::ActiveValue::{Set, Unchanged};
use serde_json::{Value, json};
use tests::{CustomerSpec, TestApp, at, node_ids};
use uuid::Uuid;

const CUSTOMERS: &str = "query($filter: CustomerFilterInput) {
    customers(first: 100, filter: $filter, sort: { field: EMAIL, direction: ASC }) {
        totalCount nodes { id email } } }";

async fn emails(app: &TestApp, token: &str, filter: Value) -> Vec<String> {
    let data = app
        .data(Some(token), CUSTOMERS, json!({ "filter": filter }))
        .await;
    let connection = &data["customers"];
    let emails: Vec<String> = connection["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(connection["totalCount"], emails.len(), "{filter}");
    emails
}

struct People {
    gold: Uuid,
    silver: Uuid,
    retired: Uuid,
}

async fn people(app: &TestApp) -> People {
    let specs = [
        (
            "anna.berg@example.com",
            true,
            Some("Anna"),
            Some("Berg"),
            0,
            false,
        ),
        (
            "anna@guest.net",
            false,
            Some("Anna"),
            Some("Lind"),
            10,
            false,
        ),
        (
            "per.berg@example.com",
            false,
            Some("Per"),
            Some("Berg"),
            20,
            false,
        ),
        ("100%_real@example.com", true, None, None, 30, false),
        (
            "deleted@example.com",
            true,
            Some("Dee"),
            Some("Berg"),
            40,
            true,
        ),
    ];
    let mut ids = Vec::new();
    for (email, has_account, first_name, last_name, created, deleted) in specs {
        ids.push(
            app.customer(CustomerSpec {
                email,
                has_account,
                first_name,
                last_name,
                created_at: Some(at(created)),
                deleted,
            })
            .await,
        );
    }
    let gold = app.group("Gold").await;
    let silver = app.group("Silver").await;
    let retired = app.group_at("Retired", at(0), true).await;
    // anna.berg is in both gold and silver; per.berg in silver; the deleted
    // customer in gold; anna@guest only in the deleted group.
    app.join(gold, ids[0]).await;
    app.join(silver, ids[0]).await;
    app.join(silver, ids[2]).await;
    app.join(gold, ids[4]).await;
    app.join(retired, ids[1]).await;
    People {
        gold,
        silver,
        retired,
    }
}

#[tokio::test]
async fn customer_filters_each_narrow_the_list() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let p = people(&app).await;
    let live = [
        "100%_real@example.com",
        "anna.berg@example.com",
        "anna@guest.net",
        "per.berg@example.com",
    ];
    assert_eq!(emails(&app, &token, json!(null)).await, live);
    assert_eq!(emails(&app, &token, json!({})).await, live);

    // Search: case-insensitive, over email and both names, every word must match.
    assert_eq!(
        emails(&app, &token, json!({ "search": "BERG" })).await,
        ["anna.berg@example.com", "per.berg@example.com"]
    );
    assert_eq!(
        emails(&app, &token, json!({ "search": "anna berg" })).await,
        ["anna.berg@example.com"]
    );
    assert_eq!(
        emails(&app, &token, json!({ "search": "lind" })).await,
        ["anna@guest.net"]
    );
    assert_eq!(
        emails(&app, &token, json!({ "search": "guest.NET" })).await,
        ["anna@guest.net"]
    );
    // LIKE wildcards in the search are literal characters.
    assert_eq!(
        emails(&app, &token, json!({ "search": "%_" })).await,
        ["100%_real@example.com"]
    );
    assert_eq!(
        emails(&app, &token, json!({ "search": "_" })).await.len(),
        1
    );
    assert!(
        emails(&app, &token, json!({ "search": "nobody" }))
            .await
            .is_empty()
    );

    assert_eq!(
        emails(&app, &token, json!({ "hasAccount": true })).await,
        ["100%_real@example.com", "anna.berg@example.com"]
    );
    assert_eq!(
        emails(&app, &token, json!({ "hasAccount": false })).await,
        ["anna@guest.net", "per.berg@example.com"]
    );

    // Group membership: any of the groups, each customer once, live customers only;
    // membership of a deleted group does not count.
    assert_eq!(
        emails(&app, &token, json!({ "groupIds": [p.gold, p.silver] })).await,
        ["anna.berg@example.com", "per.berg@example.com"]
    );
    assert_eq!(
        emails(&app, &token, json!({ "groupIds": [p.gold] })).await,
        ["anna.berg@example.com"]
    );
    assert!(
        emails(&app, &token, json!({ "groupIds": [p.retired] }))
            .await
            .is_empty()
    );
    assert_eq!(
        emails(
            &app,
            &token,
            json!({ "groupIds": [p.gold], "includeDeleted": true })
        )
        .await,
        ["anna.berg@example.com", "deleted@example.com"]
    );

    // Created range: from inclusive, to exclusive.
    assert_eq!(
        emails(
            &app,
            &token,
            json!({ "createdAfter": at(10), "createdBefore": at(30) })
        )
        .await,
        ["anna@guest.net", "per.berg@example.com"]
    );
    assert_eq!(
        emails(&app, &token, json!({ "createdAfter": at(25) })).await,
        ["100%_real@example.com"]
    );

    assert_eq!(
        emails(&app, &token, json!({ "includeDeleted": true }))
            .await
            .len(),
        5
    );
    // Filters combine.
    assert_eq!(
        emails(
            &app,
            &token,
            json!({ "search": "berg", "hasAccount": false, "groupIds": [p.silver] })
        )
        .await,
        ["per.berg@example.com"]
    );
}

/// The search is answered from an index (a trigram index on PostgreSQL, an FTS5
/// table on SQLite) that the database keeps: it follows every change of email and
/// name, and still means "each word inside the email, first or last name".
#[tokio::test]
async fn customer_search_follows_changes_and_stays_inside_each_field() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    people(&app).await;
    // "anna berg" joined is "anna berg": no word without whitespace spans two fields.
    assert!(
        emails(&app, &token, json!({ "search": "nnab" }))
            .await
            .is_empty()
    );
    assert!(
        emails(&app, &token, json!({ "search": "comanna" }))
            .await
            .is_empty()
    );
    // Quotes and wildcards are literal on the index path too (3+ characters).
    assert_eq!(
        emails(&app, &token, json!({ "search": "100%_" })).await,
        ["100%_real@example.com"]
    );
    assert!(
        emails(&app, &token, json!({ "search": "an\"na" }))
            .await
            .is_empty()
    );
    // Words of one or two characters and longer ones combine.
    assert_eq!(
        emails(&app, &token, json!({ "search": "pe berg" })).await,
        ["per.berg@example.com"]
    );

    let id = app
        .data(
            Some(&token),
            "{ customers(filter: { search: \"per.berg\" }) { nodes { id } } }",
            json!({}),
        )
        .await["customers"]["nodes"][0]["id"]
        .clone();
    app.data(
        Some(&token),
        "mutation($id: ID!) { updateCustomer(id: $id, input: {
            email: \"petra.holm@example.com\", firstName: \"Petra\", lastName: \"Holm\" }) { id } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        emails(&app, &token, json!({ "search": "holm petra" })).await,
        ["petra.holm@example.com"]
    );
    assert_eq!(
        emails(&app, &token, json!({ "search": "berg" })).await,
        ["anna.berg@example.com"]
    );
    // A change that leaves the searched fields alone keeps the customer findable.
    app.data(
        Some(&token),
        "mutation($id: ID!) { updateCustomer(id: $id, input: { phone: \"+46 8 123\" }) { id } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        emails(&app, &token, json!({ "search": "holm" })).await,
        ["petra.holm@example.com"]
    );
}

#[tokio::test]
async fn customer_filter_values_are_validated() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    for filter in [
        json!({ "groupIds": ["not-a-uuid"] }),
        json!({ "createdAfter": "yesterday" }),
        json!({ "hasAccount": "yes" }),
    ] {
        let response = app
            .gql(Some(&token), CUSTOMERS, json!({ "filter": filter }))
            .await;
        assert_eq!(tests::error_code(&response), "BAD_USER_INPUT", "{filter}");
        if filter.get("hasAccount").is_some() {
            // Values of the wrong type name the argument they were given for.
            assert_eq!(
                response["errors"][0]["extensions"]["field"],
                "filter.hasAccount"
            );
        }
    }
}

#[tokio::test]
async fn group_filters_narrow_the_group_list() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let p = people(&app).await;
    let query = "query($filter: CustomerGroupFilterInput) {
        customerGroups(first: 50, filter: $filter) { totalCount nodes { id name } } }";
    let names = |data: &Value| -> Vec<String> {
        data["customerGroups"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = app.data(Some(&token), query, json!({})).await;
    assert_eq!(names(&all), ["Gold", "Silver"]);
    assert_eq!(all["customerGroups"]["totalCount"], 2);

    let found = app
        .data(
            Some(&token),
            query,
            json!({ "filter": { "search": "ILV" } }),
        )
        .await;
    assert_eq!(names(&found), ["Silver"]);

    let with_deleted = app
        .data(
            Some(&token),
            query,
            json!({ "filter": { "includeDeleted": true } }),
        )
        .await;
    assert_eq!(names(&with_deleted), ["Gold", "Retired", "Silver"]);

    let members = app
        .data(
            Some(&token),
            CUSTOMERS,
            json!({ "filter": { "search": "anna.berg" } }),
        )
        .await;
    let anna = members["customers"]["nodes"][0]["id"].clone();
    let of_anna = app
        .data(
            Some(&token),
            query,
            json!({ "filter": { "customerId": anna } }),
        )
        .await;
    assert_eq!(
        node_ids(&of_anna["customerGroups"]),
        [p.gold.to_string(), p.silver.to_string()]
    );
}

#[tokio::test]
async fn order_filters_narrow_the_order_list() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let a = app
        .customer(CustomerSpec {
            email: "a@example.com",
            ..Default::default()
        })
        .await;
    let b = app
        .customer(CustomerSpec {
            email: "b@example.com",
            ..Default::default()
        })
        .await;
    let a1 = app
        .order(a, "a@example.com", at(0), &[("Tea", 1, 100)])
        .await;
    let a2 = app
        .order(a, "a@example.com", at(10), &[("Tea", 1, 100)])
        .await;
    let b1 = app
        .order(b, "b@example.com", at(20), &[("Tea", 1, 100)])
        .await;
    entity::order::ActiveModel {
        id: Unchanged(a2),
        status: Set(entity::order::OrderStatus::Completed),
        ..Default::default()
    }
    .update(app.db())
    .await
    .unwrap();

    let query = "query($filter: OrderFilterInput) {
        orders(first: 50, filter: $filter) { totalCount nodes { id status } } }";
    let ids = |filter: Value| {
        let app = &app;
        let token = &token;
        async move {
            let data = app
                .data(Some(token), query, json!({ "filter": filter }))
                .await;
            assert_eq!(
                data["orders"]["totalCount"],
                node_ids(&data["orders"]).len(),
                "{filter}"
            );
            node_ids(&data["orders"])
        }
    };
    let s = |ids: &[Uuid]| ids.iter().map(Uuid::to_string).collect::<Vec<_>>();
    assert_eq!(ids(json!(null)).await, s(&[b1, a2, a1]));
    assert_eq!(ids(json!({ "customerId": a })).await, s(&[a2, a1]));
    assert_eq!(ids(json!({ "status": "COMPLETED" })).await, s(&[a2]));
    assert_eq!(
        ids(json!({ "status": "PENDING", "customerId": a })).await,
        s(&[a1])
    );
    assert_eq!(
        ids(json!({ "createdAfter": at(10), "createdBefore": at(20) })).await,
        s(&[a2])
    );
}

/// A plain search (on SQLite: answered from the search rows alone, see
/// `sqlite_search_rows`) lists and counts exactly what the same search combined with a
/// filter that every customer passes does, in both orders, both directions of paging,
/// with deleted customers hidden and shown, after deletions and restores.
#[tokio::test]
async fn a_plain_search_pages_and_counts_as_the_general_path_does() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let mut ids = Vec::new();
    for n in 0..14 {
        let email = format!("shopper{n}@example.com");
        let id = app
            .customer(CustomerSpec {
                email: &email,
                first_name: Some(if n % 3 == 0 { "Grace" } else { "Ada" }),
                last_name: Some(if n % 2 == 0 { "Hopper" } else { "Lovelace" }),
                // Two share a creation time: the id breaks the tie.
                created_at: Some(at(if n == 5 { 4 } else { n })),
                ..Default::default()
            })
            .await;
        ids.push(id);
    }
    let mutate = |name: &'static str, id: Uuid| {
        let query = format!("mutation($id: ID!) {{ {name}(id: $id) {{ id }} }}");
        let token = token.clone();
        let app = &app;
        async move { app.data(Some(&token), &query, json!({ "id": id })).await }
    };
    for n in [2, 3, 8] {
        mutate("deleteCustomer", ids[n]).await;
    }
    mutate("restoreCustomer", ids[3]).await;

    let page = "query($first: Int, $after: String, $last: Int, $before: String,
                      $filter: CustomerFilterInput, $sort: CustomerSort) {
        customers(first: $first, after: $after, last: $last, before: $before,
                  filter: $filter, sort: $sort) {
            totalCount
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
            nodes { email }
        } }";
    // Every page, walking forward (first/after) or backward (last/before).
    let walk = |filter: Value, sort: Value, backward: bool| {
        let token = token.clone();
        let app = &app;
        async move {
            let mut seen = Vec::new();
            let mut cursor = Value::Null;
            loop {
                let variables = if backward {
                    json!({ "last": 3, "before": cursor, "filter": filter, "sort": sort })
                } else {
                    json!({ "first": 3, "after": cursor, "filter": filter, "sort": sort })
                };
                let data = app.data(Some(&token), page, variables).await;
                let connection = &data["customers"];
                seen.push(connection["totalCount"].clone());
                seen.push(connection["nodes"].clone());
                let (more, next) = if backward {
                    ("hasPreviousPage", "startCursor")
                } else {
                    ("hasNextPage", "endCursor")
                };
                if connection["pageInfo"][more] != true {
                    return seen;
                }
                cursor = connection["pageInfo"][next].clone();
            }
        }
    };
    for words in ["hopper", "lovelace", "grace hop", "shopper1"] {
        for include_deleted in [false, true] {
            for direction in ["ASC", "DESC"] {
                for backward in [false, true] {
                    let plain = json!({ "search": words, "includeDeleted": include_deleted });
                    let mut general = plain.clone();
                    general["createdAfter"] = json!("2000-01-01T00:00:00Z");
                    let sort = json!({ "field": "CREATED_AT", "direction": direction });
                    let fast = walk(plain, sort.clone(), backward).await;
                    let slow = walk(general, sort, backward).await;
                    assert_eq!(
                        fast, slow,
                        "{words} {include_deleted} {direction} {backward}"
                    );
                    assert!(fast.len() >= 2, "{fast:?}");
                }
            }
        }
    }
    // The searches really narrow: seven Lovelaces (odd numbers; 3 was deleted and
    // restored), and "hopper" is in every email but three are deleted, one restored.
    let lovelaces = walk(json!({ "search": "lovelace" }), Value::Null, false).await;
    assert_eq!(lovelaces[0], 7, "{lovelaces:?}");
    let hoppers = walk(json!({ "search": "hopper" }), Value::Null, false).await;
    assert_eq!(hoppers[0], 12, "{hoppers:?}");
}
