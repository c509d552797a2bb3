//! The queries run most often use the indexes meant for them (checked with the database's own
//! planner: SQLite's `EXPLAIN QUERY PLAN`, PostgreSQL's `EXPLAIN` with sequential scans off, as
//! a test table is too small for the planner to prefer an index by itself).

use platform::db::Db;
use sqlx::Row as _;

use crate::helpers::*;

/// The plan of `sql` (its `{user}` a user id literal) as text.
async fn plan(stack: &Stack, sql: &str) -> String {
    let user = uuid::Uuid::now_v7();
    match &stack.db {
        Db::Postgres(pool) => {
            let sql = sql.replace("{user}", &format!("'{user}'::uuid"));
            let mut conn = pool.acquire().await.expect("connection");
            sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await.expect("set");
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}"))).fetch_all(&mut *conn).await;
            sqlx::query("RESET enable_seqscan").execute(&mut *conn).await.expect("reset");
            rows.expect("explains").iter().map(|r| r.get::<String, _>(0)).collect::<Vec<_>>().join("\n")
        }
        Db::Sqlite(pool) => {
            let sql = sql.replace("{user}", &format!("x'{}'", user.simple()));
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .fetch_all(pool)
                .await
                .expect("explains");
            rows.iter().map(|r| r.get::<String, _>("detail")).collect::<Vec<_>>().join("\n")
        }
    }
}

#[tokio::test]
async fn unread_in_app_counts_and_pages_use_the_partial_index() {
    let stack = spawn().await;
    let count = plan(
        &stack,
        "SELECT COUNT(*) FROM notifications WHERE recipient_id = {user} AND channel = 'IN_APP' AND read_at IS NULL",
    )
    .await;
    assert!(count.contains("notifications_unread_in_app"), "{count}");
    let page = plan(
        &stack,
        "SELECT id FROM notifications WHERE recipient_id = {user} AND channel = 'IN_APP' AND read_at IS NULL \
         ORDER BY id DESC LIMIT 21",
    )
    .await;
    assert!(page.contains("notifications_unread_in_app"), "{page}");
}
