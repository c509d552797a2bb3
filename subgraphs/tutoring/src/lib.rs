//! The tutoring context: tutor profiles, weekly availability and bookable slots, pricing,
//! search and the rating projection. A federated subgraph (port 8002) owning `Tutor` and
//! contributing `User.tutorProfile`; publishes `tutoring.*` events and consumes identity's,
//! booking's and review's.

pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod schema;
pub mod service;
pub mod store;

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use platform::bus::EventBus;
use platform::db::{Db, Migrations};
use platform::http::{GraphqlOptions, Readiness, graphql_routes, operations_routes, with_limits};
use platform::service::Background;
use platform::{Shutdown, TokenVerifier};

pub use config::TutoringConfig;
use service::TutoringService;

pub static MIGRATIONS: Migrations =
    Migrations { postgres: &sqlx::migrate!("./migrations/postgres"), sqlite: &sqlx::migrate!("./migrations/sqlite") };

/// A built tutoring service, ready to be served.
pub struct Tutoring {
    pub router: Router,
    pub service: Arc<TutoringService>,
    pub db: Db,
    background: Background,
}

/// Opens the database, starts the outbox relay and the consumers, and builds the router.
/// `verifier` checks access tokens (identity's keys: JWKS in production, shared in-process
/// when embedded).
pub async fn build(
    config: &TutoringConfig,
    bus: Arc<dyn EventBus>,
    verifier: TokenVerifier,
    shutdown: &Shutdown,
) -> anyhow::Result<Tutoring> {
    let db = Db::connect(&config.common.database_url, MIGRATIONS).await.context("tutoring database")?;
    let store = store::for_db(&db);
    let service = Arc::new(TutoringService::new(store.clone()));

    let background = Background::start("tutoring", &db, &bus, events::subscriptions(store), shutdown)
        .await
        .context("subscribing tutoring's consumers")?;

    let options = GraphqlOptions { verifier: Some(verifier), trusted_proxies: config.common.trusted_proxies.clone() };
    let router = graphql_routes(schema::build(Some(service.clone())), options)
        .merge(operations_routes(Readiness { db: db.clone(), bus }));
    let router = with_limits(router, config.common.body_limit_bytes);
    Ok(Tutoring { router, service, db, background })
}

impl Tutoring {
    /// Serves until shutdown, then stops the consumers and background loops and closes the database.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: Shutdown,
        grace: std::time::Duration,
    ) -> anyhow::Result<()> {
        self.background.serve(listener, self.router, self.db, shutdown, grace).await.context("tutoring server")?;
        Ok(())
    }
}

/// Runs tutoring as its own process: bus from `AMQP_URL`, tokens checked against `JWKS_URL`.
pub async fn run(config: TutoringConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let (bus, verifier) = platform::service::process_connections(&config.common)?;
    let tutoring = build(&config, bus, verifier, &shutdown).await?;
    let listener = platform::service::bind(&config.common, "/graphql, /health/ready, /metrics").await?;
    tutoring.serve(listener, shutdown, config.common.shutdown_grace).await
}
