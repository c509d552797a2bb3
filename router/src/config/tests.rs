//! The router config as a whole: a file with every section, the documented example, `${NAME}`
//! references, mistakes located by their key, and environment variables over the file.

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn an_empty_file_gives_the_defaults() {
    let config = RouterConfig::from_yaml("", &no_env).expect("valid");
    assert_eq!(config.listen, RouterConfig::default().listen);
    assert_eq!(config.forward_headers, vec!["authorization".to_owned()]);
    assert_eq!(config.subgraph("any"), &SubgraphSettings::default());
}

#[test]
fn the_file_sets_every_section() {
    let yaml = r#"
listen: 0.0.0.0:4100
supergraph: sg.graphql
headers: { forward: [Authorization, Accept-Language, authorization] }
subgraphs:
  all: { timeout: 10s }
  identity: { url: "http://identity:8001/graphql", protocol: http2 }
  review: { timeout: 250ms }
query_plan: { expose: true }
subgraph_errors: { expose: true }
limits: { body_bytes: 1024 }
"#;
    let config = RouterConfig::from_yaml(yaml, &no_env).expect("valid");
    assert_eq!(config.listen.to_string(), "0.0.0.0:4100");
    assert_eq!(config.supergraph.as_deref(), Some(Path::new("sg.graphql")));
    assert_eq!(config.forward_headers, vec!["authorization".to_owned(), "accept-language".to_owned()]);
    assert_eq!(config.subgraph("other").timeout, Duration::from_secs(10));
    assert_eq!(
        config.subgraph("identity"),
        &SubgraphSettings { timeout: Duration::from_secs(10), protocol: Protocol::Http2, ..Default::default() }
    );
    assert_eq!(config.subgraph("review").timeout, Duration::from_millis(250));
    assert_eq!(config.subgraph_urls["identity"], "http://identity:8001/graphql");
    assert!(config.expose_query_plan && config.expose_subgraph_errors);
    assert_eq!(config.body_limit_bytes, 1024);
}

#[test]
fn the_documented_example_file_is_valid() {
    let config =
        RouterConfig::from_yaml(include_str!("../../../deploy/router.yaml"), &no_env).expect("deploy/router.yaml");
    assert_eq!(config.listen.to_string(), "0.0.0.0:4000");
    assert_eq!(config.subgraph("identity").protocol, Protocol::Http2);
    assert_eq!(config.subgraph_urls["identity"], "http://identity:8001/graphql");
    assert_eq!(config.operation_limits, OperationLimits::default());
    assert!(!config.introspection);
    let defaults = SubgraphSettings::default();
    assert_eq!(config.subgraph("tutoring").cache_ttl, Some(Duration::from_secs(30)));
    assert_eq!(config.subgraph("identity").cache_ttl, None);
    let identity = config.subgraph("identity");
    assert_eq!((identity.retry, identity.breaker, identity.dedup), (defaults.retry, defaults.breaker, true));
}

#[test]
fn traffic_settings_per_subgraph_inherit_from_all_and_are_checked() {
    let yaml = r#"
subgraphs:
  all: { retries: 0, circuit_breaker: { failures: 0 } }
  tutoring: { retries: 3, retry_backoff: 10ms, circuit_breaker: { open_for: 1m }, dedup: false, cache: { ttl: 5s } }
"#;
    let config = RouterConfig::from_yaml(yaml, &no_env).expect("valid");
    let other = config.subgraph("other");
    assert_eq!((other.retry.retries, other.breaker.failures, other.dedup), (0, 0, true));
    let tutoring = config.subgraph("tutoring");
    assert_eq!(tutoring.retry.retries, 3);
    assert_eq!(tutoring.retry.backoff, Duration::from_millis(10));
    assert_eq!(tutoring.breaker.failures, 0, "inherited from all");
    assert_eq!(tutoring.breaker.open_for, Duration::from_secs(60));
    assert!(!tutoring.dedup);
    assert_eq!(tutoring.cache_ttl, Some(Duration::from_secs(5)));
    for (yaml, key) in [
        ("subgraphs: { a: { retries: 11 } }", "subgraphs.a.retries"),
        ("subgraphs: { a: { cache: { ttl: soon } } }", "subgraphs.a.cache.ttl"),
        ("subgraphs: { a: { circuit_breaker: { open_for: 0s } } }", "subgraphs.a.circuit_breaker.open_for"),
        ("response_cache: { capacity: 0 }", "response_cache.capacity"),
    ] {
        let error = RouterConfig::from_yaml(yaml, &no_env).expect_err(yaml);
        assert!(error.0.contains(key), "{yaml}: {error}");
    }
}

#[test]
fn operation_limits_come_from_the_file_and_the_environment() {
    let yaml =
        "limits: { max_depth: 5, max_aliases: 0, max_root_fields: 3, max_tokens: 900, max_cost: 2000, list_size: 20 }";
    let mut config = RouterConfig::from_yaml(yaml, &no_env).expect("valid");
    let limits = &config.operation_limits;
    assert_eq!((limits.max_depth, limits.max_aliases, limits.max_root_fields), (5, 0, 3));
    assert_eq!((limits.max_tokens, limits.max_cost, limits.list_size), (900, 2000, 20));
    assert!(!config.introspection);
    let env = |name: &str| match name {
        "ROUTER_INTROSPECTION" => Some("true".to_owned()),
        "ROUTER_MAX_DEPTH" => Some("7".to_owned()),
        "ROUTER_MAX_COST" => Some("0".to_owned()),
        _ => None,
    };
    config.apply_env(&env).expect("valid");
    assert_eq!((config.operation_limits.max_depth, config.operation_limits.max_cost), (7, 0));
    assert!(config.introspection);
    let enabled = RouterConfig::from_yaml("introspection: { enabled: true }", &no_env).expect("valid");
    assert!(enabled.introspection);
}

#[test]
fn cors_origins_are_checked() {
    let yaml = "cors: { allow_origins: ['https://app.example.com', 'http://localhost:3000'], allow_credentials: true, max_age: 2m }";
    let config = RouterConfig::from_yaml(yaml, &no_env).expect("valid");
    assert_eq!(config.cors.allow_origins.len(), 2);
    assert_eq!(config.cors.max_age, Duration::from_secs(120));
    for (yaml, expected) in [
        ("cors: { allow_origins: ['app.example.com'] }", "not an origin"),
        ("cors: { allow_origins: ['https://app.example.com/path'] }", "not an origin"),
        ("cors: { allow_origins: ['*'], allow_credentials: true }", "cannot be combined"),
    ] {
        let error = RouterConfig::from_yaml(yaml, &no_env).expect_err(yaml);
        assert!(error.0.contains(expected), "{yaml}: {error}");
    }
    let apq = RouterConfig::from_yaml("apq: { enabled: false, capacity: 5 }", &no_env).expect("valid");
    assert_eq!(apq.apq, ApqSettings { enabled: false, capacity: 5 });
    assert!(RouterConfig::from_yaml("apq: { capacity: 0 }", &no_env).is_err());
    let batching = RouterConfig::from_yaml("batching: { enabled: true, max_size: 5 }", &no_env).expect("valid");
    assert_eq!(batching.batching, Batching { enabled: true, max_size: 5 });
    assert!(RouterConfig::from_yaml("batching: { max_size: 0 }", &no_env).is_err());
    let mut config = RouterConfig::default();
    let env = |n: &str| (n == "ROUTER_CORS_ALLOW_ORIGINS").then(|| "https://a.example, https://b.example".to_owned());
    config.apply_env(&env).expect("valid");
    assert_eq!(config.cors.allow_origins, ["https://a.example", "https://b.example"]);
    let bad = |name: &'static str, value: &'static str| move |n: &str| (n == name).then(|| value.to_owned());
    assert!(config.apply_env(&bad("ROUTER_MAX_TOKENS", "many")).is_err());
    let error = RouterConfig::from_yaml("limits: { list_size: 0 }", &no_env).expect_err("zero");
    assert!(error.0.contains("list_size"), "{error}");
}

#[test]
fn environment_references_are_expanded() {
    let env = |name: &str| (name == "PORT").then(|| "4321".to_owned());
    let config = RouterConfig::from_yaml(
        "# ${COMMENTS} are not expanded\nlisten: 127.0.0.1:${PORT}\nsupergraph: ${SG:-a.graphql}\nlimits: { body_bytes: '${PORT}' }\nquery_plan: { expose: '${YES:-true}' }",
        &env,
    )
    .expect("valid");
    assert_eq!(config.body_limit_bytes, 4321);
    assert!(config.expose_query_plan);
    assert_eq!(config.listen.port(), 4321);
    assert_eq!(config.supergraph.as_deref(), Some(Path::new("a.graphql")));
    let error = RouterConfig::from_yaml("listen: ${MISSING}", &no_env).expect_err("unset");
    assert!(error.0.contains("MISSING"), "{error}");
    assert_eq!(primitives::expand_env("cost: $$5 and $x", &no_env).expect("valid"), "cost: $5 and $x");
}

#[test]
fn mistakes_are_refused_with_their_place() {
    let cases = [
        ("listen: nowhere", "listen"),
        ("lisen: 127.0.0.1:1", "unknown field `lisen`"),
        ("subgraphs: { a: { timeout: soon } }", "subgraphs.a.timeout"),
        ("subgraphs: { a: { timeout: 0s } }", "longer than zero"),
        ("subgraphs: { a: { protocol: http3 } }", "http3"),
        ("subgraphs: { a: { url: ftp://x } }", "subgraphs.a.url"),
        ("subgraphs: { all: { url: http://x } }", "subgraphs.all"),
        ("headers: { forward: [content-length] }", "cannot be forwarded"),
        ("headers: { forward: ['bad header'] }", "not a valid header name"),
        ("limits: { body_bytes: 0 }", "body_bytes"),
    ];
    for (yaml, expected) in cases {
        let error = RouterConfig::from_yaml(yaml, &no_env).expect_err(yaml);
        assert!(error.0.contains(expected), "{yaml}: {error}");
    }
}

#[test]
fn environment_variables_override_the_file() {
    let mut config =
        RouterConfig::from_yaml("listen: 127.0.0.1:1\nquery_plan: { expose: true }", &no_env).expect("valid");
    let env = |name: &str| {
        Some(
            match name {
                "ROUTER_LISTEN" => "127.0.0.1:2",
                "ROUTER_EXPOSE_QUERY_PLAN" => "false",
                "ROUTER_FORWARD_HEADERS" => "Authorization, X-Request-Id",
                "ROUTER_SUBGRAPH_TIMEOUT" => "3s",
                "ROUTER_SUBGRAPH_URLS" => "identity=http://id/graphql,review=http://rv/graphql",
                _ => return None,
            }
            .to_owned(),
        )
    };
    config.apply_env(&env).expect("valid");
    assert_eq!(config.listen.port(), 2);
    assert!(!config.expose_query_plan);
    assert_eq!(config.forward_headers, vec!["authorization".to_owned(), "x-request-id".to_owned()]);
    assert_eq!(config.subgraph_defaults.timeout, Duration::from_secs(3));
    assert_eq!(config.subgraph_urls.len(), 2);
    let bad = |name: &'static str, value: &'static str| move |n: &str| (n == name).then(|| value.to_owned());
    assert!(config.apply_env(&bad("ROUTER_EXPOSE_QUERY_PLAN", "maybe")).is_err());
    assert!(config.apply_env(&bad("ROUTER_BODY_LIMIT_BYTES", "-1")).is_err());
    assert!(config.apply_env(&bad("ROUTER_SUBGRAPH_URLS", "identity")).is_err());
}
