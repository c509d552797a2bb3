//! The identity context: users, profiles, sign-up and sign-in, access and refresh tokens.
//! A federated subgraph (port 8001) owning `User`; publishes `identity.*` events.

pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod password;
pub mod schema;
pub mod service;
pub mod store;
pub mod throttle;
pub mod tokens;

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use platform::bus::EventBus;
use platform::db::{Db, Migrations};
use platform::http::{GraphqlOptions, Readiness, graphql_routes, operations_routes, with_limits};
use platform::service::Background;
use platform::{Shutdown, TokenVerifier};

pub use config::IdentityConfig;
use config::SigningKeySource;
use password::PasswordHasher;
use service::{IdentityService, Policy};
use throttle::{LoginThrottle, MemoryThrottle, RedisThrottle};
use tokens::{SigningKeys, TokenIssuer};

pub static MIGRATIONS: Migrations =
    Migrations { postgres: &sqlx::migrate!("./migrations/postgres"), sqlite: &sqlx::migrate!("./migrations/sqlite") };

/// A built identity service, ready to be served.
pub struct Identity {
    pub router: Router,
    pub service: Arc<IdentityService>,
    pub db: Db,
    pub verifier: TokenVerifier,
    pub keys: Arc<SigningKeys>,
    background: Background,
}

fn signing_keys(source: &SigningKeySource) -> anyhow::Result<SigningKeys> {
    use secrecy::ExposeSecret;
    Ok(match source {
        SigningKeySource::Configured { seed, previous } => SigningKeys::from_config(seed.expose_secret(), previous)?,
        SigningKeySource::Generated { dir } => SigningKeys::load_or_generate(dir)?,
    })
}

/// Opens the database, starts the outbox relay, and builds the router.
pub async fn build(config: &IdentityConfig, bus: Arc<dyn EventBus>, shutdown: &Shutdown) -> anyhow::Result<Identity> {
    let db = Db::connect(&config.common.database_url, MIGRATIONS).await.context("identity database")?;
    let keys = Arc::new(signing_keys(&config.signing_key).context("identity signing key")?);
    let verifier = keys.verifier(&config.common.jwt);
    let issuer = TokenIssuer::new(keys.clone(), &config.common.jwt, config.access_token_ttl);
    let throttle: Arc<dyn LoginThrottle> = match &config.common.redis_url {
        Some(url) => Arc::new(RedisThrottle::connect(url).await.context("Redis for the login throttle")?),
        None => Arc::new(MemoryThrottle::new()),
    };
    let policy = Policy {
        refresh_ttl: config.refresh_token_ttl,
        per_account: config.per_account,
        per_address: config.per_address,
        admin_email: config.admin_email.clone(),
    };
    let hasher = PasswordHasher::new();
    let service = Arc::new(IdentityService::new(store::for_db(&db), hasher, issuer, throttle, policy));
    service.promote_configured_admin().await.map_err(|e| anyhow::anyhow!("promoting the configured admin: {e}"))?;

    // Identity consumes no other context's events: only its relay runs.
    let background = Background::start("identity", &db, &bus, Vec::new(), shutdown).await.context("identity relay")?;

    let jwks = keys.jwks();
    let options =
        GraphqlOptions { verifier: Some(verifier.clone()), trusted_proxies: config.common.trusted_proxies.clone() };
    let router = graphql_routes(schema::build(Some(service.clone())), options)
        .merge(operations_routes(Readiness { db: db.clone(), bus }))
        .route("/.well-known/jwks.json", get(move || std::future::ready(axum::Json(jwks.clone()))));
    let router = with_limits(router, config.common.body_limit_bytes);
    Ok(Identity { router, service, db, verifier, keys, background })
}

impl Identity {
    /// Serves until shutdown, then waits for the background loops and closes the database.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: Shutdown,
        grace: std::time::Duration,
    ) -> anyhow::Result<()> {
        self.background.serve(listener, self.router, self.db, shutdown, grace).await.context("identity server")?;
        Ok(())
    }
}

/// Runs identity as its own process: bus from `AMQP_URL`, listening on `LISTEN_ADDR`.
pub async fn run(config: IdentityConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let bus = platform::bus::open(&config.common.amqp_url, config.common.prefetch);
    let identity = build(&config, bus, &shutdown).await?;
    let listener = tokio::net::TcpListener::bind(config.common.listen_addr)
        .await
        .with_context(|| format!("binding {}", config.common.listen_addr))?;
    tracing::info!(addr = %config.common.listen_addr, "identity listening: /graphql, /.well-known/jwks.json, /health/ready, /metrics");
    identity.serve(listener, shutdown, config.common.shutdown_grace).await
}
