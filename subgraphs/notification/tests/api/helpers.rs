//! `spawn()`: notification on a fresh database beside a real identity, sharing a bus (in-process,
//! or RabbitMQ when `AMQP_URL` names a broker), with its `.eml` files in a temporary directory.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kernel::events::booking::{BookedSlot, BookingConfirmed};
use notification::domain::{Channel, Kind, Notification, UserId};
use notification::service::NotificationService;
use platform::db::Db;
use platform::live::Fanout;
use serde_json::Value;
pub use testkit::{User, code};

pub struct Stack {
    pub graph: testkit::Graph,
    pub addr: SocketAddr,
    pub service: Arc<NotificationService>,
    pub fanout: Arc<Fanout>,
    /// Notification's own database (to check the inbox, or to write what a concurrent
    /// transaction would have committed).
    pub db: Db,
    pub mail_dir: tempfile::TempDir,
}

impl std::ops::Deref for Stack {
    type Target = testkit::Graph;
    fn deref(&self) -> &testkit::Graph {
        &self.graph
    }
}

pub async fn spawn() -> Stack {
    spawn_with(&[]).await
}

/// Notification with extra settings (`SMTP_URL`, `PUSH_PROVIDER_URL`, `NOTIFY_RETRY_BASE`, …).
pub async fn spawn_with(settings: &[(&str, &str)]) -> Stack {
    let graph = testkit::Graph::start_on_broker(&["notification"]).await;
    let mail_dir = tempfile::tempdir().expect("temp dir");
    let mut env = graph.env_for("notification").await.with("MAIL_DIR", mail_dir.path().display().to_string());
    for (name, value) in settings {
        env = env.with(name, *value);
    }
    let config = notification::NotificationConfig::from_env(&env).expect("notification config");
    let fanout = match testkit::broker_url() {
        Some(url) => {
            let exchange = format!("t{}.notification.live", &uuid::Uuid::now_v7().simple().to_string()[16..]);
            Fanout::rabbit(&url, &exchange, &graph.shutdown)
        }
        None => Fanout::in_process(),
    };
    let app =
        notification::build(&config, graph.shared.clone(), fanout.clone(), graph.verifier.clone(), &graph.shutdown)
            .await
            .expect("notification builds");
    let service = app.service.clone();
    let db = app.db.clone();
    let (listener, addr) = testkit::listen().await;
    tokio::spawn(app.serve(listener, graph.shutdown.clone(), Duration::from_secs(1)));
    Stack { graph, addr, service, fanout, db, mail_dir }
}

/// Polls (bounded: 10 s) until `check` yields a value.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    for _ in 0..400 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

pub fn user_id(user: &User) -> UserId {
    user.id.parse().expect("a user id")
}

/// (type, channel) pairs of notifications, sorted.
pub fn kinds(list: &[Notification]) -> Vec<(Kind, Channel)> {
    let mut pairs: Vec<(Kind, Channel)> = list.iter().map(|n| (n.kind, n.channel)).collect();
    pairs.sort();
    pairs
}

/// A slot of a session of `student` with the tutor profile `tutor`, tomorrow.
pub fn slot(student: &str, tutor: &str) -> BookedSlot {
    let starts_at = chrono::Utc::now() + chrono::Duration::days(1);
    BookedSlot {
        booking_id: uuid::Uuid::now_v7().to_string(),
        tutor_id: tutor.to_owned(),
        student_id: student.to_owned(),
        starts_at,
        ends_at: starts_at + chrono::Duration::hours(1),
    }
}

impl Stack {
    /// An operation against notification.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        self.graph.post(self.addr, query, variables, token).await
    }

    /// Registers a user with identity and waits until notification knows their contact.
    pub async fn user(&self, role: &str, name: &str) -> User {
        let user = self.graph.register(role, name).await;
        let id = user_id(&user);
        let store = self.service.store().clone();
        eventually("notification to learn the user", || {
            let store = store.clone();
            async move { store.contacts(&[id]).await.expect("store").remove(&id) }
        })
        .await;
        user
    }

    /// Every notification of `user`, newest first.
    pub async fn history(&self, user: &User) -> Vec<Notification> {
        self.service.store().of_recipient(user_id(user), 500).await.expect("store")
    }

    /// Waits until `user`'s notifications satisfy `done`.
    pub async fn wait_history(
        &self,
        user: &User,
        what: &str,
        done: impl Fn(&[Notification]) -> bool,
    ) -> Vec<Notification> {
        eventually(what, || async {
            let list = self.history(user).await;
            done(&list).then_some(list)
        })
        .await
    }

    /// `user`'s notifications of `kind`, once there are `n` of them.
    pub async fn wait_kind(&self, user: &User, kind: Kind, n: usize) -> Vec<Notification> {
        let list = self
            .wait_history(user, &format!("{n} {kind:?} notifications"), |l| {
                l.iter().filter(|x| x.kind == kind).count() >= n
            })
            .await;
        list.into_iter().filter(|x| x.kind == kind).collect()
    }

    /// Waits until every pending delivery of `user` is settled (SENT or FAILED).
    pub async fn wait_settled(&self, user: &User) -> Vec<Notification> {
        self.wait_history(user, "deliveries to settle", |l| {
            l.iter().all(|n| n.status != notification::domain::Status::Pending)
        })
        .await
    }

    /// Waits until notification's consumer has applied `event` (its inbox record committed).
    pub async fn consumed(&self, event: &kernel::EventEnvelope) {
        let what = format!("notification to consume {}", event.event_type);
        eventually(&what, || async {
            let n: i64 = match &self.db {
                Db::Postgres(pool) => sqlx::query_scalar("SELECT COUNT(*) FROM inbox WHERE event_id = $1")
                    .bind(event.id)
                    .fetch_one(pool)
                    .await
                    .expect("inbox"),
                Db::Sqlite(pool) => sqlx::query_scalar("SELECT COUNT(*) FROM inbox WHERE event_id = ?1")
                    .bind(event.id.to_string())
                    .fetch_one(pool)
                    .await
                    .expect("inbox"),
            };
            (n > 0).then_some(())
        })
        .await;
    }

    /// Runs one statement with uuid parameters on notification's database, outside the service
    /// (what another transaction committed meanwhile).
    pub async fn execute(&self, sql: &str, ids: &[uuid::Uuid]) {
        match &self.db {
            Db::Postgres(pool) => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
                for id in ids {
                    query = query.bind(*id);
                }
                query.execute(pool).await.expect("executes");
            }
            Db::Sqlite(pool) => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
                for id in ids {
                    query = query.bind(*id);
                }
                query.execute(pool).await.expect("executes");
            }
        }
    }

    /// The `.eml` files written so far.
    pub fn mails(&self) -> Vec<String> {
        let mut mails: Vec<String> = std::fs::read_dir(self.mail_dir.path())
            .expect("mail dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .map(|e| std::fs::read_to_string(e.path()).expect("readable"))
            .collect();
        mails.sort();
        mails
    }

    /// Booking says a session of `student` with the tutor profile `tutor` is confirmed.
    pub async fn confirm(&self, student: &User, tutor: &str) -> kernel::EventEnvelope {
        let event = BookingConfirmed { slot: slot(&student.id, tutor), meeting_url: "https://meet.example/x".into() };
        self.graph.deliver(&event).await
    }
}
