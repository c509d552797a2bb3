//! The review context: students' reviews of completed bookings, flags and moderation. A
//! federated subgraph (port 8007) owning `Review` and contributing `Tutor.reviews` and
//! `Booking.review`; publishes `review.*` events and consumes booking's `BookingCompleted`.

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

pub use config::ReviewConfig;
use service::ReviewService;

pub static MIGRATIONS: Migrations =
    Migrations { postgres: &sqlx::migrate!("./migrations/postgres"), sqlite: &sqlx::migrate!("./migrations/sqlite") };

/// A built review service, ready to be served.
pub struct Review {
    pub router: Router,
    pub service: Arc<ReviewService>,
    pub db: Db,
    background: Background,
}

/// Opens the database, starts the outbox relay and the consumers, and builds the router.
/// `verifier` checks access tokens (identity's keys: JWKS in production, shared in-process
/// when embedded).
pub async fn build(
    config: &ReviewConfig,
    bus: Arc<dyn EventBus>,
    verifier: TokenVerifier,
    shutdown: &Shutdown,
) -> anyhow::Result<Review> {
    let db = Db::connect(&config.common.database_url, MIGRATIONS).await.context("review database")?;
    let store = store::for_db(&db);
    let service = Arc::new(ReviewService::new(store.clone(), config.flag_threshold));

    let background = Background::start("review", &db, &bus, events::subscriptions(store), shutdown)
        .await
        .context("subscribing review's consumers")?;

    let options = GraphqlOptions { verifier: Some(verifier), trusted_proxies: config.common.trusted_proxies.clone() };
    let router = graphql_routes(schema::build(Some(service.clone())), options)
        .merge(operations_routes(Readiness { db: db.clone(), bus }));
    let router = with_limits(router, config.common.body_limit_bytes);
    Ok(Review { router, service, db, background })
}

impl Review {
    /// Serves until shutdown, then stops the consumers and background loops and closes the database.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: Shutdown,
        grace: std::time::Duration,
    ) -> anyhow::Result<()> {
        self.background.serve(listener, self.router, self.db, shutdown, grace).await.context("review server")?;
        Ok(())
    }
}

/// Runs review as its own process: bus from `AMQP_URL`, tokens checked against `JWKS_URL`.
pub async fn run(config: ReviewConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let (bus, verifier) = platform::service::process_connections(&config.common)?;
    let review = build(&config, bus, verifier, &shutdown).await?;
    let listener = platform::service::bind(&config.common, "/graphql, /health/ready, /metrics").await?;
    review.serve(listener, shutdown, config.common.shutdown_grace).await
}
