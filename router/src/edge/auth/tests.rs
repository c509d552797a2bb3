//! Tokens signed here with Ed25519 keys, checked against a JWKS served on 127.0.0.1:0.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;
use crate::config::authentication::JwksSettings;

const ISSUER: &str = "https://id.example";
const AUDIENCE: &str = "edustream";

struct Key {
    kid: String,
    signing: SigningKey,
}

impl Key {
    fn new(kid: &str) -> Self {
        Self { kid: kid.into(), signing: SigningKey::generate(&mut rand::rngs::OsRng) }
    }

    fn jwk(&self) -> Value {
        jwks::ed25519_jwk(&self.kid, &self.signing.verifying_key().to_bytes())
    }

    fn sign(&self, claims: &Value) -> String {
        let der = self.signing.to_pkcs8_der().expect("an Ed25519 key encodes as PKCS#8");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).expect("signs")
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Valid claims, changed by `edit`.
fn claims(edit: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let mut claims = json!({
        "sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 900,
        "scope": "read:courses write:bookings",
    });
    if let Value::Object(map) = &mut claims {
        edit(map);
    }
    claims
}

/// A JWKS endpoint serving `keys` (503 while it holds `None`).
struct KeyServer {
    keys: Arc<Mutex<Option<Value>>>,
    url: String,
}

impl KeyServer {
    async fn start(keys: &[&Key]) -> Self {
        let set = json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() });
        let keys = Arc::new(Mutex::new(Some(set)));
        let state = keys.clone();
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            get(move || {
                let current = state.lock().expect("not poisoned").clone();
                async move {
                    match current {
                        Some(set) => axum::Json(set).into_response(),
                        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds a free port");
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().expect("has an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { keys, url }
    }

    fn publish(&self, keys: Option<&[&Key]>) {
        *self.keys.lock().expect("not poisoned") =
            keys.map(|keys| json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }));
    }

    fn settings(&self) -> AuthSettings {
        let mut settings = AuthSettings::new(vec![JwksSettings {
            url: self.url.clone(),
            issuer: ISSUER.into(),
            audiences: vec![AUDIENCE.into()],
            algorithms: vec![Algorithm::EdDSA],
        }]);
        // Unknown kids refetch at once, so rotation is observable without waiting.
        settings.min_refresh = Duration::ZERO;
        settings
    }

    fn authenticator(&self) -> Authenticator {
        Authenticator::new(&self.settings()).expect("valid settings")
    }
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).expect("ASCII"));
    headers
}

#[tokio::test]
async fn a_valid_token_yields_its_subject_scopes_and_claims() {
    let key = Key::new("k1");
    let server = KeyServer::start(&[&key]).await;
    let claims =
        server.authenticator().authenticate(&bearer(&key.sign(&claims(|_| {})))).await.expect("valid").expect("some");
    assert_eq!(claims.subject.as_deref(), Some("user-1"));
    assert_eq!(claims.scopes, ["read:courses", "write:bookings"]);
    assert_eq!(claims.raw["iss"], ISSUER);
}

#[test]
fn scopes_come_from_scope_or_scp() {
    let from = |claims: Value| Claims::from_raw(serde_json::from_value(claims).expect("an object")).scopes;
    assert_eq!(from(json!({ "scope": "b a" })), ["a", "b"]);
    assert_eq!(from(json!({ "scp": ["x", "y"] })), ["x", "y"]);
    assert_eq!(from(json!({ "scp": "x y" })), ["x", "y"]);
    assert!(from(json!({ "sub": "u" })).is_empty());
}

#[tokio::test]
async fn a_request_without_the_header_is_anonymous() {
    let server = KeyServer::start(&[]).await;
    assert_eq!(server.authenticator().authenticate(&HeaderMap::new()).await, Ok(None));
}

#[tokio::test]
async fn a_header_without_the_bearer_scheme_is_refused() {
    let key = Key::new("k1");
    let server = KeyServer::start(&[&key]).await;
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::from_str(&key.sign(&claims(|_| {}))).expect("ASCII"));
    let error = server.authenticator().authenticate(&headers).await.expect_err("no scheme");
    assert_eq!(error.to_string(), "the `authorization` header must be `Bearer <token>`");
    assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    let refused = crate::edge::Refused::from(error);
    assert_eq!(refused.body()["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let error = server.authenticator().authenticate(&bearer("")).await.expect_err("no token");
    assert!(matches!(error, AuthFailure::BadHeader { .. }));
}

#[tokio::test]
async fn alg_none_is_refused() {
    let server = KeyServer::start(&[&Key::new("k1")]).await;
    let body = URL_SAFE_NO_PAD.encode(claims(|_| {}).to_string());
    let token = format!("{}.{body}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k1"}"#));
    let error = server.authenticator().authenticate(&bearer(&token)).await.expect_err("unsigned");
    assert_eq!(error, AuthFailure::Algorithm("none".into()));
    assert_eq!(error.to_string(), "tokens signed with `none` are not accepted");
}

#[tokio::test]
async fn an_hmac_token_keyed_with_the_public_key_is_refused() {
    let key = Key::new("k1");
    let server = KeyServer::start(&[&key]).await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let secret = key.signing.verifying_key().to_bytes();
    let token = jsonwebtoken::encode(&header, &claims(|_| {}), &EncodingKey::from_secret(&secret)).expect("signs");
    let error = server.authenticator().authenticate(&bearer(&token)).await.expect_err("HMAC");
    assert_eq!(error, AuthFailure::Algorithm("HS256".into()));
}

#[tokio::test]
async fn an_allowed_algorithm_that_does_not_match_the_key_is_refused() {
    let key = Key::new("k1");
    let server = KeyServer::start(&[&key]).await;
    let mut settings = server.settings();
    settings.jwks[0].algorithms = vec![Algorithm::EdDSA, Algorithm::ES256];
    // An EdDSA signature relabelled ES256: the Ed25519 key must not be used for ECDSA.
    let token = key.sign(&claims(|_| {}));
    let (_, rest) = token.split_once('.').expect("three parts");
    let relabelled = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#));
    let authenticator = Authenticator::new(&settings).expect("valid settings");
    let error = authenticator.authenticate(&bearer(&relabelled)).await.expect_err("family mismatch");
    assert_eq!(error, AuthFailure::Algorithm("ES256".into()));
}

#[tokio::test]
async fn expiry_is_enforced_with_the_leeway() {
    let key = Key::new("k1");
    let server = KeyServer::start(&[&key]).await;
    let authenticator = server.authenticator();
    let late = |seconds: i64| key.sign(&claims(|c| drop(c.insert("exp".into(), json!(now() - seconds)))));
    assert!(authenticator.authenticate(&bearer(&late(10))).await.is_ok(), "10 s late is within 60 s of leeway");
    let error = authenticator.authenticate(&bearer(&late(600))).await.expect_err("expired");
    assert_eq!(error, AuthFailure::Expired);
    assert_eq!(error.to_string(), "the token has expired");
    let no_expiry = key.sign(&claims(|c| drop(c.remove("exp"))));
    assert_eq!(authenticator.authenticate(&bearer(&no_expiry)).await, Err(AuthFailure::MissingClaim("exp".into())));
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let key = Key::new("k1");
    let server = KeyServer::start(&[&key]).await;
    let early = key.sign(&claims(|c| drop(c.insert("nbf".into(), json!(now() + 600)))));
    assert_eq!(server.authenticator().authenticate(&bearer(&early)).await, Err(AuthFailure::NotYetValid));
}

#[tokio::test]
async fn wrong_issuer_or_audience_is_refused() {
    let key = Key::new("k1");
    let server = KeyServer::start(&[&key]).await;
    let authenticator = server.authenticator();
    let issuer = key.sign(&claims(|c| drop(c.insert("iss".into(), json!("https://evil.example")))));
    assert_eq!(authenticator.authenticate(&bearer(&issuer)).await, Err(AuthFailure::Issuer));
    let audience = key.sign(&claims(|c| drop(c.insert("aud".into(), json!("another-app")))));
    assert_eq!(authenticator.authenticate(&bearer(&audience)).await, Err(AuthFailure::Audience));
    let one_of = key.sign(&claims(|c| drop(c.insert("aud".into(), json!(["another-app", AUDIENCE])))));
    assert!(authenticator.authenticate(&bearer(&one_of)).await.is_ok(), "one matching audience is enough");
}

#[tokio::test]
async fn a_token_signed_by_another_key_with_a_known_kid_is_refused() {
    let key = Key::new("k1");
    let server = KeyServer::start(&[&key]).await;
    let impostor = Key::new("k1");
    let error = server.authenticator().authenticate(&bearer(&impostor.sign(&claims(|_| {})))).await;
    assert_eq!(error, Err(AuthFailure::Signature));
}

#[tokio::test]
async fn a_token_with_an_unknown_kid_is_refused_after_a_refresh() {
    let server = KeyServer::start(&[&Key::new("k1")]).await;
    let stranger = Key::new("stranger");
    let error = server.authenticator().authenticate(&bearer(&stranger.sign(&claims(|_| {})))).await;
    assert_eq!(error, Err(AuthFailure::UnknownKey));
}

#[tokio::test]
async fn a_rotated_key_is_accepted_once_it_appears_in_the_jwks() {
    let old = Key::new("old");
    let new = Key::new("new");
    let server = KeyServer::start(&[&old]).await;
    let authenticator = server.authenticator();
    assert!(authenticator.authenticate(&bearer(&old.sign(&claims(|_| {})))).await.is_ok());
    assert_eq!(authenticator.authenticate(&bearer(&new.sign(&claims(|_| {})))).await, Err(AuthFailure::UnknownKey));
    server.publish(Some(&[&old, &new]));
    assert!(authenticator.authenticate(&bearer(&new.sign(&claims(|_| {})))).await.is_ok(), "refetched for its kid");
}

#[tokio::test]
async fn cached_keys_still_verify_when_the_jwks_goes_down() {
    let key = Key::new("k1");
    let server = KeyServer::start(&[&key]).await;
    let mut settings = server.settings();
    settings.ttl = Duration::ZERO; // every token tries to refetch
    let authenticator = Authenticator::new(&settings).expect("valid settings");
    assert!(authenticator.authenticate(&bearer(&key.sign(&claims(|_| {})))).await.is_ok());
    server.publish(None);
    assert!(authenticator.authenticate(&bearer(&key.sign(&claims(|_| {})))).await.is_ok(), "cached key");
}

#[tokio::test]
async fn an_unreachable_jwks_without_cached_keys_is_a_503() {
    let key = Key::new("k1");
    let server = KeyServer::start(&[&key]).await;
    server.publish(None);
    let error = server.authenticator().authenticate(&bearer(&key.sign(&claims(|_| {})))).await.expect_err("no keys");
    assert_eq!(error, AuthFailure::KeysUnavailable);
    assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn garbage_is_malformed_and_never_echoed() {
    let server = KeyServer::start(&[]).await;
    let error = server.authenticator().authenticate(&bearer("secret-looking.garbage")).await.expect_err("garbage");
    assert_eq!(error, AuthFailure::Malformed);
    assert!(!error.to_string().contains("secret-looking"));
}
