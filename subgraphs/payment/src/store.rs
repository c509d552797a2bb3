//! The repository of the payment context: one trait, and its PostgreSQL and SQLite adapters
//! generated from one portable body (as in review). Every write is one transaction: the
//! payment's change, its ledger entries and its outbox events together; consumers record the
//! event in the inbox, and webhooks their event id in `stripe_webhooks_log`, in that same
//! transaction. Payments read before a write are locked (`FOR UPDATE` on PostgreSQL; SQLite
//! serialises writers with `BEGIN IMMEDIATE`).

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use kernel::{Currency, EventEnvelope, Money};
use platform::db::placeholders;
use uuid::Uuid;

use crate::domain::{
    BookingId, BookingState, DomainError, EntryKind, Payment, PaymentId, Payout, PayoutId, PayoutStatus, Period,
    Refund, RefundId, RefundKind, RefundStatus, Status, TutorId, UserId,
};
use crate::events;
use crate::provider::{ProviderEvent, RefundNotice};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("there are no earnings to pay out in this period")]
    NothingToPay,
    #[error("the earnings of this period are in several currencies ({0}): name the currency")]
    SeveralCurrencies(String),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("a stored row is invalid: {0}")]
    Corrupt(String),
}

/// The current time as stored (milliseconds).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// What a booking event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// Applied before (inbox).
    Duplicate,
}

/// Whose payouts to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutOwner {
    User(UserId),
    Tutor(TutorId),
}

/// A refund the provider has not acknowledged yet, with the intent it refunds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundToSend {
    pub refund: Refund,
    pub intent_id: String,
}

#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// Opens the payment of a requested booking and publishes `PaymentRequested`; `Duplicate`
    /// when the event, or another payment of the booking, was there before.
    async fn open(&self, consumer: &str, event: &EventEnvelope, payment: &Payment) -> Result<Applied, StoreError>;
    /// Booking ended (cancelled, with what was granted, or completed): abandons an unpaid intent,
    /// requests the cancellation's refund, or settles. `NotFound` when the booking's payment is
    /// not open yet (nothing is recorded: the event is retried).
    async fn end_booking(
        &self,
        consumer: &str,
        event: &EventEnvelope,
        booking: BookingId,
        end: BookingState,
        granted: Option<Money>,
    ) -> Result<Applied, StoreError>;
    /// Applies a provider webhook once; `false` when its id was applied before.
    async fn apply_provider_event(
        &self,
        event_id: &str,
        event_type: &str,
        event: &ProviderEvent,
    ) -> Result<bool, StoreError>;
    /// Records the method of the charge attempt (the first one sticks).
    async fn record_attempt(&self, payment: PaymentId, method: &str) -> Result<Payment, StoreError>;
    /// Requests an admin's refund of `amount` (all that remains when `None`).
    async fn request_refund(&self, payment: PaymentId, amount: Option<i64>) -> Result<Payment, StoreError>;
    async fn refunds_to_send(&self, limit: i64) -> Result<Vec<RefundToSend>, StoreError>;
    async fn refund_sent(&self, refund: RefundId, provider_refund_id: &str) -> Result<(), StoreError>;
    /// Payouts whose transfer was not sent yet.
    async fn payouts_to_send(&self, limit: i64) -> Result<Vec<Payout>, StoreError>;
    /// `PENDING → PROCESSING` with the provider's transfer.
    async fn payout_sent(&self, payout: PayoutId, transfer_id: &str) -> Result<(), StoreError>;
    /// Takes the user's unpaid earnings of `period` (in `currency`, or their only currency) into
    /// a new payout and publishes `PayoutInitiated`.
    async fn create_payout(
        &self,
        user: UserId,
        period: Period,
        currency: Option<Currency>,
    ) -> Result<Payout, StoreError>;
    /// Newest first, after the payout `after`.
    async fn payouts(&self, owner: PayoutOwner, after: Option<Uuid>, limit: i64) -> Result<Vec<Payout>, StoreError>;
    /// The user behind a tutor profile, as booking's events told payment.
    async fn tutor_user(&self, tutor: TutorId) -> Result<Option<UserId>, StoreError>;
    async fn payments(&self, ids: &[PaymentId]) -> Result<Vec<Payment>, StoreError>;
    async fn payments_of_bookings(&self, bookings: &[BookingId]) -> Result<Vec<Payment>, StoreError>;
}

pub fn for_db(db: &platform::db::Db, fee_bps: u32) -> std::sync::Arc<dyn PaymentStore> {
    match db {
        platform::db::Db::Postgres(pool) => std::sync::Arc::new(PostgresStore::new(pool.clone(), fee_bps)),
        platform::db::Db::Sqlite(pool) => std::sync::Arc::new(SqliteStore::new(pool.clone(), fee_bps)),
    }
}

const PAYMENT_COLUMNS: &str = "id, booking_id, payer_id, tutor_id, tutor_user_id, amount_minor, currency, \
     refunded_minor, status, failure_reason, intent_id, payment_method, booking_state, cancel_paid, \
     cancel_refund_minor, settled_at, created_at, updated_at, correlation_id";

const REFUND_COLUMNS: &str = "r.id, r.payment_id, r.booking_id, r.kind, r.amount_minor, r.currency, r.status, \
     r.idempotency_key, r.provider_refund_id, r.created_at, r.processed_at";

const PAYOUT_COLUMNS: &str = "id, tutor_id, tutor_user_id, amount_minor, currency, status, period_start, \
     period_end, transfer_id, created_at, completed_at";

fn currency(raw: &str) -> Result<Currency, StoreError> {
    Currency::parse(raw).map_err(|_| StoreError::Corrupt(format!("currency {raw}")))
}

fn corrupt<T>(what: &str, raw: &str) -> impl FnOnce() -> Result<T, StoreError> {
    let message = format!("{what} {raw}");
    move || Err(StoreError::Corrupt(message))
}

/// How a payment is found for a write.
enum Key<'a> {
    Id(PaymentId),
    Booking(BookingId),
    Intent(&'a str),
}

macro_rules! sql_store {
    ($store:ident, $db:ty, $pool:ty, $conn:ty, $begin:path, $inbox:path, $outbox:path, $lock:literal) => {
        pub struct $store {
            pool: $pool,
            fee_bps: u32,
        }

        impl $store {
            pub fn new(pool: $pool, fee_bps: u32) -> Self {
                Self { pool, fee_bps }
            }

            async fn by(&self, column: &str, ids: &[Uuid]) -> Result<Vec<Payment>, StoreError> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let sql = format!(
                        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE {column} IN ({})",
                        placeholders(1, chunk.len())
                    );
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for id in chunk {
                        query = query.bind(*id);
                    }
                    for row in query.fetch_all(&self.pool).await? {
                        out.push(payment_row(&row)?);
                    }
                }
                Ok(out)
            }
        }

        fn payment_row(r: &<$db as sqlx::Database>::Row) -> Result<Payment, StoreError> {
            use sqlx::Row as _;
            let status: String = r.try_get("status")?;
            let state: String = r.try_get("booking_state")?;
            let booking = match state.as_str() {
                "OPEN" => BookingState::Open,
                "COMPLETED" => BookingState::Completed,
                "CANCELLED" => BookingState::Cancelled {
                    paid: r.try_get::<Option<bool>, _>("cancel_paid")?.unwrap_or(false),
                    refund_minor: r.try_get::<Option<i64>, _>("cancel_refund_minor")?.unwrap_or(0),
                },
                other => return corrupt("booking state", other)(),
            };
            let currency_code: String = r.try_get("currency")?;
            Ok(Payment {
                id: PaymentId::from_uuid(r.try_get("id")?),
                booking_id: BookingId::from_uuid(r.try_get("booking_id")?),
                payer_id: UserId::from_uuid(r.try_get("payer_id")?),
                tutor_id: TutorId::from_uuid(r.try_get("tutor_id")?),
                tutor_user_id: UserId::from_uuid(r.try_get("tutor_user_id")?),
                amount: Money::new(r.try_get("amount_minor")?, currency(&currency_code)?),
                refunded_minor: r.try_get("refunded_minor")?,
                status: match Status::parse(&status) {
                    Some(status) => status,
                    None => return corrupt("status", &status)(),
                },
                failure_reason: r.try_get("failure_reason")?,
                intent_id: r.try_get("intent_id")?,
                correlation_id: r.try_get("correlation_id")?,
                payment_method: r.try_get("payment_method")?,
                booking,
                settled_at: r.try_get("settled_at")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn refund_row(r: &<$db as sqlx::Database>::Row) -> Result<Refund, StoreError> {
            use sqlx::Row as _;
            let kind: String = r.try_get("kind")?;
            let status: String = r.try_get("status")?;
            let currency_code: String = r.try_get("currency")?;
            Ok(Refund {
                id: RefundId::from_uuid(r.try_get("id")?),
                payment_id: PaymentId::from_uuid(r.try_get("payment_id")?),
                booking_id: BookingId::from_uuid(r.try_get("booking_id")?),
                kind: match RefundKind::parse(&kind) {
                    Some(kind) => kind,
                    None => return corrupt("refund kind", &kind)(),
                },
                amount: Money::new(r.try_get("amount_minor")?, currency(&currency_code)?),
                status: match RefundStatus::parse(&status) {
                    Some(status) => status,
                    None => return corrupt("refund status", &status)(),
                },
                idempotency_key: r.try_get("idempotency_key")?,
                provider_refund_id: r.try_get("provider_refund_id")?,
                created_at: r.try_get("created_at")?,
                processed_at: r.try_get("processed_at")?,
            })
        }

        fn payout_row(r: &<$db as sqlx::Database>::Row) -> Result<Payout, StoreError> {
            use sqlx::Row as _;
            let status: String = r.try_get("status")?;
            let currency_code: String = r.try_get("currency")?;
            Ok(Payout {
                id: PayoutId::from_uuid(r.try_get("id")?),
                tutor_id: TutorId::from_uuid(r.try_get("tutor_id")?),
                tutor_user_id: UserId::from_uuid(r.try_get("tutor_user_id")?),
                amount: Money::new(r.try_get("amount_minor")?, currency(&currency_code)?),
                status: match PayoutStatus::parse(&status) {
                    Some(status) => status,
                    None => return corrupt("payout status", &status)(),
                },
                period: Period { start: r.try_get("period_start")?, end: r.try_get("period_end")? },
                transfer_id: r.try_get("transfer_id")?,
                created_at: r.try_get("created_at")?,
                completed_at: r.try_get("completed_at")?,
            })
        }

        async fn locked(conn: &mut $conn, key: Key<'_>) -> Result<Option<Payment>, StoreError> {
            let column = match key {
                Key::Id(_) => "id",
                Key::Booking(_) => "booking_id",
                Key::Intent(_) => "intent_id",
            };
            let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE {column} = $1{}", $lock);
            let query = sqlx::query(sqlx::AssertSqlSafe(sql));
            let query = match key {
                Key::Id(id) => query.bind(id.as_uuid()),
                Key::Booking(id) => query.bind(id.as_uuid()),
                Key::Intent(id) => query.bind(id.to_owned()),
            };
            query.fetch_optional(&mut *conn).await?.as_ref().map(payment_row).transpose()
        }

        async fn update_payment(conn: &mut $conn, p: &Payment) -> Result<(), StoreError> {
            let (paid, granted) = match p.booking {
                BookingState::Cancelled { paid, refund_minor } => (Some(paid), Some(refund_minor)),
                _ => (None, None),
            };
            sqlx::query(
                "UPDATE payments SET refunded_minor = $2, status = $3, failure_reason = $4, payment_method = $5, \
                 booking_state = $6, cancel_paid = $7, cancel_refund_minor = $8, settled_at = $9, updated_at = $10 \
                 WHERE id = $1",
            )
            .bind(p.id.as_uuid())
            .bind(p.refunded_minor)
            .bind(p.status.as_str())
            .bind(&p.failure_reason)
            .bind(&p.payment_method)
            .bind(p.booking.as_str())
            .bind(paid)
            .bind(granted)
            .bind(p.settled_at)
            .bind(p.updated_at)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Refunds requested but not processed yet: how many, and how much.
        async fn pending_refunds(conn: &mut $conn, payment: PaymentId) -> Result<(usize, i64), StoreError> {
            let (count, sum): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(*), CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM refunds \
                 WHERE payment_id = $1 AND status = 'PENDING'",
            )
            .bind(payment.as_uuid())
            .fetch_one(&mut *conn)
            .await?;
            Ok((usize::try_from(count).unwrap_or(usize::MAX), sum))
        }

        async fn insert_refund(conn: &mut $conn, refund: &Refund) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO refunds (id, payment_id, booking_id, kind, amount_minor, currency, status, \
                 idempotency_key, provider_refund_id, created_at, processed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .bind(refund.id.as_uuid())
            .bind(refund.payment_id.as_uuid())
            .bind(refund.booking_id.as_uuid())
            .bind(refund.kind.as_str())
            .bind(refund.amount.amount_minor)
            .bind(refund.amount.currency.as_str())
            .bind(refund.status.as_str())
            .bind(&refund.idempotency_key)
            .bind(&refund.provider_refund_id)
            .bind(refund.created_at)
            .bind(refund.processed_at)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Appends a ledger entry once per `reference`; zero amounts are not written.
        async fn add_entry(
            conn: &mut $conn,
            p: &Payment,
            kind: EntryKind,
            amount_minor: i64,
            reference: String,
        ) -> Result<(), StoreError> {
            if amount_minor == 0 {
                return Ok(());
            }
            sqlx::query(
                "INSERT INTO ledger_entries (id, reference, booking_id, payment_id, tutor_id, tutor_user_id, kind, \
                 amount_minor, currency, payout_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10) ON CONFLICT (reference) DO NOTHING",
            )
            .bind(Uuid::now_v7())
            .bind(reference)
            .bind(p.booking_id.as_uuid())
            .bind(p.id.as_uuid())
            .bind(p.tutor_id.as_uuid())
            .bind(p.tutor_user_id.as_uuid())
            .bind(kind.as_str())
            .bind(amount_minor)
            .bind(p.amount.currency.as_str())
            .bind(now())
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Requests the refund a cancelled booking is owed now (once per booking).
        async fn refund_cancellation(conn: &mut $conn, p: &Payment) -> Result<(), StoreError> {
            let (_, pending) = pending_refunds(conn, p.id).await?;
            let due = p.cancellation_refund(pending);
            if due > 0 {
                insert_refund(conn, &Refund::new(p, RefundKind::Cancellation, due, now())).await?;
            }
            Ok(())
        }

        /// Splits the booking's retained money into the tutor's earning and the platform's fee,
        /// once, when it is due.
        async fn settle_if_due(conn: &mut $conn, p: &mut Payment, fee_bps: u32) -> Result<(), StoreError> {
            let (pending, _) = pending_refunds(conn, p.id).await?;
            if !p.settlement_due(pending) {
                return Ok(());
            }
            let split = p.settle(fee_bps, now());
            add_entry(conn, p, EntryKind::TutorEarning, split.earning, format!("earning:{}", p.id)).await?;
            add_entry(conn, p, EntryKind::PlatformFee, split.fee, format!("fee:{}", p.id)).await
        }

        /// `charge.refunded`: each refund of ours not processed yet is processed now.
        async fn refunds_succeeded(
            conn: &mut $conn,
            p: &mut Payment,
            notices: &[RefundNotice],
            out: &mut Vec<EventEnvelope>,
        ) -> Result<(), StoreError> {
            for notice in notices {
                let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds r WHERE r.id = $1{}", $lock);
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(notice.refund_id.as_uuid())
                    .fetch_optional(&mut *conn)
                    .await?;
                let Some(mut refund) = row.as_ref().map(refund_row).transpose()? else {
                    tracing::warn!(refund_id = %notice.refund_id, "the provider reports a refund payment does not know");
                    continue;
                };
                if refund.payment_id != p.id || refund.status == RefundStatus::Succeeded {
                    continue;
                }
                if refund.amount.amount_minor != notice.amount_minor {
                    tracing::warn!(refund_id = %refund.id, requested = refund.amount.amount_minor, reported = notice.amount_minor, "refund amount differs");
                }
                let at = now();
                p.refund_processed(refund.amount.amount_minor, at)?;
                refund.status = RefundStatus::Succeeded;
                refund.processed_at = Some(at);
                sqlx::query(
                    "UPDATE refunds SET status = 'SUCCEEDED', processed_at = $2, \
                     provider_refund_id = COALESCE(provider_refund_id, $3) WHERE id = $1",
                )
                .bind(refund.id.as_uuid())
                .bind(at)
                .bind(&notice.provider_refund_id)
                .execute(&mut *conn)
                .await?;
                let amount = refund.amount.amount_minor;
                add_entry(conn, p, EntryKind::Refund, amount, format!("refund:{}", refund.id)).await?;
                if p.settled_at.is_some() {
                    // Refunded after the split: it comes out of the tutor's earnings.
                    add_entry(conn, p, EntryKind::TutorEarning, -amount, format!("reversal:{}", refund.id)).await?;
                }
                out.push(events::refund_processed(p, &refund));
            }
            Ok(())
        }

        async fn transfer_paid(
            conn: &mut $conn,
            payout: PayoutId,
            transfer_id: &str,
            out: &mut Vec<EventEnvelope>,
        ) -> Result<(), StoreError> {
            let sql = format!("SELECT {PAYOUT_COLUMNS} FROM tutor_payouts WHERE id = $1{}", $lock);
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(payout.as_uuid()).fetch_optional(&mut *conn).await?;
            let Some(mut payout) = row.as_ref().map(payout_row).transpose()? else {
                tracing::warn!(payout_id = %payout, "the provider reports a transfer of an unknown payout");
                return Ok(());
            };
            if payout.complete(now()) {
                sqlx::query(
                    "UPDATE tutor_payouts SET status = $2, completed_at = $3, transfer_id = COALESCE(transfer_id, $4) \
                     WHERE id = $1",
                )
                .bind(payout.id.as_uuid())
                .bind(payout.status.as_str())
                .bind(payout.completed_at)
                .bind(transfer_id)
                .execute(&mut *conn)
                .await?;
                out.push(events::payout_completed(&payout));
            }
            Ok(())
        }

        impl $store {
            /// The effect of a provider event on its payment, inside the webhook's transaction.
            async fn apply_to_payment(
                &self,
                conn: &mut $conn,
                intent_id: &str,
                event: &ProviderEvent,
                out: &mut Vec<EventEnvelope>,
            ) -> Result<(), StoreError> {
                let Some(mut p) = locked(conn, Key::Intent(intent_id)).await? else {
                    tracing::warn!(%intent_id, "the provider reports on a payment intent payment does not know");
                    return Ok(());
                };
                match event {
                    ProviderEvent::IntentSucceeded { .. } => match p.charge_succeeded(now()) {
                        Ok(true) => {
                            out.push(events::succeeded(&p));
                            let amount = p.amount.amount_minor;
                            add_entry(conn, &p, EntryKind::Charge, amount, format!("charge:{}", p.id)).await?;
                            refund_cancellation(conn, &p).await?;
                        }
                        Ok(false) => return Ok(()),
                        Err(error) => {
                            tracing::error!(payment_id = %p.id, %error, "the provider reports a charge of a failed payment");
                            return Ok(());
                        }
                    },
                    ProviderEvent::IntentFailed { code, .. } => {
                        if !p.charge_failed(code, now()) {
                            return Ok(());
                        }
                        out.push(events::failed(&p, code, None));
                    }
                    ProviderEvent::ChargeRefunded { refunds, .. } => refunds_succeeded(conn, &mut p, refunds, out).await?,
                    ProviderEvent::TransferPaid { .. } | ProviderEvent::Ignored => return Ok(()),
                }
                settle_if_due(conn, &mut p, self.fee_bps).await?;
                update_payment(conn, &p).await
            }
        }

        #[async_trait]
        impl PaymentStore for $store {
            async fn open(&self, consumer: &str, event: &EventEnvelope, p: &Payment) -> Result<Applied, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                if !$inbox(&mut tx, consumer, event).await? {
                    return Ok(Applied::Duplicate);
                }
                let inserted = sqlx::query(
                    "INSERT INTO payments (id, booking_id, payer_id, tutor_id, tutor_user_id, amount_minor, currency, \
                     refunded_minor, status, failure_reason, intent_id, payment_method, booking_state, cancel_paid, \
                     cancel_refund_minor, settled_at, created_at, updated_at, correlation_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, NULL, $11, NULL, NULL, NULL, $12, $13, $14) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(p.id.as_uuid())
                .bind(p.booking_id.as_uuid())
                .bind(p.payer_id.as_uuid())
                .bind(p.tutor_id.as_uuid())
                .bind(p.tutor_user_id.as_uuid())
                .bind(p.amount.amount_minor)
                .bind(p.amount.currency.as_str())
                .bind(p.refunded_minor)
                .bind(p.status.as_str())
                .bind(&p.intent_id)
                .bind(p.booking.as_str())
                .bind(p.created_at)
                .bind(p.updated_at)
                .bind(p.correlation_id)
                .execute(&mut *tx)
                .await?;
                let applied = if inserted.rows_affected() == 1 {
                    $outbox(&mut tx, &[events::requested(p, Some(event))]).await?;
                    Applied::Done
                } else {
                    Applied::Duplicate
                };
                tx.commit().await?;
                Ok(applied)
            }

            async fn end_booking(
                &self,
                consumer: &str,
                event: &EventEnvelope,
                booking: BookingId,
                end: BookingState,
                granted: Option<Money>,
            ) -> Result<Applied, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                if !$inbox(&mut tx, consumer, event).await? {
                    return Ok(Applied::Duplicate);
                }
                let mut p = locked(&mut tx, Key::Booking(booking)).await?.ok_or(StoreError::NotFound("payment"))?;
                if let Some(granted) = granted.filter(|g| g.amount_minor != 0 && g.currency != p.amount.currency) {
                    return Err(DomainError::CurrencyMismatch(granted.currency, p.amount.currency).into());
                }
                let (ended, abandoned) = p.booking_ended(end, now());
                if ended {
                    let mut out = Vec::new();
                    if abandoned {
                        out.push(events::failed(&p, "cancelled", Some(event)));
                    }
                    refund_cancellation(&mut tx, &p).await?;
                    settle_if_due(&mut tx, &mut p, self.fee_bps).await?;
                    update_payment(&mut tx, &p).await?;
                    $outbox(&mut tx, &out).await?;
                } else {
                    tracing::info!(booking_id = %booking, event_type = %event.event_type, "the booking had ended before; ignored");
                }
                tx.commit().await?;
                Ok(Applied::Done)
            }

            async fn apply_provider_event(
                &self,
                event_id: &str,
                event_type: &str,
                event: &ProviderEvent,
            ) -> Result<bool, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                let logged = sqlx::query(
                    "INSERT INTO stripe_webhooks_log (event_id, event_type, received_at) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(event_id)
                .bind(event_type)
                .bind(now())
                .execute(&mut *tx)
                .await?;
                if logged.rows_affected() == 0 {
                    return Ok(false);
                }
                let mut out = Vec::new();
                match event {
                    ProviderEvent::IntentSucceeded { intent_id }
                    | ProviderEvent::IntentFailed { intent_id, .. }
                    | ProviderEvent::ChargeRefunded { intent_id, .. } => {
                        self.apply_to_payment(&mut tx, intent_id, event, &mut out).await?
                    }
                    ProviderEvent::TransferPaid { transfer_id, payout_id } => {
                        transfer_paid(&mut tx, *payout_id, transfer_id, &mut out).await?
                    }
                    ProviderEvent::Ignored => {}
                }
                $outbox(&mut tx, &out).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn record_attempt(&self, payment: PaymentId, method: &str) -> Result<Payment, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                let mut p = locked(&mut tx, Key::Id(payment)).await?.ok_or(StoreError::NotFound("payment"))?;
                if p.attempt_charge(method, now()) {
                    update_payment(&mut tx, &p).await?;
                }
                tx.commit().await?;
                Ok(p)
            }

            async fn request_refund(&self, payment: PaymentId, amount: Option<i64>) -> Result<Payment, StoreError> {
                let mut tx = $begin(&self.pool).await?;
                let p = locked(&mut tx, Key::Id(payment)).await?.ok_or(StoreError::NotFound("payment"))?;
                let (_, pending) = pending_refunds(&mut tx, p.id).await?;
                let amount = p.check_refund(amount, pending)?;
                insert_refund(&mut tx, &Refund::new(&p, RefundKind::Admin, amount, now())).await?;
                tx.commit().await?;
                Ok(p)
            }

            async fn refunds_to_send(&self, limit: i64) -> Result<Vec<RefundToSend>, StoreError> {
                let sql = format!(
                    "SELECT {REFUND_COLUMNS}, p.intent_id FROM refunds r JOIN payments p ON p.id = r.payment_id \
                     WHERE r.provider_refund_id IS NULL AND r.status = 'PENDING' ORDER BY r.id LIMIT $1"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|row| {
                        use sqlx::Row as _;
                        Ok(RefundToSend { refund: refund_row(row)?, intent_id: row.try_get("intent_id")? })
                    })
                    .collect()
            }

            async fn refund_sent(&self, refund: RefundId, provider_refund_id: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE refunds SET provider_refund_id = $2 WHERE id = $1 AND provider_refund_id IS NULL")
                    .bind(refund.as_uuid())
                    .bind(provider_refund_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn payouts_to_send(&self, limit: i64) -> Result<Vec<Payout>, StoreError> {
                let sql = format!(
                    "SELECT {PAYOUT_COLUMNS} FROM tutor_payouts WHERE status = 'PENDING' AND transfer_id IS NULL \
                     ORDER BY id LIMIT $1"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&self.pool).await?;
                rows.iter().map(payout_row).collect()
            }

            async fn payout_sent(&self, payout: PayoutId, transfer_id: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE tutor_payouts SET transfer_id = COALESCE(transfer_id, $2), \
                     status = CASE WHEN status = 'PENDING' THEN 'PROCESSING' ELSE status END WHERE id = $1",
                )
                .bind(payout.as_uuid())
                .bind(transfer_id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn create_payout(
                &self,
                user: UserId,
                period: Period,
                currency: Option<Currency>,
            ) -> Result<Payout, StoreError> {
                const UNPAID: &str = "tutor_user_id = $1 AND kind = 'TUTOR_EARNING' AND payout_id IS NULL \
                     AND created_at >= $2 AND created_at < $3";
                let mut tx = $begin(&self.pool).await?;
                let sql = format!("SELECT DISTINCT currency FROM ledger_entries WHERE {UNPAID}");
                let found: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(user.as_uuid())
                    .bind(period.start)
                    .bind(period.end)
                    .fetch_all(&mut *tx)
                    .await?;
                let code = match (currency, found.as_slice()) {
                    (Some(c), _) => c.as_str().to_owned(),
                    (None, []) => return Err(StoreError::NothingToPay),
                    (None, [only]) => only.clone(),
                    (None, several) => return Err(StoreError::SeveralCurrencies(several.join(", "))),
                };
                let id = PayoutId::new();
                // One statement takes exactly the entries it sums: a concurrent request cannot
                // take them too (PostgreSQL re-checks `payout_id IS NULL` after the row lock).
                let sql = format!(
                    "UPDATE ledger_entries SET payout_id = $4 WHERE {UNPAID} AND currency = $5 \
                     RETURNING tutor_id, amount_minor"
                );
                let taken: Vec<(Uuid, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(user.as_uuid())
                    .bind(period.start)
                    .bind(period.end)
                    .bind(id.as_uuid())
                    .bind(&code)
                    .fetch_all(&mut *tx)
                    .await?;
                let total: i64 = taken.iter().map(|(_, amount)| amount).sum();
                let Some((tutor, _)) = taken.first().filter(|_| total > 0) else {
                    return Err(StoreError::NothingToPay);
                };
                let at = now();
                let payout = Payout {
                    id,
                    tutor_id: TutorId::from_uuid(*tutor),
                    tutor_user_id: user,
                    amount: Money::new(total, self::currency(&code)?),
                    status: PayoutStatus::Pending,
                    period,
                    transfer_id: None,
                    created_at: at,
                    completed_at: None,
                };
                sqlx::query(
                    "INSERT INTO tutor_payouts (id, tutor_id, tutor_user_id, amount_minor, currency, status, \
                     period_start, period_end, transfer_id, created_at, completed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, NULL)",
                )
                .bind(payout.id.as_uuid())
                .bind(payout.tutor_id.as_uuid())
                .bind(payout.tutor_user_id.as_uuid())
                .bind(payout.amount.amount_minor)
                .bind(&code)
                .bind(payout.status.as_str())
                .bind(period.start)
                .bind(period.end)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                $outbox(&mut tx, &[events::payout_initiated(&payout)]).await?;
                tx.commit().await?;
                Ok(payout)
            }

            async fn payouts(
                &self,
                owner: PayoutOwner,
                after: Option<Uuid>,
                limit: i64,
            ) -> Result<Vec<Payout>, StoreError> {
                let (column, id) = match owner {
                    PayoutOwner::User(user) => ("tutor_user_id", user.as_uuid()),
                    PayoutOwner::Tutor(tutor) => ("tutor_id", tutor.as_uuid()),
                };
                let after_clause = if after.is_some() { " AND id < $3" } else { "" };
                let sql = format!(
                    "SELECT {PAYOUT_COLUMNS} FROM tutor_payouts WHERE {column} = $1{after_clause} ORDER BY id DESC LIMIT $2"
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(limit);
                if let Some(after) = after {
                    query = query.bind(after);
                }
                query.fetch_all(&self.pool).await?.iter().map(payout_row).collect()
            }

            async fn tutor_user(&self, tutor: TutorId) -> Result<Option<UserId>, StoreError> {
                let user: Option<Uuid> = sqlx::query_scalar("SELECT tutor_user_id FROM payments WHERE tutor_id = $1 LIMIT 1")
                    .bind(tutor.as_uuid())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(user.map(UserId::from_uuid))
            }

            async fn payments(&self, ids: &[PaymentId]) -> Result<Vec<Payment>, StoreError> {
                let ids: Vec<Uuid> = ids.iter().map(PaymentId::as_uuid).collect();
                self.by("id", &ids).await
            }

            async fn payments_of_bookings(&self, bookings: &[BookingId]) -> Result<Vec<Payment>, StoreError> {
                let ids: Vec<Uuid> = bookings.iter().map(BookingId::as_uuid).collect();
                self.by("booking_id", &ids).await
            }
        }
    };
}

mod postgres {
    use super::*;

    sql_store!(
        PostgresStore,
        sqlx::Postgres,
        sqlx::PgPool,
        sqlx::PgConnection,
        platform::db::begin_postgres,
        platform::inbox::record_postgres,
        platform::outbox::append_postgres,
        " FOR UPDATE"
    );
}

mod sqlite {
    use super::*;

    sql_store!(
        SqliteStore,
        sqlx::Sqlite,
        sqlx::SqlitePool,
        sqlx::SqliteConnection,
        platform::db::begin_sqlite,
        platform::inbox::record_sqlite,
        platform::outbox::append_sqlite,
        ""
    );
}

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
