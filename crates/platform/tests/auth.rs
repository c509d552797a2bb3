//! Access-token verification against a live JWKS endpoint: claims, clock skew, algorithm
//! confusion, unknown keys, key rotation, and a key server that goes away.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kernel::{AccessClaims, Role, UserId};
use platform::auth::{AuthError, JwksKeySource, ed25519_jwk};
use platform::config::JwtSettings;
use platform::{Shutdown, TokenVerifier};

struct Key {
    kid: String,
    signing: SigningKey,
}

impl Key {
    fn new(kid: &str) -> Self {
        Self { kid: kid.into(), signing: SigningKey::generate(&mut rand::rngs::OsRng) }
    }

    fn jwk(&self) -> serde_json::Value {
        ed25519_jwk(&self.kid, &self.signing.verifying_key().to_bytes())
    }

    fn sign(&self, claims: &impl serde::Serialize) -> String {
        let der = self.signing.to_pkcs8_der().expect("encodes");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(der.as_bytes())).expect("signs")
    }
}

fn settings(url: &str) -> JwtSettings {
    JwtSettings {
        jwks_url: Some(url.into()),
        issuer: "edustream-identity".into(),
        audience: "edustream".into(),
        leeway: Duration::from_secs(30),
    }
}

fn claims(expires_in: i64) -> AccessClaims {
    let now = chrono::Utc::now().timestamp();
    AccessClaims {
        sub: UserId::new().to_string(),
        role: Role::Tutor,
        sid: "session".into(),
        iss: "edustream-identity".into(),
        aud: "edustream".into(),
        iat: now,
        exp: now + expires_in,
        jti: "j".into(),
    }
}

/// Serves whatever JWKS `keys` holds at the moment; returns its URL.
async fn jwks_server(keys: Arc<Mutex<serde_json::Value>>, shutdown: Shutdown) -> String {
    let router = Router::new().route(
        "/jwks",
        get(move || {
            let keys = keys.lock().expect("not poisoned").clone();
            async move { axum::Json(keys) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("has an address");
    tokio::spawn(platform::http::serve(listener, router, shutdown, Duration::from_secs(1)));
    format!("http://{addr}/jwks")
}

async fn verifier_for(keys: &[&Key]) -> (TokenVerifier, Arc<Mutex<serde_json::Value>>, Shutdown) {
    let set = Arc::new(Mutex::new(serde_json::json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })));
    let shutdown = Shutdown::new();
    let url = jwks_server(set.clone(), shutdown.clone()).await;
    let source = JwksKeySource::new(&url).with_intervals(Duration::from_secs(300), Duration::ZERO);
    (TokenVerifier::new(Arc::new(source), &settings(&url)), set, shutdown)
}

#[tokio::test]
async fn a_valid_token_yields_its_principal() {
    let key = Key::new("k1");
    let (verifier, _, _shutdown) = verifier_for(&[&key]).await;
    let claims = claims(900);
    let principal = verifier.principal(&key.sign(&claims)).await.expect("valid");
    assert_eq!(principal.user_id.to_string(), claims.sub);
    assert_eq!(principal.role, Role::Tutor);
}

#[tokio::test]
async fn expiry_is_enforced_with_the_configured_clock_skew() {
    let key = Key::new("k1");
    let (verifier, _, _shutdown) = verifier_for(&[&key]).await;
    assert!(verifier.verify(&key.sign(&claims(-10))).await.is_ok(), "10 s late is within the 30 s leeway");
    assert_eq!(verifier.verify(&key.sign(&claims(-120))).await, Err(AuthError::Expired));
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let key = Key::new("k1");
    let (verifier, _, _shutdown) = verifier_for(&[&key]).await;
    let with_nbf = |offset: i64| {
        let mut claims = serde_json::to_value(claims(7200)).expect("claims serialise");
        claims["nbf"] = serde_json::json!(chrono::Utc::now().timestamp() + offset);
        claims
    };
    assert_eq!(
        verifier.verify(&key.sign(&with_nbf(3600))).await,
        Err(AuthError::Invalid("the token is not valid yet (nbf)".into())),
        "nbf an hour ahead"
    );
    assert!(verifier.verify(&key.sign(&with_nbf(10))).await.is_ok(), "10 s ahead is within the 30 s leeway");
    assert!(verifier.verify(&key.sign(&with_nbf(-60))).await.is_ok());
}

#[tokio::test]
async fn wrong_issuer_audience_or_signature_is_refused() {
    let key = Key::new("k1");
    let (verifier, _, _shutdown) = verifier_for(&[&key]).await;
    let mut wrong_issuer = claims(900);
    wrong_issuer.iss = "someone-else".into();
    assert_eq!(verifier.verify(&key.sign(&wrong_issuer)).await, Err(AuthError::Invalid("wrong issuer".into())));
    let mut wrong_audience = claims(900);
    wrong_audience.aud = "other-app".into();
    assert_eq!(verifier.verify(&key.sign(&wrong_audience)).await, Err(AuthError::Invalid("wrong audience".into())));
    // Signed by a key that claims k1's id.
    let impostor = Key::new("k1");
    assert_eq!(verifier.verify(&impostor.sign(&claims(900))).await, Err(AuthError::Invalid("bad signature".into())));
}

#[tokio::test]
async fn alg_none_and_hmac_tokens_are_refused() {
    use base64::Engine;
    let key = Key::new("k1");
    let (verifier, _, _shutdown) = verifier_for(&[&key]).await;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let body = b64.encode(serde_json::to_vec(&claims(900)).expect("json"));
    let none = format!("{}.{body}.", b64.encode(br#"{"alg":"none","kid":"k1"}"#));
    assert!(verifier.verify(&none).await.is_err());
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let secret = key.signing.verifying_key().to_bytes();
    let hmac = jsonwebtoken::encode(&header, &claims(900), &EncodingKey::from_secret(&secret)).expect("signs");
    assert!(matches!(verifier.verify(&hmac).await, Err(AuthError::Invalid(_))));
    assert_eq!(verifier.verify("not.a.token").await, Err(AuthError::Malformed));
}

#[tokio::test]
async fn a_rotated_key_is_fetched_when_a_token_names_it_and_old_keys_stay_cached_when_the_server_is_gone() {
    let old = Key::new("old");
    let new = Key::new("new");
    let (verifier, set, shutdown) = verifier_for(&[&old]).await;
    assert!(verifier.verify(&old.sign(&claims(900))).await.is_ok());
    assert_eq!(verifier.verify(&new.sign(&claims(900))).await, Err(AuthError::UnknownKey));

    *set.lock().expect("not poisoned") = serde_json::json!({ "keys": [old.jwk(), new.jwk()] });
    assert!(verifier.verify(&new.sign(&claims(900))).await.is_ok(), "the unknown kid triggered a refresh");

    shutdown.trigger();
    let stranger = Key::new("stranger");
    assert_eq!(verifier.verify(&stranger.sign(&claims(900))).await, Err(AuthError::UnknownKey), "the refresh failed");
    assert!(verifier.verify(&old.sign(&claims(900))).await.is_ok(), "cached keys outlive the key server");
}
