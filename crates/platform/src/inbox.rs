//! The idempotent inbox: a consumer records an event's id in the same transaction as the
//! event's effect. A redelivered event finds its id already there and changes nothing.

use kernel::EventEnvelope;
use sqlx::{PgConnection, SqliteConnection};

/// Records `event` for `consumer` in the caller's transaction; `false` means it was already
/// applied and the caller should skip the effect (and still acknowledge).
pub async fn record_postgres(
    conn: &mut PgConnection,
    consumer: &str,
    event: &EventEnvelope,
) -> Result<bool, sqlx::Error> {
    let result =
        sqlx::query("INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(consumer)
            .bind(event.id)
            .bind(&event.event_type)
            .execute(&mut *conn)
            .await?;
    Ok(result.rows_affected() == 1)
}

/// The SQLite twin of [`record_postgres`].
pub async fn record_sqlite(
    conn: &mut SqliteConnection,
    consumer: &str,
    event: &EventEnvelope,
) -> Result<bool, sqlx::Error> {
    let result =
        sqlx::query("INSERT INTO inbox (consumer, event_id, event_type) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")
            .bind(consumer)
            .bind(event.id.to_string())
            .bind(&event.event_type)
            .execute(&mut *conn)
            .await?;
    Ok(result.rows_affected() == 1)
}
