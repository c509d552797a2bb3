//! The messaging context: conversations between students and tutors, their messages, read
//! receipts and live updates. A federated subgraph (port 8004) owning `Conversation` and
//! `Message`, contributing `User.conversations`, with the subscriptions `messageAdded`,
//! `messageUpdated`, `messageRead` and `typing` (over `graphql-transport-ws` on `/graphql`);
//! publishes `messaging.*` events and consumes identity's users and roles.
//!
//! Subscribers may be connected to any replica: live updates go through a
//! [`Fanout`](platform::live::Fanout) (in-process, or the RabbitMQ fanout exchange
//! [`LIVE_EXCHANGE`]).

pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod limit;
pub mod live;
pub mod schema;
pub mod service;
pub mod store;

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use platform::bus::EventBus;
use platform::db::{Db, Migrations};
use platform::http::{GraphqlOptions, Readiness, graphql_routes, operations_routes, with_limits};
use platform::live::Fanout;
use platform::service::Background;
use platform::{Shutdown, TokenVerifier};

pub use config::MessagingConfig;
use limit::SendLimiter;
use service::MessagingService;

pub static MIGRATIONS: Migrations =
    Migrations { postgres: &sqlx::migrate!("./migrations/postgres"), sqlite: &sqlx::migrate!("./migrations/sqlite") };

/// The RabbitMQ fanout exchange the replicas of messaging share live updates through.
pub const LIVE_EXCHANGE: &str = "messaging.live";

/// A built messaging service, ready to be served.
pub struct Messaging {
    pub router: Router,
    pub service: Arc<MessagingService>,
    pub db: Db,
    background: Background,
}

/// Opens the database, starts the outbox relay and the consumers, and builds the router.
/// `fanout` carries live updates to the subscribers of every replica (share one
/// `Fanout::in_process()` between replicas in one process; `Fanout::open(amqp_url,
/// LIVE_EXCHANGE, …)` otherwise). `verifier` checks access tokens.
pub async fn build(
    config: &MessagingConfig,
    bus: Arc<dyn EventBus>,
    fanout: Arc<Fanout>,
    verifier: TokenVerifier,
    shutdown: &Shutdown,
) -> anyhow::Result<Messaging> {
    let db = Db::connect(&config.common.database_url, MIGRATIONS).await.context("messaging database")?;
    let store = store::for_db(&db);
    let limiter = SendLimiter::new(config.rate_per_minute, config.rate_burst);
    let service = Arc::new(MessagingService::new(store.clone(), fanout, limiter));

    let background = Background::start("messaging", &db, &bus, events::subscriptions(store), shutdown)
        .await
        .context("subscribing messaging's consumers")?;

    let options = GraphqlOptions { verifier: Some(verifier), trusted_proxies: config.common.trusted_proxies.clone() };
    let router = graphql_routes(schema::build(Some(service.clone())), options)
        .merge(operations_routes(Readiness { db: db.clone(), bus }));
    let router = with_limits(router, config.common.body_limit_bytes);
    Ok(Messaging { router, service, db, background })
}

impl Messaging {
    /// Serves until shutdown, then stops the consumers and background loops and closes the database.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: Shutdown,
        grace: std::time::Duration,
    ) -> anyhow::Result<()> {
        self.background.serve(listener, self.router, self.db, shutdown, grace).await.context("messaging server")?;
        Ok(())
    }
}

/// Runs messaging as its own process: bus and live fan-out from `AMQP_URL`, tokens checked
/// against `JWKS_URL`.
pub async fn run(config: MessagingConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let (bus, verifier) = platform::service::process_connections(&config.common)?;
    let fanout = Fanout::open(&config.common.amqp_url, LIVE_EXCHANGE, &shutdown);
    let messaging = build(&config, bus, fanout, verifier, &shutdown).await?;
    let listener =
        platform::service::bind(&config.common, "/graphql (with subscriptions), /health/ready, /metrics").await?;
    messaging.serve(listener, shutdown, config.common.shutdown_grace).await
}
