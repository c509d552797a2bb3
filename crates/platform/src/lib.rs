//! The service chassis every EduStream subgraph runs on.
//!
//! Configuration from the environment, logs and metrics, the database (PostgreSQL or SQLite,
//! chosen by URL) with embedded migrations, the event bus (RabbitMQ or in-process) with the
//! transactional outbox and the idempotent inbox, access-token verification against a JWKS,
//! and [`serve`](http::serve): `/graphql` (POST, GET, WebSocket), health and metrics endpoints,
//! graceful shutdown.

pub mod auth;
pub mod bus;
pub mod config;
pub mod db;
pub mod graphql;
pub mod http;
pub mod inbox;
pub mod live;
pub mod outbox;
pub mod service;
pub mod shutdown;
pub mod telemetry;

pub use auth::{AuthContext, ClientIp, Principal, RoleGuard, SignedInGuard, TokenVerifier};
pub use bus::{EventBus, EventHandler, HandlerError, Subscription};
pub use config::{CommonConfig, ConfigError, Env};
pub use db::Db;
pub use shutdown::Shutdown;
