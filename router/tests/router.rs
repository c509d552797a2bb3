//! The router against mock subgraphs: supergraph loading, planning, execution, HTTP. (Plans alone,
//! one per planning rule, are snapshot-tested in `planning.rs`.)

mod support;

use std::sync::Arc;

use router::execute::Forwarded;
use router::{GraphqlRequest, Router, RouterConfig, Supergraph};
use serde_json::{Value, json};
use support::*;

async fn router_with_mocks() -> (Router, Arc<Recorded>) {
    let recorded = Arc::new(Recorded::default());
    let base = mock_subgraphs(recorded.clone()).await;
    let supergraph = Supergraph::parse(&supergraph(&base)).expect("valid supergraph");
    let config = RouterConfig { expose_query_plan: true, introspection: true, ..Default::default() };
    (Router::new(supergraph, config), recorded)
}

async fn run(router: &Router, query: &str) -> Value {
    let request = GraphqlRequest { query: query.into(), ..Default::default() };
    router.execute(request, &Forwarded::default(), true).await.body
}

#[tokio::test]
async fn the_api_schema_hides_join_machinery_and_inaccessible_fields() {
    let supergraph = Supergraph::parse(&supergraph("http://unused")).expect("valid supergraph");
    let api = supergraph.api.to_string();
    assert!(!api.contains("join__"), "{api}");
    assert!(!api.contains("secret"), "{api}");
    assert!(api.contains("reviews: [Review!]!"));
}

#[tokio::test]
async fn an_invalid_supergraph_is_refused_with_a_located_message() {
    let err = Supergraph::parse("type Query { a: Missing }").expect_err("invalid");
    assert!(err.to_string().contains("Missing"), "{err}");
    let err = Supergraph::parse("type Query { a: Int }").expect_err("no join__Graph");
    assert!(err.to_string().contains("join__Graph"), "{err}");
}

#[tokio::test]
async fn an_entity_jump_is_planned_with_its_requires_in_the_representation() {
    let (router, _) = router_with_mocks().await;
    let body = run(&router, "{ products { name reviews { body } score } }").await;
    let plan = &body["extensions"]["queryPlan"];
    assert_eq!(plan["nodes"][0]["serviceName"], "products");
    assert_eq!(plan["nodes"][0]["operation"], "query { products { name __typename id price } }");
    let jump = &plan["nodes"][0]["then"][0];
    assert_eq!(jump["serviceName"], "reviews");
    assert_eq!(
        jump["operation"],
        "query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Product { reviews { body } score } } }"
    );
    assert_eq!(jump["path"], json!(["products"]));
}

#[tokio::test]
async fn representations_are_batched_deduplicated_and_merged_back_into_every_occurrence() {
    let (router, recorded) = router_with_mocks().await;
    let body = run(&router, "{ products { id name score } }").await;
    assert_eq!(recorded.count("reviews"), 1, "one _entities call for all products");
    let sent = &recorded.bodies("reviews")[0]["variables"]["representations"];
    assert_eq!(
        sent,
        &json!([
            { "id": "p1", "price": 100, "__typename": "Product" },
            { "id": "p2", "price": 250, "__typename": "Product" },
        ])
    );
    assert_eq!(
        body["data"]["products"],
        json!([
            { "id": "p1", "name": "Chair", "score": 10 },
            { "id": "p2", "name": "Table", "score": 25 },
            { "id": "p1", "name": "Chair", "score": 10 },
        ])
    );
}

#[tokio::test]
async fn a_null_non_null_field_nulls_its_parent_and_the_subgraph_error_is_repathed() {
    let (router, _) = router_with_mocks().await;
    let body = run(&router, "{ products { id reviews { body stars } } }").await;
    // p2's review lost `stars` (non-null): the review list item is null → the non-null list of
    // non-null reviews is null → p2's `reviews` (non-null) → p2 (non-null item) → `products`.
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["products", 1, "reviews", 0, "stars"]));
    assert_eq!(body["errors"][0]["extensions"]["code"], "STARS_DOWN");
}

#[tokio::test]
async fn aliases_typename_fragments_and_skip_include_shape_the_response() {
    let (router, recorded) = router_with_mocks().await;
    let query = r#"query($withName: Boolean!) {
        products { __typename key: id ...F name @include(if: $withName) }
        __typename
    }
    fragment F on Product { price }"#;
    let request = GraphqlRequest {
        query: query.into(),
        variables: serde_json::from_value(json!({ "withName": false })).expect("object"),
        ..Default::default()
    };
    let body = router.execute(request, &Forwarded::default(), false).await.body;
    assert_eq!(body["data"]["__typename"], "Query", "{body} {:?}", recorded.bodies("products"));
    assert_eq!(body["data"]["products"][0], json!({ "__typename": "Product", "key": "p1", "price": 100 }));
}

#[tokio::test]
async fn introspection_is_answered_by_the_router_from_the_api_schema() {
    let (router, recorded) = router_with_mocks().await;
    let body = run(&router, "{ __schema { queryType { name } } __type(name: \"Product\") { fields { name } } }").await;
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    let fields: Vec<&str> =
        body["data"]["__type"]["fields"].as_array().expect("list").iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(fields, vec!["id", "name", "price", "reviews", "score"]);
    assert_eq!(recorded.count("products") + recorded.count("reviews"), 0, "no subgraph was asked");
}

#[tokio::test]
async fn invalid_operations_and_variables_are_refused_before_any_fetch() {
    let (router, recorded) = router_with_mocks().await;
    let body = run(&router, "{ products { nope } }").await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED");
    let body = run(&router, "{ products { id ").await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED");
    let body = run(&router, "{ secret }").await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "inaccessible");
    let request = GraphqlRequest {
        query: "query($b: Boolean!) { products @include(if: $b) { id } }".into(),
        ..Default::default()
    };
    let body = router.execute(request, &Forwarded::default(), false).await.body;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(recorded.count("products"), 0);
}

#[tokio::test]
async fn an_unreachable_subgraph_gives_partial_data_and_an_error() {
    let recorded = Arc::new(Recorded::default());
    let base = mock_subgraphs(recorded.clone()).await;
    // The reviews subgraph points at a closed port.
    let sdl = supergraph(&base).replace(&format!("{base}/reviews"), "http://127.0.0.1:1/reviews");
    let router = Router::new(Supergraph::parse(&sdl).expect("valid"), RouterConfig::default());
    let body = run(&router, "{ products { id score } }").await;
    assert_eq!(body["data"]["products"][0], json!({ "id": "p1", "score": null }));
    assert_eq!(body["errors"][0]["extensions"]["code"], "SUBGRAPH_REQUEST_FAILED");
}

#[tokio::test]
async fn a_fragment_bomb_is_refused_before_any_fetch_and_a_smaller_one_is_one_small_query() {
    let (router, recorded) = router_with_mocks().await;
    // Each fragment spreads the one below twice: 2^19 copies of `id name` once inlined.
    let mut document = String::from("{ products { ...B19 } }\nfragment B0 on Product { id name }\n");
    for n in 1..20 {
        document.push_str(&format!("fragment B{n} on Product {{ ...B{m} ...B{m} }}\n", m = n - 1));
    }
    let body = run(&router, &document).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "MAX_COST_LIMIT", "the limits' walk stops first: {body}");
    assert_eq!(recorded.count("products"), 0, "nothing was fetched");
    // Ten levels pass the limits, and are one small query after normalisation.
    let mut document = String::from("{ products { ...B10 } }\nfragment B0 on Product { id name }\n");
    for n in 1..11 {
        document.push_str(&format!("fragment B{n} on Product {{ ...B{m} ...B{m} }}\n", m = n - 1));
    }
    let body = run(&router, &document).await;
    assert_eq!(body["data"]["products"][0], json!({ "id": "p1", "name": "Chair" }), "{body}");
    let sent = recorded.bodies("products")[0]["query"].as_str().expect("a query").to_owned();
    assert_eq!(sent.matches("name").count(), 1, "{sent}");
    assert!(sent.len() < 100, "{} bytes: {sent}", sent.len());
}

#[tokio::test]
async fn the_same_operation_always_gets_the_byte_identical_plan() {
    let query = "{ products { score name reviews { stars body } price ... on Product { id } } }";
    let mut plans = Vec::new();
    for _ in 0..5 {
        // A fresh router each time: nothing cached, hash maps seeded anew.
        let (router, _) = router_with_mocks().await;
        let body = run(&router, query).await;
        plans.push(serde_json::to_string(&body["extensions"]["queryPlan"]).expect("serialises"));
    }
    assert!(plans[0].contains("Fetch"), "{}", plans[0]);
    assert!(plans.iter().all(|p| p == &plans[0]), "{plans:#?}");
}

#[tokio::test]
async fn repeated_fields_are_merged_before_planning() {
    let (router, recorded) = router_with_mocks().await;
    let query = format!("{{ products {{ id {} }} }}", "name ".repeat(10_000));
    let body = run(&router, &query).await;
    assert_eq!(body["data"]["products"][0]["name"], "Chair", "{body}");
    let sent = recorded.bodies("products")[0]["query"].as_str().expect("a query").to_owned();
    assert_eq!(sent.matches("name").count(), 1, "{sent}");
    // Aliased copies and fragments on the same type merge too; fields with other arguments do not.
    let body =
        run(&router, "{ products { ... on Product { name } name ...P } } fragment P on Product { name id }").await;
    assert_eq!(body["data"]["products"][0], json!({ "name": "Chair", "id": "p1" }));
    let sent = recorded.bodies("products")[1]["query"].as_str().expect("a query").to_owned();
    assert_eq!((sent.matches("name").count(), sent.matches("id").count()), (1, 1), "{sent}");
}

#[tokio::test]
async fn conflicting_duplicates_are_a_validation_error_and_nothing_is_fetched() {
    let (router, recorded) = router_with_mocks().await;
    // One response key for two different fields, or for one field with other arguments.
    for query in [
        "{ products { name: id name } }",
        "{ products { ...A ...B } } fragment A on Product { x: id } fragment B on Product { x: name }",
    ] {
        let body = run(&router, query).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{query}: {body}");
        assert!(body["data"].is_null(), "{body}");
    }
    assert_eq!(recorded.count("products"), 0, "nothing was fetched");
}

mod http {
    use super::*;

    async fn serve() -> String {
        let (router, _) = router_with_mocks().await;
        serve_router(router).await
    }

    async fn serve_router(router: Router) -> String {
        let app = router::http::routes(Arc::new(router));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/graphql")
    }

    #[tokio::test]
    async fn request_refusals_carry_codes_and_an_oversized_body_is_a_json_413() {
        let (router, _) = router_with_mocks().await;
        let url = serve_router(router).await;
        let client = reqwest::Client::new();
        let send = |body: &'static str| client.post(&url).header("content-type", "application/json").body(body).send();
        for (body, code) in [
            ("{not json", "BAD_REQUEST"),
            (r#"{"query": 5}"#, "BAD_REQUEST"),
            (r#"{"query": "{ products { id } }", "variables": []}"#, "BAD_REQUEST"),
            (r#"{"query": "{ products { id } }", "operationName": 1}"#, "BAD_REQUEST"),
            (r#"{"query": "{ products { id "}"#, "GRAPHQL_PARSE_FAILED"),
            (r#"{"query": "query A { products { id } }", "operationName": "B"}"#, "GRAPHQL_VALIDATION_FAILED"),
        ] {
            let response = send(body).await.expect("sent");
            let answer: Value = response.json().await.expect("a JSON answer");
            assert_eq!(answer["errors"][0]["extensions"]["code"], code, "{body}: {answer}");
        }
        let base = mock_subgraphs(Arc::new(Recorded::default())).await;
        let sdl = Supergraph::parse(&supergraph(&base)).expect("valid supergraph");
        let small = Router::new(sdl, RouterConfig { body_limit_bytes: 100, ..Default::default() });
        let url = serve_router(small).await;
        let big = json!({ "query": format!("{{ products {{ id }} }} #{}", "x".repeat(200)) });
        let response = reqwest::Client::new().post(&url).json(&big).send().await.expect("sent");
        assert_eq!(response.status(), 413);
        assert_eq!(response.headers()["content-type"], "application/json");
        let answer: Value = response.json().await.expect("a JSON answer");
        assert_eq!(answer["errors"][0]["extensions"]["code"], "REQUEST_TOO_LARGE");
    }

    #[tokio::test]
    async fn anonymous_persisted_gets_are_public_for_a_cdn_and_everything_else_is_no_store() {
        use sha2::Digest as _;
        let url = serve().await;
        let client = reqwest::Client::new();
        let query = "{ products { id } }";
        let hash = hex::encode(sha2::Sha256::digest(query.as_bytes()));
        let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } }).to_string();
        let get = |with_query: bool, token: Option<&str>| {
            let mut params = vec![("extensions", extensions.clone())];
            if with_query {
                params.push(("query", query.to_owned()));
            }
            let mut request = client.get(&url).query(&params).header("apollo-require-preflight", "true");
            if let Some(token) = token {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            request.send()
        };
        let registered = get(true, None).await.expect("sent");
        assert_eq!(registered.headers()["cache-control"], "private, no-store", "the query text was sent");
        let persisted = get(false, None).await.expect("sent");
        assert_eq!(persisted.headers()["cache-control"], "public, max-age=10");
        assert!(persisted.headers()["vary"].to_str().expect("text").contains("authorization"));
        let body: Value = persisted.json().await.expect("json");
        assert_eq!(body["data"]["products"][0]["id"], "p1");
        let private = get(false, Some("a-token")).await.expect("sent");
        assert_eq!(private.headers()["cache-control"], "private, no-store", "credentials make it private");
    }

    #[tokio::test]
    async fn graphql_response_json_gets_400_for_request_errors_and_json_gets_200() {
        let url = serve().await;
        let client = reqwest::Client::new();
        let modern = client
            .post(&url)
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": "{ products { id " }))
            .send()
            .await
            .expect("sent");
        assert_eq!(modern.status(), 400);
        assert_eq!(modern.headers()["content-type"], "application/graphql-response+json");
        let legacy = client
            .post(&url)
            .header("accept", "application/json")
            .json(&json!({ "query": "{ nope }" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(legacy.status(), 200);
        let ok = client.post(&url).json(&json!({ "query": "{ products { id } }" })).send().await.expect("sent");
        let body: Value = ok.json().await.expect("json");
        assert_eq!(body["data"]["products"][1]["id"], "p2");
    }

    #[tokio::test]
    async fn get_serves_queries_only_and_bad_requests_are_refused() {
        let url = serve().await;
        let client = reqwest::Client::new();
        // CSRF prevention (on by default): a GET a browser could send cross-site is refused...
        let plain = client.get(&url).query(&[("query", "{ products { id } }")]).send().await.expect("sent");
        assert_eq!(plain.status(), 400);
        let body: Value = plain.json().await.expect("json");
        assert_eq!(body["errors"][0]["extensions"]["code"], "CSRF_PREVENTED");
        // ...one with a header only scripts that passed a preflight can set is served.
        let preflighted = |query: &str| {
            client.get(&url).header("apollo-require-preflight", "true").query(&[("query", query.to_owned())])
        };
        let get = preflighted("{ products { id } }").send().await.expect("sent");
        assert_eq!(get.status(), 200);
        let mutation = preflighted("mutation { x }").send().await.expect("sent");
        assert_eq!(mutation.status(), 405);
        let text = client.post(&url).header("content-type", "text/plain").body("{}").send().await.expect("sent");
        assert_eq!(text.status(), 400, "a simple (form-like) POST is a CSRF risk");
        let text = client
            .post(&url)
            .header("content-type", "text/plain")
            .header("apollo-require-preflight", "true")
            .body("{}")
            .send()
            .await
            .expect("sent");
        assert_eq!(text.status(), 415);
        let no_query = client.post(&url).json(&json!({ "variables": {} })).send().await.expect("sent");
        assert_eq!(no_query.status(), 400);
        let health = client.get(url.replace("/graphql", "/health")).send().await.expect("sent");
        assert_eq!(health.status(), 200);
    }

    #[tokio::test]
    async fn automatic_persisted_queries_register_once_and_then_serve_by_hash_also_over_get() {
        let url = serve().await;
        let client = reqwest::Client::new();
        let query = "{ products { id } }";
        let hash = router::edge::apq::hash(query);
        let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
        let by_hash = json!({ "extensions": extensions });
        let answer = client.post(&url).json(&by_hash).send().await.expect("sent");
        assert_eq!(answer.status(), 200);
        let body: Value = answer.json().await.expect("json");
        assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
        assert_eq!(body["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND");

        let wrong = json!({ "query": "{ products { name } }", "extensions": extensions });
        let answer = client.post(&url).json(&wrong).send().await.expect("sent");
        assert_eq!(answer.status(), 400);
        let body: Value = answer.json().await.expect("json");
        assert_eq!(body["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_HASH_MISMATCH");

        let register = json!({ "query": query, "extensions": extensions });
        let body: Value = client.post(&url).json(&register).send().await.expect("sent").json().await.expect("json");
        assert_eq!(body["data"]["products"][0]["id"], "p1", "{body}");
        let body: Value = client.post(&url).json(&by_hash).send().await.expect("sent").json().await.expect("json");
        assert_eq!(body["data"]["products"][0]["id"], "p1", "{body}");
        // GET with the hash alone: cacheable by a CDN.
        let get = client
            .get(&url)
            .header("x-apollo-operation-name", "Products")
            .query(&[("extensions", extensions.to_string())])
            .send()
            .await
            .expect("sent");
        assert_eq!(get.status(), 200);
        let body: Value = get.json().await.expect("json");
        assert_eq!(body["data"]["products"][1]["id"], "p2", "{body}");
    }

    #[tokio::test]
    async fn batches_are_refused_unless_enabled_and_then_capped() {
        let client = reqwest::Client::new();
        let batch = json!([{ "query": "{ products { id } }" }, { "query": "{ __typename }" }, { "nope": 1 }]);
        let url = serve().await;
        let body: Value = client.post(&url).json(&batch).send().await.expect("sent").json().await.expect("json");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BATCHING_DISABLED", "{body}");

        let recorded = Arc::new(Recorded::default());
        let base = mock_subgraphs(recorded).await;
        let mut config = RouterConfig::default();
        config.batching.enabled = true;
        config.batching.max_size = 3;
        let url = serve_router(Router::new(Supergraph::parse(&supergraph(&base)).expect("valid"), config)).await;
        let answer = client.post(&url).json(&batch).send().await.expect("sent");
        assert_eq!(answer.status(), 200);
        let body: Value = answer.json().await.expect("json");
        assert_eq!(body[0]["data"]["products"][0]["id"], "p1", "{body}");
        assert_eq!(body[1], json!({ "data": { "__typename": "Query" } }));
        assert_eq!(body[2]["errors"][0]["extensions"]["code"], "BAD_REQUEST", "one bad entry fails only itself");
        let four = json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }, { "query": "{ __typename }" }, { "query": "{ __typename }" }]);
        let body: Value = client.post(&url).json(&four).send().await.expect("sent").json().await.expect("json");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BATCH_TOO_LARGE", "{body}");
        let body: Value = client.post(&url).json(&json!([])).send().await.expect("sent").json().await.expect("json");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BATCH_TOO_LARGE", "{body}");
    }

    #[tokio::test]
    async fn cross_origin_calls_are_allowed_only_for_listed_origins() {
        let preflight = |url: &str, origin: &str| {
            reqwest::Client::new()
                .request(reqwest::Method::OPTIONS, url)
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type, authorization")
                .send()
        };
        // By default: no CORS headers, so browsers refuse every cross-origin call.
        let url = serve().await;
        let answer = preflight(&url, "https://app.example.com").await.expect("sent");
        assert!(answer.headers().get("access-control-allow-origin").is_none());

        let recorded = Arc::new(Recorded::default());
        let base = mock_subgraphs(recorded).await;
        let mut config = RouterConfig::default();
        config.cors.allow_origins = vec!["https://app.example.com".into()];
        config.cors.allow_credentials = true;
        let url = serve_router(Router::new(Supergraph::parse(&supergraph(&base)).expect("valid"), config)).await;
        let answer = preflight(&url, "https://app.example.com").await.expect("sent");
        assert_eq!(answer.headers()["access-control-allow-origin"], "https://app.example.com");
        assert_eq!(answer.headers()["access-control-allow-credentials"], "true");
        let allowed = answer.headers()["access-control-allow-headers"].to_str().expect("text").to_owned();
        assert!(allowed.contains("authorization"), "{allowed}");
        let answer = preflight(&url, "https://evil.example").await.expect("sent");
        assert!(answer.headers().get("access-control-allow-origin").is_none());
        let post = reqwest::Client::new()
            .post(&url)
            .header("origin", "https://app.example.com")
            .json(&json!({ "query": "{ products { id } }" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(post.headers()["access-control-allow-origin"], "https://app.example.com");
    }
}

#[tokio::test]
async fn subgraph_error_messages_are_masked_unless_exposed() {
    let (masked, _) = router_with_mocks().await;
    let body = run(&masked, "{ products { id reviews { stars } } }").await;
    assert_ne!(body["errors"][0]["message"], "stars unavailable");
    assert_eq!(body["errors"][0]["extensions"]["code"], "STARS_DOWN", "the code is kept");

    let recorded = Arc::new(Recorded::default());
    let base = mock_subgraphs(recorded).await;
    let config = RouterConfig { expose_subgraph_errors: true, ..Default::default() };
    let exposed = Router::new(Supergraph::parse(&supergraph(&base)).expect("valid"), config);
    let body = run(&exposed, "{ products { id reviews { stars } } }").await;
    assert_eq!(body["errors"][0]["message"], "stars unavailable");
}

#[tokio::test]
async fn progressive_override_labels_route_a_share_of_requests_to_the_overriding_subgraph() {
    let sdl = format!(
        r#"
schema @link(url: "https://specs.apollo.dev/link/v1.0") @link(url: "https://specs.apollo.dev/join/v0.5", for: EXECUTION) {{ query: Query }}
{JOIN}
enum join__Graph {{
  OLD @join__graph(name: "old", url: "http://127.0.0.1:1/old")
  NEW @join__graph(name: "new", url: "http://127.0.0.1:1/new")
}}
type Query @join__type(graph: OLD) @join__type(graph: NEW) {{
  always: String @join__field(graph: NEW, override: "old", overrideLabel: "percent(100)") @join__field(graph: OLD, overrideLabel: "percent(100)")
  never: String @join__field(graph: NEW, override: "old", overrideLabel: "percent(0)") @join__field(graph: OLD, overrideLabel: "percent(0)")
}}
"#
    );
    let router = Router::new(
        Supergraph::parse(&sdl).expect("valid"),
        RouterConfig { expose_query_plan: true, ..Default::default() },
    );
    let plan_of = |query: &'static str| {
        let router = &router;
        async move {
            let request = GraphqlRequest { query: query.into(), ..Default::default() };
            router.execute(request, &Forwarded::default(), true).await.body["extensions"]["queryPlan"]["nodes"][0]["serviceName"].clone()
        }
    };
    assert_eq!(plan_of("{ always }").await, "new");
    assert_eq!(plan_of("{ never }").await, "old");
}

mod transport {
    use std::time::Duration;

    use axum::http::Version;
    use router::config::{Protocol, SubgraphSettings};

    use super::*;

    /// A config naming subgraph `reviews` for HTTP/2 and forwarding two headers, served over HTTP.
    async fn serve(config: RouterConfig, sdl: &str) -> String {
        let router = Router::new(Supergraph::parse(sdl).expect("valid"), config);
        let app = router::http::routes(Arc::new(router));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/graphql")
    }

    #[tokio::test]
    async fn subgraphs_get_their_protocol_and_the_configured_headers_only() {
        let recorded = Arc::new(Recorded::default());
        let base = mock_subgraphs(recorded.clone()).await;
        let mut config = RouterConfig {
            forward_headers: router::config::header_list(["Authorization", "X-Tenant"]).expect("valid"),
            ..Default::default()
        };
        config.subgraphs.insert(
            "reviews".into(),
            SubgraphSettings { timeout: Duration::from_secs(5), protocol: Protocol::Http2, ..Default::default() },
        );
        let url = serve(config, &supergraph(&base)).await;
        let body: Value = reqwest::Client::new()
            .post(&url)
            .header("authorization", "Bearer t")
            .header("x-tenant", "acme")
            .header("x-secret", "not forwarded")
            .json(&json!({ "query": "{ products { id score } }" }))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        assert_eq!(body["data"]["products"][0]["score"], 10, "{body}");
        let products = recorded.transport("products");
        let reviews = recorded.transport("reviews");
        assert_eq!(products[0].0, Version::HTTP_11);
        assert_eq!(reviews[0].0, Version::HTTP_2);
        for (_, headers) in products.iter().chain(&reviews) {
            assert_eq!(headers["authorization"], "Bearer t");
            assert_eq!(headers["x-tenant"], "acme");
            assert!(headers.get("x-secret").is_none());
        }
    }

    #[tokio::test]
    async fn configured_subgraph_urls_replace_the_supergraphs() {
        let recorded = Arc::new(Recorded::default());
        let base = mock_subgraphs(recorded.clone()).await;
        // The supergraph points products at a closed port; the config points it back.
        let sdl = supergraph(&base).replace(&format!("{base}/products"), "http://127.0.0.1:1/products");
        let mut config = RouterConfig::default();
        config.subgraph_urls.insert("products".into(), format!("{base}/products"));
        let router = Router::new(Supergraph::parse(&sdl).expect("valid"), config);
        let body = run(&router, "{ products { id } }").await;
        assert_eq!(body["data"]["products"][0]["id"], "p1", "{body}");
        assert_eq!(recorded.count("products"), 1);
    }
}

mod limits {
    use super::*;
    use router::config::limits::OperationLimits;

    async fn limited(limits: OperationLimits) -> (Router, Arc<Recorded>) {
        let recorded = Arc::new(Recorded::default());
        let base = mock_subgraphs(recorded.clone()).await;
        let supergraph = Supergraph::parse(&supergraph(&base)).expect("valid supergraph");
        let config = RouterConfig { operation_limits: limits, introspection: true, ..Default::default() };
        (Router::new(supergraph, config), recorded)
    }

    fn off() -> OperationLimits {
        OperationLimits {
            max_depth: 0,
            max_aliases: 0,
            max_root_fields: 0,
            max_tokens: 0,
            max_cost: 0,
            ..OperationLimits::default()
        }
    }

    fn code(body: &Value) -> &str {
        body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no code in {body}"))
    }

    #[tokio::test]
    async fn depth_aliases_and_root_fields_are_refused_before_any_fetch() {
        let (router, recorded) = limited(OperationLimits { max_depth: 2, ..off() }).await;
        assert!(run(&router, "{ products { name } }").await["data"]["products"].is_array());
        let body = run(&router, "{ products { reviews { body } } }").await;
        assert_eq!(code(&body), "MAX_DEPTH_LIMIT", "{body}");
        assert!(body["data"].is_null(), "{body}");
        // Fragments do not hide depth.
        let body =
            run(&router, "{ ...Q } fragment Q on Query { products { ... on Product { reviews { body } } } }").await;
        assert_eq!(code(&body), "MAX_DEPTH_LIMIT", "{body}");

        let (router, _) = limited(OperationLimits { max_aliases: 2, ..off() }).await;
        assert!(run(&router, "{ a: products { id } b: products { id } }").await["errors"].is_null());
        let body = run(&router, "{ a: products { id } b: products { id } c: products { id } }").await;
        assert_eq!(code(&body), "MAX_ALIASES_LIMIT", "{body}");
        // A fragment counts as often as it is spread.
        let bomb = "{ products { ...P ...P } } fragment P on Product { x: id y: name }";
        assert_eq!(code(&run(&router, bomb).await), "MAX_ALIASES_LIMIT");

        let (router, _) = limited(OperationLimits { max_root_fields: 2, ..off() }).await;
        let body = run(&router, "{ a: products { id } b: products { id } __typename }").await;
        assert_eq!(code(&body), "MAX_ROOT_FIELDS_LIMIT", "{body}");
        let calls_before = recorded.count("products");
        assert!(run(&router, "{ products { id } __typename }").await["errors"].is_null());
        assert!(recorded.count("products") >= calls_before);
    }

    #[tokio::test]
    async fn tokens_and_estimated_cost_are_limited() {
        // The parser counts whitespace as tokens too.
        let (router, _) = limited(OperationLimits { max_tokens: 20, ..off() }).await;
        assert!(run(&router, "{ products { id name } }").await["errors"].is_null());
        let long = format!("{{ products {{ {} }} }}", "id name ".repeat(20));
        let long = long.as_str();
        assert_eq!(code(&run(&router, long).await), "MAX_TOKENS_LIMIT");

        // 10 products × (1 + 10 reviews × 1) = 110 > 50 (scalars cost 0); without reviews 10.
        let (router, recorded) = limited(OperationLimits { max_cost: 50, ..off() }).await;
        assert!(run(&router, "{ products { name } }").await["errors"].is_null());
        let before = (recorded.count("products"), recorded.count("reviews"));
        let body = run(&router, "{ products { reviews { body } } }").await;
        assert_eq!(code(&body), "MAX_COST_LIMIT", "{body}");
        assert_eq!((recorded.count("products"), recorded.count("reviews")), before, "nothing was fetched");
    }

    #[tokio::test]
    async fn the_defaults_allow_ordinary_operations_and_introspection() {
        let (router, _) = limited(OperationLimits::default()).await;
        // (The mock reviews subgraph reports an error on `stars`; nothing else fails.)
        let body = run(&router, "{ products { id name price reviews { body } score } }").await;
        assert!(body["data"]["products"][0]["reviews"].is_array(), "{body}");
        let introspection = "{ __schema { types { name fields { name type { name kind ofType { name kind ofType { name kind ofType { name kind ofType { name } } } } } } } } }";
        assert!(run(&router, introspection).await["errors"].is_null());
        let deep =
            format!("{{ __schema {{ types {{ {}name{} }} }} }}", "fields { type { ".repeat(16), " } }".repeat(16));
        assert_eq!(code(&run(&router, &deep).await), "MAX_DEPTH_LIMIT");
    }

    #[tokio::test]
    async fn the_cost_limit_is_on_by_default_and_counts_the_normalised_operation() {
        // Assumed lists of 1 000: 1 000 products × (1 + 1 000 reviews) > the default 50 000.
        let (router, recorded) = limited(OperationLimits { list_size: 1_000, ..OperationLimits::default() }).await;
        let body = run(&router, "{ products { reviews { body } } }").await;
        assert_eq!(code(&body), "MAX_COST_LIMIT", "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("1001000") && message.contains("50000"), "{message}");
        assert_eq!(recorded.count("products"), 0, "nothing was fetched");
        // Repeating a field does not add to the estimate: it is one field once normalised.
        let repeated = format!("{{ products {{ {} }} }}", "name ".repeat(2_000));
        let body = run(&router, &repeated).await;
        assert_eq!(body["data"]["products"][0]["name"], "Chair", "{body}");
    }
}

#[tokio::test]
async fn introspection_is_off_unless_enabled_and_typename_stays_answered() {
    let recorded = Arc::new(Recorded::default());
    let base = mock_subgraphs(recorded.clone()).await;
    let router = Router::new(Supergraph::parse(&supergraph(&base)).expect("valid"), RouterConfig::default());
    for query in [
        "{ __schema { queryType { name } } }",
        "{ __type(name: \"Product\") { name } }",
        "{ ...Q } fragment Q on Query { ... on Query { __schema { types { name } } } }",
        "{ products { id } __schema { queryType { name } } }",
    ] {
        let body = run(&router, query).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "INTROSPECTION_DISABLED", "{query}: {body}");
        assert!(body["data"].is_null(), "{body}");
    }
    assert_eq!(recorded.count("products"), 0, "refused before any fetch");
    assert_eq!(run(&router, "{ __typename }").await, json!({ "data": { "__typename": "Query" } }));
}
