//! The booking context: students book tutors' sessions; the booking saga (payment, tutor
//! confirmation, cancellation and refund, completion) runs through events. A federated subgraph
//! (port 8003) owning `Booking` and contributing `User.bookings` and `Tutor.bookings`;
//! publishes `booking.*` events and consumes identity's, tutoring's and payment's.

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

pub use config::BookingConfig;
use service::BookingService;

pub static MIGRATIONS: Migrations =
    Migrations { postgres: &sqlx::migrate!("./migrations/postgres"), sqlite: &sqlx::migrate!("./migrations/sqlite") };

/// A built booking service, ready to be served.
pub struct BookingApp {
    pub router: Router,
    pub service: Arc<BookingService>,
    pub db: Db,
    background: Background,
}

/// Opens the database, starts the outbox relay, the consumers and the deadline sweeper, and
/// builds the router. `verifier` checks access tokens.
pub async fn build(
    config: &BookingConfig,
    bus: Arc<dyn EventBus>,
    verifier: TokenVerifier,
    shutdown: &Shutdown,
) -> anyhow::Result<BookingApp> {
    let db = Db::connect(&config.common.database_url, MIGRATIONS).await.context("booking database")?;
    let store = store::for_db(&db);
    let service = Arc::new(BookingService::new(store, config.policy.clone()));

    let mut background = Background::start("booking", &db, &bus, events::subscriptions(service.clone()), shutdown)
        .await
        .context("subscribing booking's consumers")?;
    background.spawn(service.clone().run_sweeper(config.sweep_interval, shutdown.clone()));

    let options = GraphqlOptions { verifier: Some(verifier), trusted_proxies: config.common.trusted_proxies.clone() };
    let router = graphql_routes(schema::build(Some(service.clone())), options)
        .merge(operations_routes(Readiness { db: db.clone(), bus }));
    let router = with_limits(router, config.common.body_limit_bytes);
    Ok(BookingApp { router, service, db, background })
}

impl BookingApp {
    /// Serves until shutdown, then stops the consumers and background loops and closes the database.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: Shutdown,
        grace: std::time::Duration,
    ) -> anyhow::Result<()> {
        self.background.serve(listener, self.router, self.db, shutdown, grace).await.context("booking server")?;
        Ok(())
    }
}

/// Runs booking as its own process: bus from `AMQP_URL`, tokens checked against `JWKS_URL`.
pub async fn run(config: BookingConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let (bus, verifier) = platform::service::process_connections(&config.common)?;
    let app = build(&config, bus, verifier, &shutdown).await?;
    let listener = platform::service::bind(&config.common, "/graphql, /health/ready, /metrics").await?;
    app.serve(listener, shutdown, config.common.shutdown_grace).await
}
