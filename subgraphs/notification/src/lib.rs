//! The notification context: tells users what happened (bookings, payments, messages, reviews,
//! verification) by email, push, SMS and in the app, as each user prefers. A federated subgraph
//! (port 8005) owning `Notification` and contributing `User.notifications`; consumes identity's,
//! tutoring's, booking's, payment's, messaging's and review's events, publishes
//! `notification.NotificationSent` / `NotificationFailed`, and pushes in-app notifications live
//! (`notificationAdded`) to subscribers on any replica through `platform::live::Fanout`.

pub mod channels;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod schema;
pub mod service;
pub mod store;
pub mod templates;

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use platform::bus::EventBus;
use platform::db::{Db, Migrations};
use platform::http::{GraphqlOptions, Readiness, graphql_routes, operations_routes, with_limits};
use platform::live::Fanout;
use platform::service::Background;
use platform::{Shutdown, TokenVerifier};

pub use config::NotificationConfig;
use service::{NotificationService, Settings};

pub static MIGRATIONS: Migrations =
    Migrations { postgres: &sqlx::migrate!("./migrations/postgres"), sqlite: &sqlx::migrate!("./migrations/sqlite") };

/// The fan-out exchange replicas share live notifications through.
pub const LIVE_EXCHANGE: &str = "notification.live";

/// A built notification service, ready to be served.
pub struct NotificationApp {
    pub router: Router,
    pub service: Arc<NotificationService>,
    pub db: Db,
    background: Background,
}

/// Opens the database, starts the outbox relay, the consumers and the dispatcher, and builds the
/// router. `fanout` carries live notifications to the subscribers of every replica; `verifier`
/// checks access tokens.
pub async fn build(
    config: &NotificationConfig,
    bus: Arc<dyn EventBus>,
    fanout: Arc<Fanout>,
    verifier: TokenVerifier,
    shutdown: &Shutdown,
) -> anyhow::Result<NotificationApp> {
    let db = Db::connect(&config.common.database_url, MIGRATIONS).await.context("notification database")?;
    let store = store::for_db(&db);
    let channels = channels::Channels::from_config(config).context("notification channels")?;
    let settings =
        Settings { retry: config.retry, new_message_delay: config.new_message_delay, channels, fanout: fanout.clone() };
    let service = Arc::new(NotificationService::new(store, settings));

    let mut background = Background::start("notification", &db, &bus, events::subscriptions(service.clone()), shutdown)
        .await
        .context("subscribing notification's consumers")?;
    background.spawn(service.clone().run_dispatcher(config.dispatch_interval, shutdown.clone()));

    let options = GraphqlOptions { verifier: Some(verifier), trusted_proxies: config.common.trusted_proxies.clone() };
    let router = graphql_routes(schema::build(Some(service.clone()), Some(fanout)), options)
        .merge(operations_routes(Readiness { db: db.clone(), bus }));
    let router = with_limits(router, config.common.body_limit_bytes);
    Ok(NotificationApp { router, service, db, background })
}

impl NotificationApp {
    /// Serves until shutdown, then stops the consumers and background loops and closes the database.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: Shutdown,
        grace: std::time::Duration,
    ) -> anyhow::Result<()> {
        self.background.serve(listener, self.router, self.db, shutdown, grace).await.context("notification server")?;
        Ok(())
    }
}

/// Runs notification as its own process: bus from `AMQP_URL` (live fan-out through the same
/// broker), tokens checked against `JWKS_URL`.
pub async fn run(config: NotificationConfig, shutdown: Shutdown) -> anyhow::Result<()> {
    let (bus, verifier) = platform::service::process_connections(&config.common)?;
    let fanout = Fanout::open(&config.common.amqp_url, LIVE_EXCHANGE, &shutdown);
    let app = build(&config, bus, fanout, verifier, &shutdown).await?;
    let listener = platform::service::bind(&config.common, "/graphql (and WebSocket), /health/ready, /metrics").await?;
    app.serve(listener, shutdown, config.common.shutdown_grace).await
}
