//! The attacks of the OWASP GraphQL cheat sheet, sent over HTTP to a router with its production
//! defaults: each is refused with its code and the subgraph never hears of it.

mod support;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::State;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use router::compose::{SubgraphSdl, compose};
use router::{Router, RouterConfig, Supergraph};
use serde_json::{Value, json};

const ISSUER: &str = "https://identity.test";
const AUDIENCE: &str = "edustream";

const ACCOUNTS: &str = r#"
extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@authenticated", "@requiresScopes"])
type Query {
  public: [Item!]!
  me: User @authenticated
}
type User @key(fields: "id") {
  id: ID!
  name: String
  email: String @requiresScopes(scopes: [["read:email"]])
}
type Item {
  id: ID!
  name: String
  children: [Item!]!
}
"#;

/// The subgraph: counts requests, keeps their bodies, answers with everything it has.
#[derive(Default)]
struct Accounts {
    hits: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
}

async fn accounts(State(state): State<Arc<Accounts>>, Json(body): Json<Value>) -> Json<Value> {
    state.hits.fetch_add(1, Ordering::SeqCst);
    state.bodies.lock().expect("not poisoned").push(body);
    Json(json!({ "data": {
        "public": [{ "id": "1", "name": "Algebra", "children": [] }],
        "me": { "id": "u1", "name": "Ann", "email": "ann@example.com" },
    } }))
}

struct Signer {
    key: SigningKey,
    kid: &'static str,
}

impl Signer {
    fn new(kid: &'static str) -> Self {
        Self { key: SigningKey::generate(&mut rand::rngs::OsRng), kid }
    }

    fn token(&self, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
        let mut claims = json!({ "sub": "u1", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600 });
        if let Value::Object(map) = &mut claims {
            edit(map);
        }
        let der = self.key.to_pkcs8_der().expect("PKCS#8");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.into());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(der.as_bytes())).expect("signs")
    }
}

struct Stack {
    url: String,
    accounts: Arc<Accounts>,
    signer: Signer,
    client: reqwest::Client,
}

const PARTNER_KEY: &str = "partner-secret-key";
const LISTED: &str = "query Listed { public { id name } }";
const UNLISTED: &str = "query Unlisted { public { id } }";

/// Subgraph, JWKS and router with production defaults, plus a partner restricted to `LISTED`;
/// `tune` adjusts the config.
async fn stack(tune: impl FnOnce(&mut RouterConfig)) -> Stack {
    let state = Arc::new(Accounts::default());
    let signer = Signer::new("k1");
    let jwks = json!({ "keys": [jwks::ed25519_jwk(signer.kid, &signer.key.verifying_key().to_bytes())] });
    let app = axum::Router::new()
        .route("/graphql", axum::routing::post(accounts))
        .route("/jwks.json", axum::routing::get(move || std::future::ready(Json(jwks.clone()))))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let subgraph = SubgraphSdl { name: "accounts".into(), url: format!("{base}/graphql"), sdl: ACCOUNTS.into() };
    let sdl = compose(&[subgraph]).expect("composes");
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dir.path().join("manifest.json");
    let operations = [LISTED, UNLISTED]
        .iter()
        .map(|body| json!({ "id": router::edge::apq::hash(body), "name": "op", "type": "query", "body": body }))
        .collect::<Vec<_>>();
    let manifest_json = json!({ "format": "apollo-persisted-query-manifest", "version": 1, "operations": operations });
    std::fs::write(&manifest, manifest_json.to_string()).expect("write");
    let mut config = RouterConfig::default();
    config.persisted_documents.manifests = vec![manifest];
    config.partners.clients = vec![
        router::config::partners::PartnerClient {
            name: "acme".into(),
            key_sha256: router::edge::apq::hash(PARTNER_KEY),
            operations: Some(vec![format!("sha256:{}", router::edge::apq::hash(LISTED))]),
            quota: None,
        },
        router::config::partners::PartnerClient {
            name: "beta".into(),
            key_sha256: router::edge::apq::hash("beta-key"),
            operations: None,
            quota: Some(router::config::partners::Quota { requests: 1, per: std::time::Duration::from_secs(3600) }),
        },
    ];
    config.authentication =
        Some(router::config::authentication::AuthSettings::new(vec![router::config::authentication::JwksSettings {
            url: format!("{base}/jwks.json"),
            issuer: ISSUER.into(),
            audiences: vec![AUDIENCE.into()],
            algorithms: vec![Algorithm::EdDSA],
        }]));
    tune(&mut config);
    let router = Router::build(Supergraph::parse(&sdl).expect("valid supergraph"), config).expect("builds");
    // The manifest must outlive the router's load; it was read at build.
    drop(dir);
    let url = serve(router).await;
    Stack { url, accounts: state, signer, client: reqwest::Client::new() }
}

async fn serve(router: Router) -> String {
    let app = router::http::routes(Arc::new(router)).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}/graphql", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

impl Stack {
    async fn post(&self, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.client.post(&self.url).json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("router answers");
        (response.status().as_u16(), response.json().await.expect("json body"))
    }

    fn hits(&self) -> usize {
        self.accounts.hits.load(Ordering::SeqCst)
    }
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn operation_shape_attacks_are_refused_before_any_fetch() {
    let stack = stack(|_| {}).await;
    let deep = format!("{{ public {}{{ id }}{} }}", "{ children ".repeat(40), " }".repeat(40));
    let aliases: String = (0..200).map(|i| format!("a{i}: name ")).collect();
    let attacks = [
        (deep, "MAX_DEPTH_LIMIT"),
        (format!("{{ public {{ {aliases} }} }}"), "MAX_ALIASES_LIMIT"),
        (
            (0..100).map(|i| format!("r{i}: public {{ id }} ")).collect::<String>().replace("r0", "{ r0") + "}",
            "MAX_ROOT_FIELDS_LIMIT",
        ),
        ("{ __schema { types { name } } }".to_owned(), "INTROSPECTION_DISABLED"),
        (
            "query { ...F } fragment F on Query { __type(name: \"User\") { fields { name } } }".to_owned(),
            "INTROSPECTION_DISABLED",
        ),
    ];
    for (query, expected) in attacks {
        let (status, body) = stack.post(json!({ "query": query }), &[]).await;
        assert_eq!((status, code(&body)), (200, expected), "{body}");
    }
    // Batching abuse: one HTTP request carrying many operations.
    let batch: Vec<Value> = (0..50).map(|_| json!({ "query": "{ public { id } }" })).collect();
    let (status, body) = stack.post(Value::Array(batch), &[]).await;
    assert_eq!((status, code(&body)), (400, "BATCHING_DISABLED"));
    assert_eq!(stack.hits(), 0, "nothing reached the subgraph");

    let stack = stack_with_batching().await;
    let batch: Vec<Value> = (0..50).map(|_| json!({ "query": "{ public { id } }" })).collect();
    let (status, body) = stack.post(Value::Array(batch), &[]).await;
    assert_eq!((status, code(&body)), (400, "BATCH_TOO_LARGE"));
    assert_eq!(stack.hits(), 0);
}

async fn stack_with_batching() -> Stack {
    stack(|config| config.batching.enabled = true).await
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused_with_401() {
    let stack = stack(|_| {}).await;
    let header = |token: &str| format!("Bearer {token}");
    // alg: none, unsigned.
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&json!({ "sub": "admin", "iss": ISSUER, "aud": AUDIENCE, "exp": 4_000_000_000u64 }))
    );
    let expired = stack.signer.token(|c| {
        c.insert("exp".into(), json!(1_000));
    });
    let wrong_issuer = stack.signer.token(|c| {
        c.insert("iss".into(), json!("https://evil.test"));
    });
    let wrong_key = Signer::new("k1").token(|_| {});
    for token in [none, expired, wrong_issuer, wrong_key, "not-a-jwt".to_owned()] {
        let (status, body) =
            stack.post(json!({ "query": "{ me { name } }" }), &[("authorization", &header(&token))]).await;
        assert_eq!((status, code(&body)), (401, "UNAUTHENTICATED"), "{token}: {body}");
        assert!(!body.to_string().contains(&token), "the token is never echoed");
    }
    assert_eq!(stack.hits(), 0);
    // The genuine token works.
    let (status, body) = stack
        .post(json!({ "query": "{ me { name } }" }), &[("authorization", &header(&stack.signer.token(|_| {})))])
        .await;
    assert_eq!((status, body), (200, json!({ "data": { "me": { "name": "Ann" } } })));
}

#[tokio::test]
async fn authenticated_and_scoped_fields_are_nulled_for_callers_without_them_and_never_fetched() {
    let stack = stack(|_| {}).await;
    let (status, body) = stack.post(json!({ "query": "{ public { id } me { name } }" }), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], json!({ "public": [{ "id": "1" }], "me": null }));
    assert_eq!(code(&body), "UNAUTHORIZED_FIELD_OR_TYPE");
    assert_eq!(body["errors"][0]["path"], json!(["me"]));

    let token = format!("Bearer {}", stack.signer.token(|_| {}));
    let (_, body) = stack.post(json!({ "query": "{ me { name email } }" }), &[("authorization", &token)]).await;
    assert_eq!(body["data"], json!({ "me": { "name": "Ann", "email": null } }), "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["me", "email"]));
    let scoped = format!(
        "Bearer {}",
        stack.signer.token(|c| {
            c.insert("scope".into(), json!("read:email"));
        })
    );
    let (_, body) = stack.post(json!({ "query": "{ me { email } }" }), &[("authorization", &scoped)]).await;
    assert_eq!(body, json!({ "data": { "me": { "email": "ann@example.com" } } }));
    let bodies = stack.accounts.bodies.lock().expect("not poisoned").clone();
    assert!(!bodies[0]["query"].as_str().unwrap_or_default().contains("me"), "anonymous: `me` never asked");
    assert!(!bodies[1]["query"].as_str().unwrap_or_default().contains("email"), "unscoped: `email` never asked");
}

#[tokio::test]
async fn a_partner_key_runs_its_listed_operations_only() {
    let stack = stack(|_| {}).await;
    let key = [("x-api-key", PARTNER_KEY)];
    let listed = json!({ "documentId": format!("sha256:{}", router::edge::apq::hash(LISTED)) });
    let (status, body) = stack.post(listed, &key).await;
    assert_eq!((status, body), (200, json!({ "data": { "public": [{ "id": "1", "name": "Algebra" }] } })));
    let unlisted = json!({ "documentId": router::edge::apq::hash(UNLISTED) });
    let (status, body) = stack.post(unlisted, &key).await;
    assert_eq!((status, code(&body)), (403, "OPERATION_NOT_ALLOWED"));
    let (status, body) = stack.post(json!({ "query": "{ public { id name } }" }), &key).await;
    assert_eq!((status, code(&body)), (400, "PERSISTED_DOCUMENT_REQUIRED"), "free-form text from a restricted key");
    let (status, body) = stack.post(json!({ "query": LISTED }), &[("x-api-key", "guessed")]).await;
    assert_eq!((status, code(&body)), (401, "INVALID_API_KEY"));
    assert!(!body.to_string().contains("guessed"));
    assert_eq!(stack.hits(), 1, "only the listed operation reached the subgraph");
}

#[tokio::test]
async fn a_partner_over_its_quota_gets_429_while_others_are_served() {
    let stack = stack(|_| {}).await;
    let beta = [("x-api-key", "beta-key")];
    assert_eq!(stack.post(json!({ "query": "{ public { id } }" }), &beta).await.0, 200);
    let (status, body) = stack.post(json!({ "query": "{ public { id } }" }), &beta).await;
    assert_eq!((status, code(&body)), (429, "RATE_LIMITED"));
    assert_eq!(stack.post(json!({ "query": "{ public { id } }" }), &[]).await.0, 200, "no per-client limit is set");
    assert_eq!(stack.hits(), 2);
}

#[tokio::test]
async fn cross_site_requests_and_oversized_headers_are_refused() {
    let stack = stack(|_| {}).await;
    let get = stack.client.get(&stack.url).query(&[("query", "{ public { id } }")]).send().await.expect("sent");
    assert_eq!(get.status(), 400);
    assert_eq!(code(&get.json().await.expect("json")), "CSRF_PREVENTED");
    let form = stack
        .client
        .post(&stack.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("query=%7B%20public%20%7B%20id%20%7D%20%7D")
        .send()
        .await
        .expect("sent");
    assert_eq!(form.status(), 400);
    assert_eq!(code(&form.json().await.expect("json")), "CSRF_PREVENTED");
    let huge = "x".repeat(40 * 1024);
    let (status, body) = stack.post(json!({ "query": "{ public { id } }" }), &[("x-padding", &huge)]).await;
    assert_eq!((status, code(&body)), (431, "HEADERS_TOO_LARGE"));
    assert_eq!(stack.hits(), 0);
    // Operators see the refusals in Prometheus.
    let metrics = stack.client.get(stack.url.replace("/graphql", "/metrics")).send().await.expect("sent");
    let text = metrics.text().await.expect("text");
    assert!(text.contains(r#"router_refusals_total{code="CSRF_PREVENTED"} 2"#), "{text}");
    assert!(text.contains(r#"router_requests_total{operation="__anonymous",outcome="request_error"} 2"#), "{text}");
}

fn limited(config: &mut RouterConfig, capacity: u32) {
    config.rate_limit.enabled = true;
    config.rate_limit.per_client =
        router::config::rate_limit::Rule::new(capacity, std::time::Duration::from_secs(3600)).expect("a rule");
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after() {
    let stack = stack(|config| limited(config, 2)).await;
    for _ in 0..2 {
        assert_eq!(stack.post(json!({ "query": "{ public { id } }" }), &[]).await.0, 200);
    }
    let response =
        stack.client.post(&stack.url).json(&json!({ "query": "{ public { id } }" })).send().await.expect("sent");
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!(retry_after >= 1);
    assert_eq!(code(&response.json().await.expect("json")), "RATE_LIMITED");
    assert_eq!(stack.hits(), 2);
}

#[tokio::test]
async fn two_router_replicas_share_one_rate_limit_through_redis() {
    let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| u.starts_with("redis://")) else {
        eprintln!("skipped: set REDIS_URL=redis://127.0.0.1:6379 to run the Redis test");
        return;
    };
    let prefix = format!("edustream:test:rl:{:x}:", rand::random::<u64>());
    let tune = |config: &mut RouterConfig| {
        limited(config, 3);
        config.redis_url = Some(url.clone());
        config.rate_limit.key_prefix = prefix.clone();
    };
    let (one, two) = (stack(tune).await, stack(tune).await);
    let mut statuses = Vec::new();
    for replica in [&one, &two, &one, &two, &one] {
        statuses.push(replica.post(json!({ "query": "{ public { id } }" }), &[]).await.0);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429], "one budget of 3 across both replicas");
}

/// A WebSocket connection lives no longer than its token: at `exp` (no leeway here) the router
/// closes it with 4403, and an expired token is refused at `connection_init`.
#[tokio::test]
async fn a_subscription_connection_ends_when_its_token_expires() {
    let stack = stack(|config| {
        if let Some(auth) = config.authentication.as_mut() {
            auth.leeway = std::time::Duration::ZERO;
        }
    })
    .await;
    let addr: std::net::SocketAddr =
        stack.url.trim_start_matches("http://").trim_end_matches("/graphql").parse().expect("an address");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();

    let expired = stack.signer.token(|claims| {
        claims.insert("exp".into(), json!(now - 5));
    });
    let mut refused = support::ws::Client::connect(addr, &["graphql-transport-ws"]).await.expect("connects");
    refused
        .send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {expired}") } }))
        .await;
    assert_eq!(refused.closed().await, (4403, "Forbidden: UNAUTHENTICATED".to_owned()));

    let short = stack.signer.token(|claims| {
        claims.insert("exp".into(), json!(now + 1));
    });
    let mut client = support::ws::Client::connect(addr, &["graphql-transport-ws"]).await.expect("connects");
    client.init(json!({ "authorization": format!("Bearer {short}") })).await;
    assert_eq!(client.closed().await, (4403, "Forbidden: token expired".to_owned()));
    assert_eq!(stack.accounts.hits.load(Ordering::SeqCst), 0, "the subgraph heard nothing");
}

#[tokio::test]
async fn a_trusted_document_over_get_is_public_for_a_cdn_unless_the_caller_identifies() {
    let stack = stack(|_| {}).await;
    let id = format!("sha256:{}", router::edge::apq::hash(LISTED));
    let get = |key: Option<&'static str>| {
        let mut request = stack
            .client
            .get(&stack.url)
            .query(&[("documentId", id.as_str())])
            .header("apollo-require-preflight", "true");
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        request.send()
    };
    let anonymous = get(None).await.expect("sent");
    assert_eq!(anonymous.status(), 200);
    assert_eq!(anonymous.headers()["cache-control"], "public, max-age=10");
    let partner = get(Some(PARTNER_KEY)).await.expect("sent");
    assert_eq!(partner.status(), 200);
    assert_eq!(partner.headers()["cache-control"], "private, no-store", "a partner's answer is its own");
}
