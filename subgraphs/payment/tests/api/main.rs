//! Payment's API tests: the real service (and a real identity for users and tokens) on SQLite,
//! or PostgreSQL when `DATABASE_URL` points at a server, with the simulated provider posting
//! its signed webhooks to the service over HTTP.

mod helpers;

mod cancellations;
mod ledger;
mod payments;
mod payouts;
mod restart;
mod schema;
mod webhooks;
