//! The identity service over HTTP, on whichever backend the environment selects (SQLite by
//! default; PostgreSQL with `DATABASE_URL`, Redis with `REDIS_URL`).

mod helpers;

mod auth;
mod federation;
mod http;
mod profile;
mod roles;
mod schema;
mod store;
