//! Notification's published events (`NotificationSent`, `NotificationFailed`), and its consumers:
//! what each event of identity, tutoring, booking, payment, messaging and review means for whom.
//!
//! A consumer turns an event into a [`Plan`] (projection changes, notifications to send, unread
//! messages to watch); the service renders and stores it with the inbox record in one
//! transaction, so a redelivered event creates nothing twice.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kernel::EventEnvelope;
use kernel::events::booking::{BookedSlot, BookingCancelled, BookingCompleted, BookingConfirmed, BookingRequested};
use kernel::events::identity::{UserProfileUpdated, UserRegistered};
use kernel::events::messaging::{MessageDeleted, MessageEdited, MessageRead, MessageSent};
use kernel::events::notification::{NotificationFailed, NotificationSent};
use kernel::events::payment::{PaymentFailed, PaymentSucceeded, RefundProcessed};
use kernel::events::review::ReviewPosted;
use kernel::events::tutoring::{TutorProfileCreated, TutorVerified};
use platform::bus::{Binding, EventHandler, HandlerError, Subscription};
use uuid::Uuid;

use crate::domain::{Contact, Kind, Notification, UserId};
use crate::service::{ApplyError, NotificationService};
use crate::store::{ContactChange, MessageChange, MessageChangeKind, ReadMark};
use crate::templates::{Var, Vars};

pub fn sent(n: &Notification, cause: Option<&EventEnvelope>) -> EventEnvelope {
    EventEnvelope::wrap(
        &NotificationSent {
            notification_id: n.id.to_string(),
            recipient_id: n.recipient.to_string(),
            kind: n.kind.as_str().to_owned(),
            channel: n.channel.as_str().to_owned(),
            attempts: n.attempts,
            sent_at: n.sent_at.unwrap_or(n.created_at),
        },
        cause,
    )
}

pub fn failed(n: &Notification, at: DateTime<Utc>) -> EventEnvelope {
    EventEnvelope::wrap(
        &NotificationFailed {
            notification_id: n.id.to_string(),
            recipient_id: n.recipient.to_string(),
            kind: n.kind.as_str().to_owned(),
            channel: n.channel.as_str().to_owned(),
            attempts: n.attempts,
            reason: n.last_error.clone().unwrap_or_default(),
            failed_at: at,
        },
        None,
    )
}

/// A notification to send: to whom, of which type, with which values.
#[derive(Debug, Clone)]
pub struct Intent {
    pub recipient: UserId,
    pub kind: Kind,
    pub vars: Vars,
}

/// A message the recipient has not read yet (due after the configured delay).
#[derive(Debug, Clone)]
pub struct Unread {
    pub message_id: Uuid,
    pub recipient: UserId,
    pub conversation_id: Uuid,
    pub sender: UserId,
    pub preview: String,
    pub sent_at: DateTime<Utc>,
}

/// What one event means to notification.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub contact: Option<ContactChange>,
    pub tutor_user: Option<(Uuid, UserId)>,
    pub intents: Vec<Intent>,
    pub unread: Vec<Unread>,
    pub read: Option<ReadMark>,
    pub message_change: Option<MessageChange>,
}

/// The queues notification consumes, one per producing context.
pub fn subscriptions(service: Arc<NotificationService>) -> Vec<Subscription> {
    let handler: Arc<dyn EventHandler> = Arc::new(Consumer { service });
    let queue = |name: &str, events: &[&str]| Subscription {
        queue: format!("notification.{name}"),
        bindings: events.iter().map(|e| Binding::event(e)).collect(),
        handler: handler.clone(),
    };
    vec![
        queue("identity", &["identity.UserRegistered", "identity.UserProfileUpdated"]),
        queue("tutoring", &["tutoring.TutorProfileCreated", "tutoring.TutorVerified"]),
        queue(
            "booking",
            &[
                "booking.BookingRequested",
                "booking.BookingConfirmed",
                "booking.BookingCancelled",
                "booking.BookingCompleted",
            ],
        ),
        queue("payment", &["payment.PaymentSucceeded", "payment.PaymentFailed", "payment.RefundProcessed"]),
        queue(
            "messaging",
            &["messaging.MessageSent", "messaging.MessageRead", "messaging.MessageEdited", "messaging.MessageDeleted"],
        ),
        queue("review", &["review.ReviewPosted"]),
    ]
}

pub const CONSUMER: &str = "notification";

pub struct Consumer {
    service: Arc<NotificationService>,
}

fn permanent(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Permanent(e.to_string())
}

fn id<T: std::str::FromStr>(raw: &str) -> Result<T, HandlerError> {
    raw.parse().map_err(|_| permanent(format!("`{raw}` is not an id")))
}

fn text(value: &str) -> Var {
    Var::Text(value.to_owned())
}

fn intent(recipient: UserId, kind: Kind, vars: Vars) -> Intent {
    Intent { recipient, kind, vars }
}

/// What identity's events say about a user; `UserRegistered` carries no opt-ins or locale, so
/// identity's defaults apply until a profile update.
fn registered_contact(e: &UserRegistered) -> Result<Contact, HandlerError> {
    Ok(Contact {
        user_id: id(&e.user_id)?,
        email: e.email.clone(),
        first_name: e.first_name.clone(),
        last_name: e.last_name.clone(),
        locale: "en".into(),
        time_zone: "UTC".into(),
        notify_email: true,
        notify_push: true,
        notify_sms: false,
    })
}

fn updated_contact(e: &UserProfileUpdated) -> Result<Contact, HandlerError> {
    Ok(Contact {
        user_id: id(&e.user_id)?,
        email: e.email.clone(),
        first_name: e.first_name.clone(),
        last_name: e.last_name.clone(),
        locale: e.locale.clone(),
        time_zone: e.time_zone.clone(),
        notify_email: e.notify_email,
        notify_push: e.notify_push,
        notify_sms: e.notify_sms,
    })
}

/// The session's values every booking template reads.
fn session(slot: &BookedSlot, student: UserId, tutor: Option<UserId>) -> Vars {
    let minutes = (slot.ends_at - slot.starts_at).num_minutes();
    let mut vars = vec![
        ("student", Var::User { id: student, fallback: "your student" }),
        ("starts_at", Var::Time(slot.starts_at)),
        ("minutes", Var::Int(minutes)),
    ];
    vars.push(match tutor {
        Some(tutor) => ("tutor", Var::User { id: tutor, fallback: "your tutor" }),
        None => ("tutor", text("your tutor")),
    });
    vars
}

/// The same notification for the booking's student and (when known) its tutor; `audience` tells
/// the template whom it speaks to.
fn both_parties(kind: Kind, student: UserId, tutor: Option<UserId>, vars: &Vars) -> Vec<Intent> {
    let for_party = |user, audience: &str| {
        let mut vars = vars.clone();
        vars.push(("audience", text(audience)));
        intent(user, kind, vars)
    };
    let mut out = vec![for_party(student, "student")];
    out.extend(tutor.map(|t| for_party(t, "tutor")));
    out
}

impl Consumer {
    /// The tutor's user: booking's later events and review's name only the tutor profile, so
    /// notification remembers it from `BookingRequested` and tutoring's events.
    async fn tutor_user(&self, event: &EventEnvelope, tutor: Uuid) -> Result<Option<UserId>, HandlerError> {
        let user = self.service.store().tutor_user(tutor).await.map_err(|e| HandlerError::Transient(e.to_string()))?;
        if user.is_none() {
            tracing::warn!(event = %event.event_type, %tutor, "the tutor's user is unknown: only the student is notified");
        }
        Ok(user)
    }

    async fn plan(&self, event: &EventEnvelope) -> Result<Plan, HandlerError> {
        Ok(match event.event_type.as_str() {
            "identity.UserRegistered" => {
                let e: UserRegistered = event.decode().map_err(permanent)?;
                let contact = registered_contact(&e)?;
                let welcome = intent(contact.user_id, Kind::Welcome, vec![("role", text(e.role.as_str()))]);
                let contact = ContactChange::Registered(contact, event.occurred_at);
                Plan { contact: Some(contact), intents: vec![welcome], ..Plan::default() }
            }
            "identity.UserProfileUpdated" => {
                let e: UserProfileUpdated = event.decode().map_err(permanent)?;
                let contact = ContactChange::Updated(updated_contact(&e)?, event.occurred_at);
                Plan { contact: Some(contact), ..Plan::default() }
            }
            "tutoring.TutorProfileCreated" => {
                let e: TutorProfileCreated = event.decode().map_err(permanent)?;
                Plan { tutor_user: Some((id(&e.tutor_id)?, id(&e.user_id)?)), ..Plan::default() }
            }
            "tutoring.TutorVerified" => {
                let e: TutorVerified = event.decode().map_err(permanent)?;
                let user: UserId = id(&e.user_id)?;
                Plan {
                    tutor_user: Some((id(&e.tutor_id)?, user)),
                    intents: vec![intent(user, Kind::TutorVerified, Vec::new())],
                    ..Plan::default()
                }
            }
            "booking.BookingRequested" => {
                let e: BookingRequested = event.decode().map_err(permanent)?;
                let (student, tutor): (UserId, UserId) = (id(&e.slot.student_id)?, id(&e.tutor_user_id)?);
                let mut vars = session(&e.slot, student, Some(tutor));
                vars.extend([
                    ("subject", text(&e.subject)),
                    ("price", Var::Money(e.price)),
                    ("payment_due_at", Var::Time(e.payment_due_at)),
                ]);
                Plan {
                    tutor_user: Some((id(&e.slot.tutor_id)?, tutor)),
                    intents: both_parties(Kind::BookingRequested, student, Some(tutor), &vars),
                    ..Plan::default()
                }
            }
            "booking.BookingConfirmed" => {
                let e: BookingConfirmed = event.decode().map_err(permanent)?;
                let student = id(&e.slot.student_id)?;
                let tutor = self.tutor_user(event, id(&e.slot.tutor_id)?).await?;
                let mut vars = session(&e.slot, student, tutor);
                vars.push(("meeting_url", text(&e.meeting_url)));
                Plan { intents: both_parties(Kind::BookingConfirmed, student, tutor, &vars), ..Plan::default() }
            }
            "booking.BookingCancelled" => {
                let e: BookingCancelled = event.decode().map_err(permanent)?;
                let student = id(&e.slot.student_id)?;
                let tutor = self.tutor_user(event, id(&e.slot.tutor_id)?).await?;
                let by = match e.cancelled_by {
                    kernel::events::booking::CancelledBy::Student => "student",
                    kernel::events::booking::CancelledBy::Tutor => "tutor",
                    kernel::events::booking::CancelledBy::System => "system",
                };
                let mut vars = session(&e.slot, student, tutor);
                vars.extend([("cancelled_by", text(by)), ("reason", text(&e.reason))]);
                if e.refund.amount_minor > 0 {
                    vars.push(("refund", Var::Money(e.refund)));
                }
                Plan { intents: both_parties(Kind::BookingCancelled, student, tutor, &vars), ..Plan::default() }
            }
            "booking.BookingCompleted" => {
                let e: BookingCompleted = event.decode().map_err(permanent)?;
                let student = id(&e.slot.student_id)?;
                let tutor = self.tutor_user(event, id(&e.slot.tutor_id)?).await?;
                let vars = session(&e.slot, student, tutor);
                Plan { intents: both_parties(Kind::BookingCompleted, student, tutor, &vars), ..Plan::default() }
            }
            "payment.PaymentSucceeded" => {
                let e: PaymentSucceeded = event.decode().map_err(permanent)?;
                let vars = vec![("amount", Var::Money(e.amount))];
                Plan { intents: vec![intent(id(&e.payer_id)?, Kind::PaymentReceived, vars)], ..Plan::default() }
            }
            "payment.PaymentFailed" => {
                let e: PaymentFailed = event.decode().map_err(permanent)?;
                let vars = vec![("reason", text(&e.reason.replace('_', " ")))];
                Plan { intents: vec![intent(id(&e.payer_id)?, Kind::PaymentFailed, vars)], ..Plan::default() }
            }
            "payment.RefundProcessed" => {
                let e: RefundProcessed = event.decode().map_err(permanent)?;
                let vars = vec![("amount", Var::Money(e.amount)), ("total", Var::Money(e.total_refunded))];
                Plan { intents: vec![intent(id(&e.payer_id)?, Kind::RefundIssued, vars)], ..Plan::default() }
            }
            "messaging.MessageSent" => {
                let e: MessageSent = event.decode().map_err(permanent)?;
                let sender: UserId = id(&e.sender_id)?;
                let mut unread = Vec::with_capacity(e.recipient_ids.len());
                for recipient in &e.recipient_ids {
                    let recipient: UserId = id(recipient)?;
                    if recipient != sender {
                        unread.push(Unread {
                            message_id: id(&e.message_id)?,
                            recipient,
                            conversation_id: id(&e.conversation_id)?,
                            sender,
                            preview: e.preview.clone(),
                            sent_at: e.sent_at,
                        });
                    }
                }
                Plan { unread, ..Plan::default() }
            }
            "messaging.MessageRead" => {
                let e: MessageRead = event.decode().map_err(permanent)?;
                let read = ReadMark {
                    conversation_id: id(&e.conversation_id)?,
                    reader: id(&e.reader_id)?,
                    message_id: id(&e.message_id)?,
                };
                Plan { read: Some(read), ..Plan::default() }
            }
            "messaging.MessageEdited" => {
                let e: MessageEdited = event.decode().map_err(permanent)?;
                let change =
                    MessageChange { message_id: id(&e.message_id)?, kind: MessageChangeKind::Edited, at: e.edited_at };
                Plan { message_change: Some(change), ..Plan::default() }
            }
            "messaging.MessageDeleted" => {
                let e: MessageDeleted = event.decode().map_err(permanent)?;
                let change = MessageChange {
                    message_id: id(&e.message_id)?,
                    kind: MessageChangeKind::Deleted,
                    at: e.deleted_at,
                };
                Plan { message_change: Some(change), ..Plan::default() }
            }
            "review.ReviewPosted" => {
                let e: ReviewPosted = event.decode().map_err(permanent)?;
                let vars = vec![
                    ("student", Var::User { id: id(&e.state.student_id)?, fallback: "A student" }),
                    ("rating", Var::Int(i64::from(e.state.rating))),
                ];
                let tutor = self.tutor_user(event, id(&e.state.tutor_id)?).await?;
                Plan {
                    intents: tutor.map(|t| intent(t, Kind::ReviewPosted, vars)).into_iter().collect(),
                    ..Plan::default()
                }
            }
            _ => Plan::default(),
        })
    }
}

#[async_trait]
impl EventHandler for Consumer {
    async fn handle(&self, event: &EventEnvelope) -> Result<(), HandlerError> {
        let plan = self.plan(event).await?;
        self.service.apply(CONSUMER, event, plan).await.map(drop).map_err(|e| match e {
            ApplyError::Template(_) | ApplyError::Store(crate::store::StoreError::Corrupt(_)) => permanent(e),
            ApplyError::Store(_) => HandlerError::Transient(e.to_string()),
        })
    }
}
