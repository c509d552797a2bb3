//! Booking's API tests: the real service beside a real identity and tutoring (whose events give
//! booking its users, calendars and prices), on SQLite, or PostgreSQL when `DATABASE_URL` points
//! at a server. The saga tests add the real payment service, on the in-process bus or on
//! RabbitMQ when `AMQP_URL` names a broker.

mod helpers;

mod requests;
mod saga;
mod schema;
