//! Messaging's API tests: the real service (and a real identity for users and tokens) on SQLite
//! and the in-process bus, or PostgreSQL and RabbitMQ when `DATABASE_URL` and `AMQP_URL` point
//! at servers.

mod helpers;

mod conversations;
mod messages;
mod replicas;
mod schema;
mod subscriptions;
