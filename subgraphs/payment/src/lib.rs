//! The payment context: one payment per booking (a provider intent the student pays), the
//! booking saga's compensations (abandoning an unpaid intent, refunds), an append-only ledger
//! splitting what each booking retained into the tutor's earning and the platform's fee, and
//! tutors' payouts. A federated subgraph (port 8006) owning `Payment` and `Payout` and
//! contributing `Booking.payment` and `Tutor.payouts`; consumes booking's `BookingRequested`,
//! `BookingCancelled` and `BookingCompleted`, publishes `payment.*` events, and receives the
//! provider's signed webhooks on `/webhooks/provider`.

pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod provider;
pub mod schema;
pub mod service;
pub mod store;
pub mod webhook;

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use platform::bus::EventBus;
use platform::db::{Db, Migrations};
use platform::http::{GraphqlOptions, Readiness, graphql_routes, operations_routes, with_limits};
use platform::service::Background;
use platform::{Shutdown, TokenVerifier};

pub use config::PaymentConfig;
pub use provider::{PaymentProvider, SimulatedProvider};
use service::PaymentService;

pub static MIGRATIONS: Migrations =
    Migrations { postgres: &sqlx::migrate!("./migrations/postgres"), sqlite: &sqlx::migrate!("./migrations/sqlite") };

/// A built payment service, ready to be served.
pub struct PaymentApp {
    pub router: Router,
    pub service: Arc<PaymentService>,
    pub db: Db,
    background: Background,
}

/// Opens the database, starts the outbox relay, the consumers and the dispatcher of refunds and
/// payouts, and builds the router (`/graphql`, `/webhooks/provider`, health and metrics).
/// `verifier` checks access tokens; `provider` is the payment provider, built by the caller so
/// that it can outlive the service (its webhooks are signed with `config.webhook_secret`).
pub async fn build(
    config: &PaymentConfig,
    bus: Arc<dyn EventBus>,
    verifier: TokenVerifier,
    provider: Arc<dyn PaymentProvider>,
    shutdown: &Shutdown,
) -> anyhow::Result<PaymentApp> {
    if config.webhook_secret_generated {
        tracing::warn!(
            "PAYMENT_WEBHOOK_SECRET is not set: webhooks are verified with a secret generated for this process, \
             which only a provider in the same process (the simulated one) can know"
        );
    }
    let db = Db::connect(&config.common.database_url, MIGRATIONS).await.context("payment database")?;
    let store = store::for_db(&db, config.platform_fee_bps);
    let service = Arc::new(PaymentService::new(store, provider).with_open_wait(config.open_wait));

    let mut background = Background::start("payment", &db, &bus, events::subscriptions(service.clone()), shutdown)
        .await
        .context("subscribing payment's consumers")?;
    background.spawn(service.clone().run_dispatcher(shutdown.clone()));

    let options = GraphqlOptions { verifier: Some(verifier), trusted_proxies: config.common.trusted_proxies.clone() };
    let router = graphql_routes(schema::build(Some(service.clone())), options)
        .merge(webhook::routes(service.clone(), config.webhook_secret.clone(), config.webhook_tolerance))
        .merge(operations_routes(Readiness { db: db.clone(), bus }));
    let router = with_limits(router, config.common.body_limit_bytes);
    Ok(PaymentApp { router, service, db, background })
}

impl PaymentApp {
    /// Serves until shutdown, then stops the consumers, the relay and the dispatcher and closes
    /// the database.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: Shutdown,
        grace: std::time::Duration,
    ) -> anyhow::Result<()> {
        self.background.serve(listener, self.router, self.db, shutdown, grace).await.context("payment server")?;
        Ok(())
    }
}

/// Runs payment as its own process: bus from `AMQP_URL`, tokens checked against `JWKS_URL`,
/// and the simulated provider posting its webhooks to `PAYMENT_WEBHOOK_URL`.
pub async fn run(config: PaymentConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let (bus, verifier) = platform::service::process_connections(&config.common)?;
    let provider = SimulatedProvider::start(config.webhook_secret.clone(), config.webhook_url.clone(), &shutdown);
    let app = build(&config, bus, verifier, provider, &shutdown).await?;
    let listener =
        platform::service::bind(&config.common, "/graphql, /webhooks/provider, /health/ready, /metrics").await?;
    app.serve(listener, shutdown, config.common.shutdown_grace).await
}
