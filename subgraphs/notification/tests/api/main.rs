//! Notification's API tests: the real service beside a real identity (whose events give it its
//! contacts), on SQLite and the in-process bus, or PostgreSQL and RabbitMQ when `DATABASE_URL` and
//! `AMQP_URL` name servers. Email goes to a real SMTP server the tests start (or `.eml` files),
//! push and SMS to a local HTTP endpoint; `notificationAdded` is read over a real WebSocket.

mod helpers;
mod provider;
mod smtp;

mod delivery;
mod events;
mod graphql;
mod live;
mod messages;
mod plans;
mod schema;
