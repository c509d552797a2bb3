//! Review's API tests: the real service (and a real identity for users and tokens) on SQLite,
//! or PostgreSQL when `DATABASE_URL` points at a server.

mod helpers;

mod moderation;
mod reviews;
mod schema;
