//! The endpoint on the open internet: every attack is refused with its typed error
//! before any SQL runs, and the server answers an ordinary query right after.
//! Sizes and loop counts are bounded; everything talks to 127.0.0.1.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::{PASSWORD, TestApp, error_code};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `query` as the anonymous caller and asserts it is refused as INVALID_QUERY
/// naming `limit`, having executed no SQL statement.
async fn refused(app: &TestApp, query: &str, variables: Value, limit: &str) -> Value {
    let before = app.statements();
    let response = app.gql(None, query, variables).await;
    assert_eq!(error_code(&response), "INVALID_QUERY", "{response}");
    assert_eq!(
        response["errors"][0]["extensions"]["limit"], limit,
        "{response}"
    );
    assert_eq!(app.statements(), before, "a refused document ran SQL");
    app.still_serves().await;
    response
}

/// `levels` fragments, each spreading the next one twice; the last selects
/// `__typename`. Expanded, it selects 2^levels fields.
fn fragment_bomb(levels: usize) -> String {
    let mut query = String::from("query { ...F0 }\n");
    for level in 0..levels {
        let next = level + 1;
        query.push_str(&format!(
            "fragment F{level} on Query {{ ...F{next} ...F{next} }}\n"
        ));
    }
    query.push_str(&format!("fragment F{levels} on Query {{ __typename }}\n"));
    query
}

#[tokio::test]
async fn a_fragment_explosion_is_refused_at_once() {
    let app = TestApp::spawn().await;
    let bomb = fragment_bomb(30);
    assert!(
        bomb.len() < 2_000,
        "the whole attack is {} bytes",
        bomb.len()
    );
    let started = Instant::now();
    refused(&app, &bomb, json!({}), "selections").await;
    // Reported, not asserted: timing assertions are not tests.
    eprintln!(
        "30-level fragment document refused in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn fragments_that_spread_themselves_are_refused() {
    let app = TestApp::spawn().await;
    let cycle = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
    refused(&app, cycle, json!({}), "fragmentCycle").await;
    refused(
        &app,
        "query { ...A } fragment A on Query { __typename ...A }",
        json!({}),
        "fragmentCycle",
    )
    .await;
}

#[tokio::test]
async fn a_long_chain_of_fragments_is_refused_without_exhausting_the_stack() {
    let app = TestApp::spawn().await;
    // About as many fragments as fit in the document limit, each spreading the next.
    let links = 900;
    let mut chain = String::from("{...a0}");
    for link in 0..links {
        chain.push_str(&format!("fragment a{link} on Query{{...a{}}}", link + 1));
    }
    chain.push_str(&format!("fragment a{links} on Query{{__typename}}"));
    refused(&app, &chain, json!({}), "nesting").await;
    // Sixty fragments, each nesting thirty levels inside the next.
    let mut deep = String::from("{...b0}");
    for link in 0..60 {
        deep.push_str(&format!(
            "fragment b{link} on Query{{{}...b{}{}}}",
            "a{".repeat(30),
            link + 1,
            "}".repeat(30)
        ));
    }
    deep.push_str("fragment b60 on Query{__typename}");
    refused(&app, &deep, json!({}), "nesting").await;
}

#[tokio::test]
async fn aliases_cannot_multiply_password_guesses_or_mail() {
    let app = TestApp::spawn().await;
    let guesses: String = (0..40)
        .map(|i| {
            format!("g{i}: login(email: \"a@example.com\", password: \"guess {i}\") {{ token }}\n")
        })
        .collect();
    refused(
        &app,
        &format!("mutation {{ {guesses} }}"),
        json!({}),
        "aliases",
    )
    .await;
    // Fewer than the alias limit, still at most one password check per request.
    let two = "mutation {
        a: login(email: \"a@example.com\", password: \"one\") { token }
        b: login(email: \"a@example.com\", password: \"two\") { token } }";
    refused(&app, two, json!({}), "oncePerRequest").await;
    // Hidden behind fragments, likewise.
    let hidden = "mutation { ...M ...N }
        fragment M on Mutation { requestPasswordReset(email: \"a@example.com\") }
        fragment N on Mutation { again: requestPasswordReset(email: \"a@example.com\") }";
    refused(&app, hidden, json!({}), "oncePerRequest").await;
    let mails: String = (0..10)
        .map(|i| format!("m{i}: requestOrderClaim(orderIds: []) {{ expiresAt }}\n"))
        .collect();
    refused(
        &app,
        &format!("mutation {{ {mails} }}"),
        json!({}),
        "oncePerRequest",
    )
    .await;
}

#[tokio::test]
async fn documents_are_bounded_in_every_dimension() {
    let app = TestApp::spawn().await;
    let many_roots: String = (0..25).map(|i| format!("t{i}: __typename ")).collect();
    refused(
        &app,
        &format!("{{ {many_roots} }}"),
        json!({}),
        "rootFields",
    )
    .await;
    // Twenty-one root fields, twenty of them behind a fragment.
    let root_fields = "{ __typename ...R }
        fragment R on Query { a: __typename b: __typename c: __typename d: __typename
        e: __typename f: __typename g: __typename h: __typename i: __typename
        j: __typename k: __typename l: __typename m: __typename n: __typename
        o: __typename p: __typename q: __typename r: __typename s: __typename
        t: __typename }";
    refused(&app, root_fields, json!({}), "rootFields").await;
    let directives = format!("{{ __typename {} }}", "@skip(if: false) ".repeat(5));
    refused(&app, &directives, json!({}), "directives").await;
    let directive_flood = format!("{{ __typename {} }}", "@include(if: true) ".repeat(1_500));
    refused(&app, &directive_flood, json!({}), "directives").await;
    // Thirteen levels: customers nodes (orders nodes customer) x3 orders totalCount.
    let deep = format!(
        "{{ customers {{ nodes {{ {} orders {{ totalCount }} {} }} }} }}",
        "orders { nodes { customer { ".repeat(3),
        "} } } ".repeat(3)
    );
    refused(&app, &deep, json!({}), "depth").await;
    let brackets = format!("{}{}", "{ a ".repeat(100), "}".repeat(100));
    refused(&app, &brackets, json!({}), "nesting").await;
    let unknown: String = (0..3_000).map(|i| format!("f{i} ")).collect();
    refused(&app, &format!("{{ {unknown} }}"), json!({}), "selections").await;
    let long = format!("{{ __typename }} # {}", "x".repeat(40_000));
    refused(&app, &long, json!({}), "characters").await;
    // Introspection lists nested past the standard query's two.
    let introspection =
        "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
    refused(&app, introspection, json!({}), "introspectionDepth").await;
}

#[tokio::test]
async fn lists_are_priced_by_their_length() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    // The address book cycle: five round trips of at most 50 addresses each.
    let cycle = "{ customers(first: 100) { nodes { shippingAddresses { customer {
        shippingAddresses { customer { shippingAddresses { customer {
        shippingAddresses { id } } } } } } } } } }";
    let before = app.statements();
    let response = app.gql(Some(&token), cycle, json!({})).await;
    assert_eq!(error_code(&response), "INVALID_QUERY", "{response}");
    assert_eq!(app.statements(), before);
}

#[tokio::test]
async fn the_address_book_is_capped() {
    let app = TestApp::spawn().await;
    let (token, id) = app.register("full@example.com").await;
    let customer = uuid::Uuid::parse_str(&id).unwrap();
    for n in 0..api::domain::addresses::MAX_ADDRESSES_PER_CUSTOMER {
        app.address(customer, &format!("City {n}")).await;
    }
    let add = "mutation { addShippingAddress(input: { countryCode: \"DE\", city: \"One more\" }) { id } }";
    let response = app.gql(Some(&token), add, json!({})).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    let data = app
        .data(
            Some(&token),
            "{ me { shippingAddresses { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["me"]["shippingAddresses"].as_array().unwrap().len(),
        api::domain::addresses::MAX_ADDRESSES_PER_CUSTOMER
    );
}

#[tokio::test]
async fn the_body_is_limited_before_it_is_read() {
    let app = TestApp::spawn_with(|s| s.max_body_bytes = 64 * 1024).await;
    let padding = "x".repeat(100 * 1024);
    let body = json!({ "query": "{ __typename }", "variables": { "padding": padding } });
    let response = app.post_raw("application/json", body.to_string()).await;
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_REQUEST", "{body}");
    app.still_serves().await;
}

#[tokio::test]
async fn only_json_bodies_execute() {
    let app = TestApp::spawn().await;
    let query = json!({ "query": "{ __typename }" }).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/graphql",
    ] {
        let before = app.statements();
        let response = app.post_raw(content_type, query.clone()).await;
        assert_eq!(response.status(), 415, "{content_type}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), "BAD_REQUEST", "{content_type}: {body}");
        assert_eq!(app.statements(), before);
    }
    let response = app.post_raw("application/json; charset=utf-8", query).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_response_media_type_follows_accept() {
    let app = TestApp::spawn().await;
    let post = |accept: &'static str, query: &'static str| {
        app.http()
            .post(format!("{}/graphql", app.base_url))
            .header("accept", accept)
            .json(&json!({ "query": query }))
            .send()
    };
    let spec = post("application/graphql-response+json", "{ __typename }")
        .await
        .unwrap();
    assert_eq!(spec.status(), 200);
    assert_eq!(
        spec.headers()["content-type"],
        "application/graphql-response+json"
    );
    let invalid = post("application/graphql-response+json", "{ nope }")
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400);
    let legacy = post("application/json", "{ nope }").await.unwrap();
    assert_eq!(legacy.status(), 200);
    assert_eq!(legacy.headers()["content-type"], "application/json");
    let body: Value = legacy.json().await.unwrap();
    assert_eq!(error_code(&body), "INVALID_QUERY");
}

#[tokio::test]
async fn a_request_past_its_deadline_answers_timeout() {
    let app = TestApp::spawn_with(|s| s.request_timeout_ms = 1).await;
    // A login hashes a password, which takes far longer than a millisecond.
    app.register_directly("slow@example.com").await;
    let response = app.login("slow@example.com", PASSWORD).await;
    assert_eq!(error_code(&response), "TIMEOUT", "{response}");
}

#[tokio::test]
async fn past_its_concurrency_bound_the_server_sheds_load() {
    let app = TestApp::spawn_with(|s| s.max_concurrent_requests = 1).await;
    app.register_directly("busy@example.com").await;
    let login = json!({
        "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        "variables": { "e": "busy@example.com", "p": PASSWORD },
    });
    let requests: Vec<_> = (0..6)
        .map(|_| {
            Box::pin(
                app.http()
                    .post(format!("{}/graphql", app.base_url))
                    .json(&login)
                    .send(),
            )
        })
        .collect();
    let responses = tests::join_all(requests).await;
    let mut shed = 0;
    let mut served = 0;
    for response in responses {
        let response = response.unwrap();
        match response.status().as_u16() {
            503 => {
                assert_eq!(response.headers()["retry-after"], "1");
                let body: Value = response.json().await.unwrap();
                assert_eq!(error_code(&body), "OVERLOADED");
                shed += 1;
            }
            200 => served += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(served >= 1 && shed >= 1, "served {served}, shed {shed}");
}

#[tokio::test]
async fn a_client_that_is_slow_to_send_headers_is_disconnected() {
    let app = TestApp::spawn_with(|s| s.header_read_timeout_ms = 200).await;
    let address = app.base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 1024];
    // The server closes the connection (after a 408, or silently) once the timeout
    // passes; the bound here only keeps a broken server from hanging the test.
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut total = Vec::new();
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return total,
                Ok(n) => total.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .expect("the server closed the connection");
    let text = String::from_utf8_lossy(&read);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    app.still_serves().await;
}

#[tokio::test]
async fn postgres_connections_carry_a_statement_timeout() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = TestApp::spawn_with(|s| s.statement_timeout_ms = 1_500).await;
    if !app.is_postgres() {
        return; // PostgreSQL-specific: SQLite has no statement timeout.
    }
    let backend = app.db().get_database_backend();
    let row = app
        .db()
        .query_one_raw(Statement::from_string(backend, "SHOW statement_timeout"))
        .await
        .unwrap()
        .unwrap();
    let value: String = row.try_get("", "statement_timeout").unwrap();
    assert_eq!(value, "1500ms");
    let response = app.gql(None, "{ __typename }", json!({})).await;
    assert_eq!(response["data"]["__typename"], "Query");
}

#[tokio::test]
async fn production_settings_hide_the_schema() {
    let app = TestApp::spawn_with(|s| {
        s.introspection = false;
        s.graphiql = false;
    })
    .await;
    refused(
        &app,
        "{ __schema { types { name } } }",
        json!({}),
        "introspection",
    )
    .await;
    refused(
        &app,
        "{ __type(name: \"Customer\") { name } }",
        json!({}),
        "introspection",
    )
    .await;
    let typo = app
        .gql(None, "{ customerz { totalCount } }", json!({}))
        .await;
    let message = typo["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    let graphiql = app
        .http()
        .get(format!("{}/graphql", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(graphiql.status(), 405);
    // The defaults keep both for developers.
    let open = TestApp::spawn().await;
    let data = open
        .data(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
}

/// Documents are parsed and priced once per text (graphql/documents.rs); what depends
/// on the request still runs for each: its variables, its choice of operation, and a
/// refused document stays refused.
#[tokio::test]
async fn a_document_seen_before_is_priced_again_for_other_page_sizes() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    // 100 customers x 100 orders x their fields is over the complexity budget; one
    // of each is not. The engine's walk of this document is remembered by the page
    // sizes it saw, so each size must get its own answer, in any order.
    let document = "query Orders($customers: Int, $orders: Int) {
        customers(first: $customers) { nodes { orders(first: $orders) { nodes {
            id email lineItems { id title quantity } customer { id email } } } } } }";
    let send = |customers: i32, orders: i32| {
        app.gql(
            Some(&admin),
            document,
            json!({ "customers": customers, "orders": orders }),
        )
    };
    for _ in 0..3 {
        let small = send(1, 1).await;
        assert!(small.get("errors").is_none(), "{small}");
        let large = send(100, 100).await;
        assert_eq!(error_code(&large), "INVALID_QUERY", "{large}");
        let mixed = send(1, 100).await;
        assert!(mixed.get("errors").is_none(), "{mixed}");
    }
}

#[tokio::test]
async fn a_document_seen_before_is_still_checked_per_request() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let document = "query Count($first: Int!) { customers(first: $first) { totalCount } } \
                    query Name { customers(first: 1) { totalCount } __typename }";
    let http = reqwest::Client::new();
    let send = |operation: &'static str, variables: Value| {
        let body = json!({ "query": document, "operationName": operation, "variables": variables });
        let request = http
            .post(format!("{}/graphql", app.base_url))
            .bearer_auth(&admin)
            .json(&body)
            .send();
        async move { request.await.unwrap().json::<Value>().await.unwrap() }
    };
    let counted = send("Count", json!({ "first": 1 })).await;
    assert_eq!(counted["data"]["customers"]["totalCount"], 0, "{counted}");
    let bad = send("Count", json!({ "first": "ten" })).await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT", "{bad}");
    let again = send("Count", json!({ "first": 2 })).await;
    assert_eq!(again["data"]["customers"]["totalCount"], 0, "{again}");
    // The other operation of the same text. (Its variables must be sent too: the
    // engine prices `first` in every operation of a document with the request's
    // variables, whichever operation runs.)
    let named = send("Name", json!({ "first": 1 })).await;
    assert_eq!(named["data"]["__typename"], "Query", "{named}");

    let deep = format!("{{ {}__typename{} }}", "a { ".repeat(40), " }".repeat(40));
    for _ in 0..2 {
        let response = app.gql(None, &deep, json!({})).await;
        assert_eq!(error_code(&response), "INVALID_QUERY", "{response}");
    }
}
